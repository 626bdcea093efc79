"""The state of layers and of a graph, saved and put back exactly (a graph re-running its
nodes for a numerical derivative leaves no trace: :class:`GraphState`).

A layer's state is its attributes. :class:`LayerStates` keeps, for each layer, the
objects its attributes refer to, a copy of the contents of its writable arrays (a
forward may update one in place, as batch norm's running mean does) and the state of
its random generators (a dropout mask is drawn anew per forward). ``restore()`` puts
back the same objects, their contents and the generators' states. Layers held by a
layer's attributes (directly, or in a list, tuple or dict) are saved too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from chainrule.core.base import Layer


class LayerStates:
    """The state of some layers (and of the layers they hold), to put back."""

    def __init__(self, layers: Iterable[Any]):
        self.saved = [(layer, _state(layer)) for layer in layers_within(layers)]

    def restore(self) -> None:
        for layer, (attrs, arrays, generators) in self.saved:
            state = vars(layer)
            state.clear()
            state.update(attrs)
            for a, data in arrays:
                np.copyto(a, data)
            for g, bits in generators:
                g.bit_generator.state = bits


def layers_within(layers: Iterable[Any]) -> list[Any]:
    """The layers, and every Layer their attributes hold, each once (no recursion)."""
    found: dict[int, Any] = {}
    todo = list(layers)
    while todo:
        layer = todo.pop()
        if id(layer) in found or not hasattr(layer, "__dict__"):
            continue
        found[id(layer)] = layer
        for v in vars(layer).values():
            items = v.values() if isinstance(v, dict) else (
                v if isinstance(v, (list, tuple)) else (v,))
            todo.extend(item for item in items if isinstance(item, Layer))
    return list(found.values())


def _state(layer: Any) -> tuple[dict, list, list]:
    attrs = dict(vars(layer))
    arrays = [(v, v.copy()) for v in attrs.values()
              if isinstance(v, np.ndarray) and v.flags.writeable]
    generators = [(v, v.bit_generator.state) for v in attrs.values()
                  if isinstance(v, np.random.Generator)]
    return attrs, arrays, generators


class GraphState:
    """The values, gradients and tokens of a graph, and the state of the layers of
    some of its nodes (:class:`LayerStates`), to put back."""

    def __init__(self, graph, nodes: list):
        self.graph = graph
        self.edges = [(e, e.value, e.grad) for e in graph.edges]
        self.nodes = [(n, n.token, n.grads) for n in graph.nodes]
        self.flags = (graph._has_grads, graph._start, graph._dout)
        self.layers = LayerStates(node.layer for node in nodes)

    def restore_layers(self) -> None:
        self.layers.restore()

    def restore(self) -> None:
        self.layers.restore()
        for edge, value, grad in self.edges:
            edge.value, edge.grad = value, grad
        for node, token, grads in self.nodes:
            node.token, node.grads = token, grads
        g = self.graph
        g._has_grads, g._start, g._dout = self.flags
