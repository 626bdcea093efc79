"""Pure, batched, numerically safe functions: they never modify their arguments."""

from __future__ import annotations

import numpy as np


def _float(x) -> np.ndarray:
    """``x`` as a floating array, keeping float32/float64 and promoting ints to float64."""
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def identity_function(x):
    return x


def step_function(x) -> np.ndarray:
    return (np.asarray(x) > 0).astype(np.int64)


def sigmoid(x) -> np.ndarray:
    """``1 / (1 + exp(-x))``, evaluated so that neither branch can overflow."""
    x = _float(x)
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def sigmoid_grad(x) -> np.ndarray:
    """``d sigmoid / dx = y * (1 - y)``."""
    y = sigmoid(x)
    return y * (1 - y)


def relu(x) -> np.ndarray:
    return np.maximum(x, 0)


def relu_grad(x) -> np.ndarray:
    """1 where ``x >= 0``, else 0: the book's choice of 1 for the derivative at 0."""
    return (np.asarray(x) >= 0).astype(_float(x).dtype)


def softmax(x) -> np.ndarray:
    """Softmax over the last axis for any leading shape; ``exp(x - max)`` never overflows."""
    x = _float(x)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


def log_softmax(x) -> np.ndarray:
    """``log(softmax(x))`` over the last axis, exact and finite for any finite ``x``."""
    x = _float(x)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


ONE_HOT_ATOL = 1e-3
"""How far a one-hot (or soft) label row's sum may be from 1 (float16 soft labels of ten
classes are off by 2.4e-4)."""


def check_labels(y: np.ndarray, t, who: str = "") -> np.ndarray:
    """``t`` checked against predictions ``y`` of shape ``(..., C)``, or a ``ValueError``
    that starts with ``who`` (the function or layer asking).

    ``t`` is either probability rows of ``y``'s shape (one-hot, or soft labels: finite,
    ``>= 0``, each row summing to 1 within :data:`ONE_HOT_ATOL`), returned as given, or
    class indices of shape ``y.shape[:-1]`` (integers in ``0 .. C-1``; a column
    ``y.shape[:-1] + (1,)`` of them too, as the book's chapter-7 gradient check passes),
    returned as an integer array of shape ``y.shape[:-1]``. No broadcasting: ``t`` has
    one label per sample. An empty batch (no samples, or no classes) is refused: there
    is nothing to average over.
    """
    t = np.asarray(t)
    what = f"{who}: labels" if who else "labels"
    if y.ndim == 0 or y.size == 0:
        raise ValueError(f"{who or 'labels'}: empty batch: the predictions have shape {y.shape} "
                         "(no samples or no classes), there is nothing to average over")
    if t.dtype.kind not in "biuf":
        raise ValueError(f"{what} must be numbers, got dtype {t.dtype}")
    if t.shape == y.shape:
        sums = np.add.reduce(t, axis=-1)  # NaN anywhere fails every comparison below
        if not (t.min() >= 0 and sums.min() >= 1 - ONE_HOT_ATOL
                and sums.max() <= 1 + ONE_HOT_ATOL):
            raise ValueError(f"{what}: one-hot rows must be probability distributions (finite, "
                             f">= 0, each summing to 1); {_bad_row(t)}")
        return t
    if t.shape == (*y.shape[:-1], 1) and np.issubdtype(t.dtype, np.integer):
        t = t.reshape(y.shape[:-1])  # a column of indices, one per sample (the book's ch07)
    if t.shape != y.shape[:-1]:
        raise ValueError(
            f"{what}: expected shape {y.shape} (one-hot) or {y.shape[:-1]} (class indices), "
            f"got {t.shape}"
        )
    if not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"{what}: class indices must be integers, got dtype {t.dtype}")
    if t.min() < 0 or t.max() >= y.shape[-1]:
        raise ValueError(
            f"{what}: class indices must lie in 0..{y.shape[-1] - 1}, got {t.min()}..{t.max()}"
        )
    return t


def _bad_row(t: np.ndarray) -> str:
    """The first label row that is not a probability distribution, in words."""
    rows = t.reshape(-1, t.shape[-1]) if t.ndim else t.reshape(1, 1)
    with np.errstate(invalid="ignore"):
        bad = ~(np.all(rows >= 0, axis=-1) & (np.abs(rows.sum(axis=-1) - 1) <= ONE_HOT_ATOL))
    i = int(np.argmax(bad))
    return (f"row {i} is {np.array2string(rows[i], precision=4, threshold=12)} "
            f"(sum {rows[i].sum():.6g})")


def cross_entropy_error(y, t) -> float:
    """Mean over the batch of ``-sum(t * log y)``; one-hot or index labels; 1-D is one sample.

    ``log`` is taken of ``y + 1e-7`` as in the book, so ``y == 0`` never gives ``-inf``.
    """
    y = _float(y)
    t = check_labels(y, t, "cross_entropy_error")
    return cross_entropy_from_log(np.log(y + 1e-7), t, checked=True)


def cross_entropy_from_log(log_y, t, *, checked: bool = False) -> float:
    """:func:`cross_entropy_error` given ``log y`` (e.g. from :func:`log_softmax`): no ``1e-7``.

    ``checked=True`` skips validating labels the caller has already validated
    (with :func:`check_labels`).
    """
    t = np.asarray(t) if checked else check_labels(log_y, t, "cross_entropy_error")
    n = log_y.size // log_y.shape[-1]
    if t.shape == log_y.shape:
        return float(-np.sum(t * log_y) / n)
    idx = t.reshape(-1)
    return float(-np.sum(log_y.reshape(n, -1)[np.arange(n), idx]) / n)


def mean_squared_error(y, t) -> float:
    """``0.5 * sum((y - t) ** 2)``, as in the book."""
    return float(0.5 * np.sum((_float(y) - np.asarray(t)) ** 2))


def sum_squared_error(y, t) -> float:
    """``0.5 * sum((y - t) ** 2)``: the name of :func:`mean_squared_error` in the book's
    ``common/functions.py``."""
    return mean_squared_error(y, t)


def softmax_loss(X, t) -> float:
    """``cross_entropy_error(softmax(X), t)``, as the book's (its ``1e-7`` included)."""
    return cross_entropy_error(softmax(X), t)
