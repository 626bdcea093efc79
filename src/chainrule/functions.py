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


def _as_indices(y: np.ndarray, t) -> np.ndarray:
    """Class-index labels for predictions ``y`` (N, C) from one-hot or index labels ``t``."""
    t = np.asarray(t)
    if t.shape == y.shape:
        return t.argmax(axis=-1)
    if t.shape != y.shape[:-1]:
        raise ValueError(
            f"labels: expected shape {y.shape} (one-hot) or {y.shape[:-1]} (class indices), "
            f"got {t.shape}"
        )
    if not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"labels: class indices must be integers, got dtype {t.dtype}")
    if t.size and (t.min() < 0 or t.max() >= y.shape[-1]):
        raise ValueError(
            f"labels: class indices must lie in 0..{y.shape[-1] - 1}, got {t.min()}..{t.max()}"
        )
    return t


def cross_entropy_error(y, t) -> float:
    """Mean over the batch of ``-sum(t * log y)``; one-hot or index labels; 1-D is one sample.

    ``log`` is taken of ``y + 1e-7`` as in the book, so ``y == 0`` never gives ``-inf``.
    """
    return cross_entropy_from_log(np.log(_float(y) + 1e-7), t)


def cross_entropy_from_log(log_y, t, *, checked: bool = False) -> float:
    """:func:`cross_entropy_error` given ``log y`` (e.g. from :func:`log_softmax`): no ``1e-7``.

    ``checked=True`` skips validating index labels the caller has already validated.
    """
    t = np.asarray(t)
    n = log_y.size // log_y.shape[-1]
    if t.shape == log_y.shape:
        return float(-np.sum(t * log_y) / n)
    idx = (t if checked else _as_indices(log_y, t)).reshape(-1)
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
