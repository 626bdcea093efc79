"""The base of every node: ``forward`` computes, ``backward(dout)`` returns input gradients.

Conventions every layer follows (and that :class:`chainrule.Graph` relies on):

- ``forward(*inputs)`` returns one output and never modifies its inputs;
- ``backward(dout)`` returns the gradient of each differentiable input, in the order
  of ``forward``'s arguments: a tuple when there are several (``MulLayer``), a single
  array when there is one (``Relu``). Trailing non-differentiable inputs (the labels of
  ``SoftmaxWithLoss``) get none.
- ``symbol`` names the operation in drawings: a short symbol such as ``"×"`` for
  scalar nodes, drawn as a circle, or ``None`` for array layers, drawn as a box.

While a recorder is active (``with Graph(): ...``), every ``forward`` call is reported
to it. The check is one context-variable lookup, so it costs nothing measurable when
nothing records. A forward called from inside another recorded forward is not
reported: a composite layer appears as one node.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Iterator
from typing import Any, Protocol


class Recorder(Protocol):
    def record(self, layer: Layer, args: tuple, kwargs: dict, out: Any) -> None: ...


_recorder: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar(
    "chainrule_recorder", default=None
)
_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("chainrule_inside", default=False)


@contextlib.contextmanager
def recording(recorder: Recorder) -> Iterator[Recorder]:
    """Report every layer ``forward`` called in the block to ``recorder.record``."""
    token = _recorder.set(recorder)
    try:
        yield recorder
    finally:
        _recorder.reset(token)


def _reported(forward):
    @functools.wraps(forward)
    def wrapper(self, *args, **kwargs):
        recorder = _recorder.get()
        if recorder is None or _inside.get():
            return forward(self, *args, **kwargs)
        token = _inside.set(True)
        try:
            out = forward(self, *args, **kwargs)
        finally:
            _inside.reset(token)
        recorder.record(self, args, kwargs, out)
        return out

    return wrapper


class Layer:
    """A node of a computational graph."""

    symbol: str | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "forward" in cls.__dict__:
            cls.forward = _reported(cls.__dict__["forward"])

    @property
    def label(self) -> str:
        """The text drawn on the node: the symbol, else the class name."""
        return self.symbol or type(self).__name__

    def forward(self, *inputs):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dout):  # pragma: no cover - abstract
        raise NotImplementedError
