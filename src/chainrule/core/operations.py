"""The one-operation layers of the chapter's computational graphs (×, +, exp, /, ...);
they work on scalars and on arrays. (A *node* is one recorded call of such a layer:
:class:`chainrule.graph.parts.Node`.)

``MulLayer`` and ``AddLayer`` are the book's; ``ExpLayer`` and ``ReciprocalLayer`` are
the two remaining primitives of its sigmoid derivation, which reads
``x -> ×(-1) -> exp -> +1 -> / -> y`` with ``MulLayer`` and ``AddLayer`` for the
constant steps. The others are what arithmetic expressions need: ``SubLayer``,
``DivLayer``, ``PowLayer`` (a constant exponent), ``NegLayer``, ``LogLayer`` and the
activations as one-input layers, ``SigmoidNode``, ``ReluNode``, ``TanhNode``.

Each layer keeps what its backward needs and nothing else, never modifies its inputs,
and keeps their dtype (a float32 array gives float32 values and gradients; Python
numbers give Python or NumPy numbers). A two-input layer whose inputs were broadcast
against each other sums each gradient back to its input's shape.

Outside their domain these layers follow IEEE arithmetic, silently, as NumPy does
without its warnings: ``log(0) = -inf``, ``log(-1) = nan``, ``1 / 0 = inf``,
``0 ** -1 = inf``, ``(-8) ** 0.5 = nan`` (never a complex number), and so do their
gradients; check ``np.isfinite`` when it matters. ``MulLayer``, ``AddLayer`` and
``SubLayer`` compute with Python's own operators, as the book does.
"""

from __future__ import annotations

import numpy as np

from chainrule.core.base import Layer
from chainrule.core.functions import sigmoid


def _unbroadcast(grad, shape: tuple):
    """``grad`` summed over the axes along which an input of ``shape`` was broadcast."""
    if not isinstance(grad, np.ndarray) or grad.shape == shape:
        return grad  # a number needs no summing
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    summed = grad.sum(axis=axes, keepdims=True)
    return summed.reshape(shape) if shape else summed.reshape(())[()]


def _floating(x):
    """``x`` unchanged if it is floating; integers (and Python ints) as float64."""
    if isinstance(x, (float, np.floating)) or (
            isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)):
        return x
    a = np.asarray(x, dtype=np.float64)
    return a if a.ndim else a[()]


class MulLayer(Layer):
    """``out = x * y``;  ``dx = dout * y``, ``dy = dout * x`` (the inputs swap)."""

    symbol = "×"

    def __init__(self):
        self.x = None
        self.y = None

    def forward(self, x, y):
        self.x = x
        self.y = y
        return x * y

    def backward(self, dout):
        return (_unbroadcast(dout * self.y, np.shape(self.x)),
                _unbroadcast(dout * self.x, np.shape(self.y)))


class AddLayer(Layer):
    """``out = x + y``;  ``dx = dy = dout`` (an add node passes the gradient through)."""

    symbol = "+"

    def __init__(self):
        self.shapes = None

    def forward(self, x, y):
        self.shapes = np.shape(x), np.shape(y)
        return x + y

    def backward(self, dout):
        return _unbroadcast(dout * 1, self.shapes[0]), _unbroadcast(dout * 1, self.shapes[1])


class SubLayer(Layer):
    """``out = x - y``;  ``dx = dout``, ``dy = -dout``."""

    symbol = "−"

    def __init__(self):
        self.shapes = None

    def forward(self, x, y):
        self.shapes = np.shape(x), np.shape(y)
        return x - y

    def backward(self, dout):
        return _unbroadcast(dout * 1, self.shapes[0]), _unbroadcast(-dout, self.shapes[1])


class NegLayer(Layer):
    """``out = -x``;  ``dx = -dout``."""

    symbol = "−"

    def forward(self, x):
        return -x

    def backward(self, dout):
        return -dout


class DivLayer(Layer):
    """``out = x / y``;  ``dx = dout / y``, ``dy = -dout * x / y**2 = -dout * out / y``."""

    symbol = "÷"

    def __init__(self):
        self.y = None
        self.out = None
        self.x_shape = None

    def forward(self, x, y):
        with np.errstate(divide="ignore", invalid="ignore"):
            self.out = np.true_divide(x, y)[()]
        self.x_shape, self.y = np.shape(x), y
        return self.out

    def backward(self, dout):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            dx = np.true_divide(dout, self.y)[()]
            dy = -dx * self.out
        return _unbroadcast(dx, self.x_shape), _unbroadcast(dy, np.shape(self.y))


class ExpLayer(Layer):
    """``out = exp(x)``;  ``dx = dout * out`` (exp is its own derivative)."""

    symbol = "exp"

    def __init__(self):
        self.out = None

    def forward(self, x):
        with np.errstate(over="ignore"):
            self.out = np.exp(x)
        return self.out

    def backward(self, dout):
        return dout * self.out


class LogLayer(Layer):
    """``out = log(x)`` (natural);  ``dx = dout / x``.

    ``log(0) = -inf`` with ``dx = dout / 0 = inf``; a negative ``x`` gives ``nan``, and
    so does its gradient.
    """

    symbol = "log"

    def __init__(self):
        self.x = None

    def forward(self, x):
        self.x = x
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(_floating(x))

    def backward(self, dout):
        with np.errstate(divide="ignore", invalid="ignore"):
            dx = np.true_divide(dout, self.x)
        return np.where(np.less(self.x, 0), np.nan, dx).astype(dx.dtype, copy=False)[()]


class ReciprocalLayer(Layer):
    """``out = 1 / x`` (the book's "/" node);  ``dx = -dout * out ** 2`` (``-dout / x²``)."""

    symbol = "/"

    def __init__(self):
        self.out = None

    def forward(self, x):
        with np.errstate(divide="ignore"):
            self.out = np.true_divide(1, _floating(x))[()]
        return self.out

    def backward(self, dout):
        with np.errstate(over="ignore", invalid="ignore"):
            return -dout * self.out * self.out


class PowLayer(Layer):
    """``out = x ** n`` for a constant number ``n``;  ``dx = dout * n * x ** (n - 1)``.

    Computed in floating point (an integer ``x`` as float64): ``0 ** -1 = inf``, and a
    negative ``x`` with a non-integer ``n`` gives ``nan``, never a complex number. For
    ``n = 0`` the gradient is 0 everywhere (``x ** 0 = 1``, also at ``x = 0``).
    """

    def __init__(self, n: float):
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, float, np.integer,
                                                                  np.floating)):
            raise TypeError(f"PowLayer: the exponent must be a real number, got {n!r}")
        if not np.isfinite(n):
            raise ValueError(f"PowLayer: the exponent must be finite, got {n!r}")
        self.n = int(n) if float(n).is_integer() and abs(n) < 2**53 else float(n)
        self.x = None

    @property
    def symbol(self) -> str:  # the book's "**2" node
        return f"**{self.n}"

    def forward(self, x):
        self.x = _floating(x)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.power(self.x, self.n)[()]

    def backward(self, dout):
        if self.n == 0:
            return dout * np.zeros_like(self.x)[()]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return (dout * self.n * np.power(self.x, self.n - 1))[()]


class SigmoidNode(Layer):
    """``out = 1 / (1 + exp(-x))`` as one node (``Sigmoid`` as a circle, for scalars
    too);  ``dx = dout * out * (1 - out)``."""

    symbol = "σ"

    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = sigmoid(x)[()]
        return self.out

    def backward(self, dout):
        return dout * self.out * (1 - self.out)


class TanhNode(Layer):
    """``out = tanh(x)`` as one node;  ``dx = dout * (1 - out**2)``."""

    symbol = "tanh"

    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = np.tanh(_floating(x))
        return self.out

    def backward(self, dout):
        return dout * (1 - self.out * self.out)


class ReluNode(Layer):
    """``out = max(x, 0)`` as one node;  ``dx = dout`` where ``x > 0``, else 0."""

    symbol = "ReLU"

    def __init__(self):
        self.positive = None

    def forward(self, x):
        self.positive = np.greater(x, 0)
        return np.maximum(x, 0)

    def backward(self, dout):
        zero = np.zeros_like(dout)[()]
        return np.where(self.positive, dout, zero)[()]
