"""The array layers of chapter 5: forward and its local gradient side by side.

No layer modifies an array it was given, every ``backward`` honours ``dout``, and
a float32 input gives float32 outputs and gradients.
"""

from __future__ import annotations

import math

import numpy as np

from chainrule.core.base import Layer
from chainrule.core.floats import zero_where
from chainrule.core.functions import check_labels, cross_entropy_from_log, log_softmax, sigmoid
from chainrule.core.parallel import together
from chainrule.core.rng import Random, make_rng


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
        self.mask = np.asarray(x) <= 0  # an array even for one number
        return np.maximum(x, 0)

    def backward(self, dout):
        _check_shape(self, "backward", self.mask.shape, np.shape(dout))
        return zero_where(self.mask, dout)


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


SPLIT_PRODUCTS = 1 << 22
"""Multiply-adds of ``dW``'s product from which :meth:`Affine.backward` makes ``dW`` and
``dx`` on two threads at once, when :mod:`chainrule.core.parallel` allows two (a trainer's
steps). SimpleConvNet's ``Affine1`` (100 x 4320 x 100): 1.44 ms on one thread, 0.84 ms
on two; chapter 5's products are far smaller, and a hand-over would only cost."""


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
        self.original_x_shape = x.shape
        if x.ndim != 2 or x.shape[1] != self.W.shape[0]:
            x = self._as_matrix(x)
        self.x = x
        out = x @ self.W
        out += self.b
        return out[0] if len(self.original_x_shape) == 1 else out

    def _as_matrix(self, x: np.ndarray) -> np.ndarray:
        """``x`` as ``(N, in)`` rows, or a ValueError naming the expected shape."""
        n_in = self.W.shape[0]
        if x.ndim == 1:
            _check_shape(self, "forward", (n_in,), x.shape)
        elif x.ndim == 0 or math.prod(x.shape[1:]) != n_in:
            _check_shape(self, "forward", ("N", n_in), x.shape)
        return x.reshape(-1, n_in)

    def backward(self, dout, *, input_grad: bool = True):
        """Sets ``dW`` and ``db``; returns ``dx``, or None with ``input_grad=False``
        (a network's first layer: nothing uses its ``dx``, a third of the work)."""
        dout = np.asarray(dout)
        expected = (self.W.shape[1],) if len(self.original_x_shape) == 1 else (
            self.x.shape[0], self.W.shape[1])
        _check_shape(self, "backward", expected, dout.shape)
        dout = dout.reshape(self.x.shape[0], -1)
        self.db = dout.sum(axis=0)
        if not input_grad:
            self.dW = self.x.T @ dout
            return None
        if self.x.size * dout.shape[1] < SPLIT_PRODUCTS:
            self.dW, dx = self.x.T @ dout, dout @ self.W.T
        else:  # each product made whole by one thread: the same bits
            self.dW, dx = together(lambda: self.x.T @ dout, lambda: dout @ self.W.T)
        return dx.reshape(self.original_x_shape)


class SoftmaxWithLoss(Layer):
    """``loss = cross_entropy_error(softmax(x), t)``;  ``dx = dout * (y - t) / N``.

    The loss is computed from ``log_softmax(x)``, so it is exact (the book adds 1e-7
    inside the log, which biases the gradient check by about 1e-6) and never infinite.

    ``t`` holds one-hot (or any probability) rows of ``x``'s shape, or class indices
    of shape ``x.shape[:-1]``; anything else (a negative or NaN label, a row not summing
    to 1, a label count that is not N, an empty batch) is a ``ValueError``, unless
    ``labels_checked`` is set by a caller that checked all its labels beforehand (the
    training loop checks the whole training set once). A 1-D ``x`` is a single sample.
    """

    label = "Softmax-with-Loss"

    def __init__(self):
        self.loss = None
        self.y = None
        self.t = None
        self.labels_checked = False  # True: the caller has checked every t it passes

    def forward(self, x, t):
        x = np.asarray(x)
        # one-hot rows must be distributions, indices in range; never an empty batch
        t = np.asarray(t) if self.labels_checked else check_labels(x, t,
                                                                   "SoftmaxWithLoss.forward")
        log_y = log_softmax(x)
        self.y = np.exp(log_y)
        self.t = t
        self.loss = cross_entropy_from_log(log_y, t, checked=True)
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


# ---------------------------------------------------------------- chapter 6


class Tanh(Layer):
    """``out = tanh(x)``;  ``dx = dout * (1 - out**2)``."""

    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout):
        _check_shape(self, "backward", self.out.shape, np.shape(dout))
        return dout * (1 - self.out * self.out)


class Dropout(Layer):
    """Dropout as the book's: ``out = x * mask`` in training, ``out = x * (1 - ratio)`` in eval.

    ``mask = rand(x.shape) > dropout_ratio`` keeps each element with probability
    ``1 - dropout_ratio``; it is drawn from ``rng`` (a ``numpy.random.Generator``), or
    one made from ``seed``, or, with neither, NumPy's global state (``np.random.rand``,
    as in the book), in float64, so float32 and float64 runs drop the same units.
    Backward scales as the last forward did: ``dx = dout * mask`` after a training
    forward, ``dx = dout * (1 - ratio)`` after an eval forward.

    ``inverted=True`` scales in training instead: ``out = x * mask / (1 - ratio)`` in
    training and ``out = x`` in eval (the same expected activation in both modes, and
    eval costs nothing); chainrule's ``MultiLayerNet(dropout_ratio=...)`` and
    ``chainrule train --dropout`` use it.

    With ``fix_mask = True``, forward reuses the last mask instead of drawing a new
    one (it draws one first if there is none): every training forward is then the
    same function of ``x``, which a gradient check needs.
    """

    def __init__(self, dropout_ratio: float = 0.5, *, inverted: bool = False,
                 rng: Random | None = None, seed=None):
        if not 0 <= dropout_ratio < 1:
            raise ValueError(f"Dropout: dropout_ratio must be in [0, 1), got {dropout_ratio}")
        if rng is not None and seed is not None:
            raise ValueError("Dropout: give either seed or rng, not both")
        self.dropout_ratio = dropout_ratio
        self.inverted = bool(inverted)
        self.rng = make_rng(seed, rng)
        self.fix_mask = False
        self.mask = None  # True where the unit is kept, as in the book
        self._scale = None  # what the last forward multiplied by (None: nothing)

    def forward(self, x, train_flg: bool = True):
        x = np.asarray(x)
        if not train_flg:
            self._scale = None if self.inverted else 1.0 - self.dropout_ratio
            return x if self._scale is None else x * self._scale
        if not (self.fix_mask and self.mask is not None):
            self.mask = self.rng.random(x.shape) > self.dropout_ratio
        else:
            _check_shape(self, "forward (fixed mask)", self.mask.shape, x.shape)
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)
        self._scale = self.mask.astype(dtype)
        if self.inverted:
            self._scale *= dtype.type(1 / (1 - self.dropout_ratio))
        return x * self._scale

    def backward(self, dout):
        if self._scale is None:
            return dout
        if np.ndim(self._scale):
            _check_shape(self, "backward", self._scale.shape, np.shape(dout))
        return dout * self._scale


class BatchNormalization(Layer):
    """Batch normalization over the batch axis, with learned ``gamma`` and ``beta``.

    Training: ``mu = mean(x)``, ``var = mean((x - mu)**2)``, ``xn = (x - mu) / std``
    with ``std = sqrt(var + eps)``, ``out = gamma * xn + beta``; the running statistics
    move towards the batch's: ``running = momentum * running + (1 - momentum) * batch``.
    Eval: the same with ``running_mean`` and ``running_var`` in place of ``mu`` and ``var``.

    Backward: ``dbeta = sum(dout)``, ``dgamma = sum(dout * xn)`` and, in training,
    ``dx = (dxn - mean(dxn) - xn * mean(dxn * xn)) / std`` with ``dxn = gamma * dout``
    (the book's chain of nodes, summed up); after an eval forward ``dx = dxn / std``.

    ``x`` is ``(N, D)`` or ``(N, ...)`` flattened to ``(N, D)`` as in the book. ``gamma``,
    ``beta``, ``running_mean`` and ``running_var`` are used by reference and the running
    statistics are updated in place; these start at zeros and ones when not given.
    """

    label = "BatchNorm"

    def __init__(self, gamma, beta, momentum: float = 0.9, running_mean=None,
                 running_var=None, *, eps: float = 1e-6):
        if np.ndim(gamma) != 1 or np.shape(beta) != np.shape(gamma):
            raise ValueError(f"BatchNormalization: expected gamma and beta of shape (D,), "
                             f"got {np.shape(gamma)} and {np.shape(beta)}")
        if not 0 <= momentum < 1:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1), got {momentum}")
        self.gamma, self.beta = gamma, beta
        self.momentum, self.eps = momentum, eps
        self.running_mean, self.running_var = running_mean, running_var
        self.input_shape = None
        self.xn = None
        self.std = None
        self.train_flg = None
        self.dgamma = None
        self.dbeta = None

    def forward(self, x, train_flg: bool = True):
        x = np.asarray(x)
        d = self.gamma.shape[0]
        if x.ndim < 2 or int(np.prod(x.shape[1:])) != d:
            _check_shape(self, "forward", ("N", d), x.shape)
        if train_flg and x.shape[0] == 0:  # batch statistics of nothing
            raise ValueError(f"BatchNormalization.forward: empty batch: x has shape {x.shape}")
        self.input_shape = x.shape
        x = x.reshape(x.shape[0], d)
        if self.running_mean is None:
            dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
            self.running_mean = np.zeros(d, dtype=dtype)
            self.running_var = np.ones(d, dtype=dtype)
        self.train_flg = bool(train_flg)
        if train_flg:
            mu = x.mean(axis=0)
            xc = x - mu
            var = (xc * xc).mean(axis=0)
            m = self.momentum
            self.running_mean *= m
            self.running_mean += (1 - m) * mu
            self.running_var *= m
            self.running_var += (1 - m) * var
        else:
            xc = x - self.running_mean
            var = self.running_var
        self.std = np.sqrt(var + self.eps)
        self.xn = xc / self.std
        out = self.gamma * self.xn + self.beta
        return out.reshape(self.input_shape)

    def backward(self, dout):
        _check_shape(self, "backward", self.input_shape, np.shape(dout))
        dout = np.asarray(dout).reshape(self.xn.shape)
        self.dbeta = dout.sum(axis=0)
        self.dgamma = (dout * self.xn).sum(axis=0)
        dxn = self.gamma * dout
        if self.train_flg:
            dxn = dxn - dxn.mean(axis=0) - self.xn * (dxn * self.xn).mean(axis=0)
        return (dxn / self.std).reshape(self.input_shape)
