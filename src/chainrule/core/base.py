"""The base of every node: ``forward`` computes, ``backward(dout)`` returns input gradients.

Conventions every layer follows (and that :class:`chainrule.Graph` relies on):

- ``forward(*inputs)`` returns one output and never modifies its inputs;
- ``backward(dout)`` returns the gradient of each differentiable input, in the order
  of ``forward``'s arguments: a tuple when there are several (``MulLayer``), a single
  array when there is one (``Relu``). Trailing non-differentiable inputs (the labels of
  ``SoftmaxWithLoss``) get none.
- ``symbol`` names the operation in drawings: a short symbol such as ``"×"`` for
  scalar nodes, drawn as a circle, or ``None`` for array layers, drawn as a box.

Every subclass's ``forward`` and ``backward`` are wrapped once, when the class is
defined (:meth:`Layer.__init_subclass__`):

- ``forward`` marks the layer as called (``backward`` before any ``forward`` raises
  ``RuntimeError: Relu.backward called before forward``), and while recorders are
  active (``with Graph(): ...``) reports the call to every one of them. A forward
  called from inside another recorded forward is not reported: a composite layer
  appears as one node. A recorded call gets a fresh *token*, kept by the layer, so a
  graph can tell whether the state a layer holds is still that of its node.
- When nothing records, the cost is one attribute store and one context-variable
  lookup per ``forward`` and one attribute test per ``backward``.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import functools
import itertools
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np


class Recorder(Protocol):
    def holds(self, value: Any) -> bool:
        """Whether ``value`` (by identity) is already a value of the recording."""

    def record(self, layer: Layer, args: tuple, kwargs: dict, out: Any) -> None: ...


# The active recorders, innermost last; () inside a recorded forward.
_recorders: contextvars.ContextVar[tuple] = contextvars.ContextVar(
    "chainrule_recorders", default=()
)
_tokens = itertools.count(1)
UNRECORDED = 0  # the token of a forward that no recorder saw


@contextlib.contextmanager
def recording(recorder: Recorder) -> Iterator[Recorder]:
    """Report every layer ``forward`` called in the block to ``recorder`` (and to the
    recorders already active: nested graphs all record)."""
    active = _recorders.get()
    token = _recorders.set(active if recorder in active else (*active, recorder))
    try:
        yield recorder
    finally:
        _recorders.reset(token)


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Record nothing in the block (a graph re-running its own nodes)."""
    token = _recorders.set(())
    try:
        yield
    finally:
        _recorders.reset(token)


def forward_token(layer: Layer) -> int | None:
    """The token of the layer's last ``forward``: None before any, :data:`UNRECORDED`
    for a call no recorder saw, else a number no other call has."""
    return layer._forward_token


def new_token(layer: Layer) -> int:
    """Give the layer a fresh token (its state now belongs to a new recorded call)."""
    token = next(_tokens)
    layer._forward_token = token
    return token


class _Int(int):
    """An ``int`` with its own identity (arithmetic on it gives plain ints)."""

    __slots__ = ()


class _Float(float):
    """A ``float`` with its own identity (arithmetic on it gives plain floats)."""

    __slots__ = ()


class _Complex(complex):
    __slots__ = ()


_OWN = {int: _Int, float: _Float, complex: _Complex, _Int: _Int, _Float: _Float,
        _Complex: _Complex}


def distinct(value: Any) -> Any:
    """An object equal to ``value`` that nothing else holds.

    Python numbers become ``int``/``float``/``complex`` subclasses that print and
    compute like them (Python shares small ints and folds equal float literals into
    one object); NumPy scalars are copied, arrays viewed (the data is shared, the
    object is new). ``None`` and bools are returned as they are: they are flags.
    """
    if value is None or isinstance(value, (bool, np.bool_)):
        return value
    own = _OWN.get(type(value))
    if own is not None:
        return own(value)
    if isinstance(value, np.ndarray):
        return value.view()
    if isinstance(value, np.generic):
        return value.dtype.type(value)
    new = copy.copy(value)
    if new is value:
        raise TypeError(f"cannot record a {type(value).__name__} output: it cannot be "
                        "told apart from the same object used elsewhere")
    return new


def _owned(out: Any, recorders: tuple) -> Any:
    """``out``, or a distinct equal object when a recorder could confuse it with
    another value: a Python number or NumPy scalar (shared by Python), or an object
    some recorder already holds (a layer that returns its input unchanged)."""
    if type(out) in _OWN or isinstance(out, np.generic) or any(r.holds(out) for r in recorders):
        return distinct(out)
    return out


def _reported(forward):
    @functools.wraps(forward)
    def wrapper(self, *args, **kwargs):
        self._forward_token = UNRECORDED
        recorders = _recorders.get()
        if not recorders:
            return forward(self, *args, **kwargs)
        inside = _recorders.set(())
        try:
            out = forward(self, *args, **kwargs)
        finally:
            _recorders.reset(inside)
        out = _owned(out, recorders)
        new_token(self)
        for recorder in recorders:
            recorder.record(self, args, kwargs, out)
        return out

    return wrapper


def _checked(backward):
    @functools.wraps(backward)
    def wrapper(self, *args, **kwargs):
        if self._forward_token is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return backward(self, *args, **kwargs)

    return wrapper


class Layer:
    """A node of a computational graph."""

    symbol: str | None = None
    _forward_token: int | None = None  # see forward_token()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "forward" in cls.__dict__:
            cls.forward = _reported(cls.__dict__["forward"])
        if "backward" in cls.__dict__:
            cls.backward = _checked(cls.__dict__["backward"])

    @property
    def label(self) -> str:
        """The text drawn on the node: the symbol, else the class name."""
        return self.symbol or type(self).__name__

    def forward(self, *inputs):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dout):  # pragma: no cover - abstract
        raise NotImplementedError
