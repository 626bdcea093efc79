"""The pieces of a recorded graph: an :class:`Edge` is a value, a :class:`Node` one
``layer.forward`` call (see :class:`chainrule.graph.record.Graph`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.core.base import Layer


@dataclass(eq=False)
class Edge:
    """A value of the graph: an input (``producer is None``) or a node's output."""

    index: int
    value: Any
    name: str | None = None
    producer: Node | None = None
    consumers: list[tuple[Node, int]] = field(default_factory=list)  # (node, argument)
    grad: Any = None

    @property
    def is_input(self) -> bool:
        return self.producer is None

    @property
    def is_constant(self) -> bool:
        """An unnamed input, such as the ``-1`` of ``x * -1``."""
        return self.producer is None and self.name is None

    def __repr__(self) -> str:
        what = self.name or (
            "constant" if self.is_constant else f"out of node {self.producer.index}")
        return f"<Edge {self.index} {what}: {_short(self.value)}>"


@dataclass(eq=False)
class Node:
    """One recorded ``layer.forward(*args, **kwargs)`` call.

    ``inputs`` are the value edges in the order of ``forward``'s parameters; ``args``
    and ``kwargs`` repeat the call itself, with edges in place of values and flags
    kept as they were, so that the call can be made again (:meth:`Graph.rerun`).
    ``token`` identifies the call (:func:`chainrule.core.base.forward_token`).
    """

    index: int
    layer: Layer
    inputs: list[Edge]
    output: Edge
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    token: int | None = None
    grads: tuple | None = None  # what its backward returned in the last Graph.backward

    @property
    def symbol(self) -> str | None:
        return getattr(self.layer, "symbol", None)

    @property
    def label(self) -> str:
        return getattr(self.layer, "label", None) or type(self.layer).__name__

    def call_values(self) -> tuple[tuple, dict]:
        """The arguments of the call with every edge's current value."""
        args = tuple(a.value if isinstance(a, Edge) else a for a in self.args)
        kwargs = {k: v.value if isinstance(v, Edge) else v for k, v in self.kwargs.items()}
        return args, kwargs

    def __repr__(self) -> str:
        ins = ", ".join(str(e.index) for e in self.inputs)
        return f"<Node {self.index} {self.label}({ins}) -> {self.output.index}>"


def _short(value) -> str:
    shape = np.shape(value) if isinstance(value, np.ndarray) else ()
    return f"array{shape}" if shape else repr(value)
