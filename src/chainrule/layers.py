"""The array layers of chapter 5: forward and its local gradient side by side.

No layer modifies an array it was given, every ``backward`` honours ``dout``, and
a float32 input gives float32 outputs and gradients.
"""

from __future__ import annotations

import numpy as np

from chainrule.base import Layer
from chainrule.functions import _as_indices, cross_entropy_from_log, log_softmax, sigmoid


def _check_shape(layer: Layer, what: str, expected: tuple, given: tuple) -> None:
    if tuple(expected) != tuple(given):
        raise ValueError(
            f"{type(layer).__name__}.{what}: expected shape {tuple(expected)}, got {tuple(given)}"
        )


class Relu(Layer):
    """``out = max(x, 0)``;  ``dx = dout`` where ``x > 0``, else 0."""

    label = "ReLU"

    def __init__(self):
        self.mask = None  # True where x <= 0, as in the book

    def forward(self, x):
        self.mask = x <= 0
        return np.maximum(x, 0)

    def backward(self, dout):
        _check_shape(self, "backward", self.mask.shape, np.shape(dout))
        return np.where(self.mask, 0, dout)


class Sigmoid(Layer):
    """``out = 1 / (1 + exp(-x))``;  ``dx = dout * out * (1 - out)``."""

    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout):
        _check_shape(self, "backward", self.out.shape, np.shape(dout))
        return dout * (1 - self.out) * self.out


class Affine(Layer):
    """``out = x @ W + b``;  ``dx = dout @ W.T``, ``dW = x.T @ dout``, ``db = sum(dout)``.

    ``x`` may have any shape ``(N, ...)`` whose trailing sizes multiply to ``W.shape[0]``
    (e.g. images ``(N, 1, 28, 28)``); it is flattened, and ``dx`` comes back in its
    shape. A 1-D ``x`` is a single sample. ``W`` and ``b`` are used by reference, so an
    in-place update (``W -= lr * dW``) reaches the layer.
    """

    def __init__(self, W, b):
        if np.ndim(W) != 2 or np.shape(b) != (np.shape(W)[1],):
            raise ValueError(
                f"Affine: expected W of shape (in, out) and b of shape (out,), "
                f"got W {np.shape(W)} and b {np.shape(b)}"
            )
        self.W = W
        self.b = b
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x):
        x = np.asarray(x)
        n_in = self.W.shape[0]
        if x.ndim == 1:
            _check_shape(self, "forward", (n_in,), x.shape)
        elif x.ndim == 0 or int(np.prod(x.shape[1:])) != n_in:
            _check_shape(self, "forward", ("N", n_in), x.shape)
        self.original_x_shape = x.shape
        self.x = x.reshape(-1, n_in) if x.ndim != 2 else x
        out = self.x @ self.W + self.b
        return out[0] if x.ndim == 1 else out

    def backward(self, dout, *, input_grad: bool = True):
        """Sets ``dW`` and ``db``; returns ``dx``, or None with ``input_grad=False``
        (a network's first layer: nothing uses its ``dx``, a third of the work)."""
        dout = np.asarray(dout)
        expected = (self.W.shape[1],) if len(self.original_x_shape) == 1 else (
            self.x.shape[0], self.W.shape[1])
        _check_shape(self, "backward", expected, dout.shape)
        dout = dout.reshape(self.x.shape[0], -1)
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        if not input_grad:
            return None
        return (dout @ self.W.T).reshape(self.original_x_shape)


class SoftmaxWithLoss(Layer):
    """``loss = cross_entropy_error(softmax(x), t)``;  ``dx = dout * (y - t) / N``.

    The loss is computed from ``log_softmax(x)``, so it is exact (the book adds 1e-7
    inside the log, which biases the gradient check by about 1e-6) and never infinite.

    ``t`` holds one-hot (or any probability) rows of ``x``'s shape, or class indices
    of shape ``x.shape[:-1]``. A 1-D ``x`` is a single sample (N = 1).
    """

    label = "Softmax-with-Loss"

    def __init__(self):
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, x, t):
        log_y = log_softmax(x)
        self.y = np.exp(log_y)
        t = np.asarray(t)
        if t.shape != self.y.shape:
            t = _as_indices(self.y, t)  # validates shape, dtype and range
        self.t = t
        self.loss = cross_entropy_from_log(log_y, t)
        return self.loss

    def backward(self, dout=1):
        y, t = self.y, self.t
        n = y.size // y.shape[-1]
        if t.shape == y.shape:
            dx = y - t.astype(y.dtype, copy=False)
        else:
            dx = y.reshape(n, -1).copy()
            dx[np.arange(n), t.reshape(-1)] -= 1
            dx = dx.reshape(y.shape)
        dx *= np.asarray(dout, dtype=y.dtype) / n
        return dx
