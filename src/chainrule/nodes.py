"""The scalar nodes of the chapter's computational graphs (they work on arrays too).

``MulLayer`` and ``AddLayer`` are the book's; ``ExpLayer`` and ``ReciprocalLayer`` are
the two remaining primitives of its sigmoid derivation, which reads
``x -> ×(-1) -> exp -> +1 -> / -> y`` with ``MulLayer`` and ``AddLayer`` for the
constant steps. Each node keeps what its backward needs and nothing else.
"""

from __future__ import annotations

import numpy as np

from chainrule.base import Layer


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
        return dout * self.y, dout * self.x


class AddLayer(Layer):
    """``out = x + y``;  ``dx = dy = dout`` (an add node passes the gradient through)."""

    symbol = "+"

    def __init__(self):
        pass

    def forward(self, x, y):
        return x + y

    def backward(self, dout):
        return dout * 1, dout * 1


class ExpLayer(Layer):
    """``out = exp(x)``;  ``dx = dout * out`` (exp is its own derivative)."""

    symbol = "exp"

    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = np.exp(x)
        return self.out

    def backward(self, dout):
        return dout * self.out


class ReciprocalLayer(Layer):
    """``out = 1 / x`` (the book's "/" node);  ``dx = -dout * out ** 2``."""

    symbol = "/"

    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = 1 / x
        return self.out

    def backward(self, dout):
        return -dout * self.out * self.out
