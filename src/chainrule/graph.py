"""Recording a computational graph from ordinary layer calls, and backward through it.

::

    with Graph() as g:
        apple, apple_num, tax = g.inputs(apple=100, apple_num=2, tax=1.1)
        price = mul_tax_layer.forward(mul_apple_layer.forward(apple, apple_num), tax)
    g.backward(1)            # every layer's backward, in reverse order of the calls
    g.grad("apple")          # 2.2
    g.save("apple.svg")      # values above the arrows, gradients below

Every ``forward`` called in the block becomes a :class:`Node`; every value passed to
or returned by one becomes an :class:`Edge`. Values are matched by identity (``is``),
and the graph keeps them alive, so an id is never reused while the graph lives. A
value that no recorded layer produced is an input: named if it was named, otherwise
a constant (the ``-1`` of the sigmoid's ``×`` node).

Python shares small numbers (every ``2`` is the same object), so two inputs of equal
small value cannot be told apart by identity. :meth:`Graph.inputs` therefore returns
distinct copies (``int``/``float`` subclasses that print and compute like the
originals); naming your own variables with ``Graph(apple=apple, ...)`` works when their
objects are distinct, and an ambiguous pair is refused. Only layer calls are recorded:
arithmetic done outside a layer yields a new value that enters the graph as a constant.
``True``/``False``/``None`` arguments are flags (Dropout's ``train_flg``), not values.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.base import Layer, recording

_PY_SCALARS = (int, float, complex)


class _Int(int):
    """An ``int`` with its own identity (arithmetic on it gives plain ints)."""

    __slots__ = ()


class _Float(float):
    """A ``float`` with its own identity (arithmetic on it gives plain floats)."""

    __slots__ = ()


class _Complex(complex):
    __slots__ = ()


def _distinct(value):
    """``value``, or an equal object of its own identity if Python may share it."""
    if type(value) is int:
        return _Int(value)
    if type(value) is float:
        return _Float(value)
    if type(value) is complex:
        return _Complex(value)
    return value


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
    """One recorded ``layer.forward(*inputs)`` call."""

    index: int
    layer: Layer
    inputs: list[Edge]
    output: Edge

    @property
    def symbol(self) -> str | None:
        return getattr(self.layer, "symbol", None)

    @property
    def label(self) -> str:
        return getattr(self.layer, "label", None) or type(self.layer).__name__

    def __repr__(self) -> str:
        ins = ", ".join(str(e.index) for e in self.inputs)
        return f"<Node {self.index} {self.label}({ins}) -> {self.output.index}>"


def _short(value) -> str:
    shape = np.shape(value) if isinstance(value, np.ndarray) else ()
    return f"array{shape}" if shape else repr(value)


def _arguments(layer: Layer, args: tuple, kwargs: dict) -> tuple:
    """The inputs of a forward call in the order of ``forward``'s parameters."""
    if not kwargs:
        return args
    bound = inspect.signature(layer.forward).bind(*args, **kwargs)
    out: list = []
    for param, value in bound.arguments.items():
        kind = bound.signature.parameters[param].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            out.extend(value)
        elif kind is inspect.Parameter.VAR_KEYWORD:
            out.extend(value.values())
        else:
            out.append(value)
    return tuple(out)


class Graph:
    """A recorded computational graph: use as ``with Graph() as g: ...``.

    ``Graph(**named)`` names values you already hold (matched by identity); see
    :meth:`inputs` for numbers Python may share.
    """

    def __init__(self, /, **named: Any):
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self._by_id: dict[int, Edge] = {}
        self._names: dict[str, Edge] = {}
        self._contexts: list = []
        self._has_grads = False
        by_object: dict[int, str] = {}
        for name, value in named.items():
            if id(value) in by_object:
                raise ValueError(
                    f"Graph: {by_object[id(value)]!r} and {name!r} are the same object "
                    f"({value!r}); Python shares small numbers, so name them with "
                    f"g.inputs({by_object[id(value)]}=..., {name}=...), which returns "
                    "distinct copies"
                )
            by_object[id(value)] = name
            self._new_input(name, value)

    # -- recording ---------------------------------------------------------------
    def __enter__(self) -> Graph:
        ctx = recording(self)
        ctx.__enter__()
        self._contexts.append(ctx)
        return self

    def __exit__(self, *exc) -> None:
        self._contexts.pop().__exit__(*exc)

    def input(self, name: str, value: Any) -> Any:
        """Name an input and return it; Python numbers come back as distinct copies."""
        value = _distinct(value)
        self._new_input(name, value)
        return value

    def inputs(self, /, **named: Any) -> tuple:
        """Name several inputs at once: ``a, b = g.inputs(a=100, b=2)``."""
        return tuple(self.input(name, value) for name, value in named.items())

    def name(self, name: str, value: Any) -> Any:
        """Give a recorded value (e.g. the loss) a name, drawn beside it; returns it."""
        self._check_name(name)
        edge = self._by_id.get(id(value))
        if edge is None or edge.value is not value:
            raise KeyError(f"Graph.name: {name!r} is not a value recorded in this graph")
        if edge.name is not None:
            del self._names[edge.name]
        edge.name = name
        self._names[name] = edge
        return value

    def record(self, layer: Layer, args: tuple, kwargs: dict, out: Any) -> None:
        """Add ``out = layer.forward(*args, **kwargs)`` (called by the layers)."""
        ins: list[Edge] = []
        this_call: dict[int, Edge] = {}
        for value in _arguments(layer, args, kwargs):
            if value is None or isinstance(value, (bool, np.bool_)):
                continue  # a flag such as Dropout's train_flg, not a value
            edge = this_call.get(id(value)) or self._edge_of(value)
            this_call[id(value)] = edge
            ins.append(edge)
        output = self._new_edge(out)
        node = Node(len(self.nodes), layer, ins, output)
        output.producer = node
        for position, edge in enumerate(ins):
            edge.consumers.append((node, position))
        self.nodes.append(node)

    def _check_name(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"Graph: a name must be a non-empty string, got {name!r}")
        if name in self._names:
            raise ValueError(f"Graph: the name {name!r} is already used")

    def _new_edge(self, value: Any, name: str | None = None) -> Edge:
        edge = Edge(len(self.edges), value, name)
        self.edges.append(edge)
        self._by_id[id(value)] = edge  # the latest binding wins
        if name is not None:
            self._names[name] = edge
        return edge

    def _new_input(self, name: str, value: Any) -> Edge:
        self._check_name(name)
        if not isinstance(value, _PY_SCALARS) and id(value) in self._by_id:
            raise ValueError(f"Graph: {name!r} is already in the graph as "
                             f"{self._by_id[id(value)]!r}")
        return self._new_edge(value, name)

    def _edge_of(self, value: Any) -> Edge:
        edge = self._by_id.get(id(value))
        # A shared Python number seen before as a constant is a new constant here.
        if edge is None or (edge.is_constant and type(value) in _PY_SCALARS):
            edge = self._new_edge(value)
        return edge

    # -- backward ----------------------------------------------------------------
    def backward(self, dout: Any = 1, *, output: Any = None) -> dict[str, Any]:
        """Call every layer's ``backward`` from ``output`` back to the inputs.

        ``output`` (a name, value or :class:`Edge`; default: the last call's result)
        starts with gradient ``dout``, broadcast to its shape. Nodes run in reverse
        order of their calls, which is a reverse topological order; a value used by
        several nodes gets the sum of their gradients. Returns ``grads()``.
        """
        if not self.nodes:
            raise ValueError("Graph.backward: nothing was recorded")
        start = self.output if output is None else self[output]
        if start.producer is None:
            raise ValueError(f"Graph.backward: {start!r} is an input, not a layer's output")
        todo = self.nodes[: start.producer.index + 1]
        _check_layers_used_once(todo)
        for edge in self.edges:
            edge.grad = None
        start.grad = _seed(dout, start.value)
        for node in reversed(todo):
            if node.output.grad is None:
                continue  # not on a path to ``start``
            grads = node.layer.backward(node.output.grad)
            if not isinstance(grads, tuple):
                grads = (grads,)
            if len(grads) > len(node.inputs):
                raise ValueError(f"{node.label}.backward returned {len(grads)} gradients "
                                 f"for {len(node.inputs)} inputs")
            for edge, grad in zip(node.inputs, grads, strict=False):
                edge.grad = grad if edge.grad is None else edge.grad + grad
        self._has_grads = True
        return self.grads()

    # -- reading -----------------------------------------------------------------
    @property
    def output(self) -> Edge:
        """The result of the last recorded call."""
        if not self.nodes:
            raise ValueError("Graph: nothing was recorded")
        return self.nodes[-1].output

    @property
    def has_grads(self) -> bool:
        return self._has_grads

    def __getitem__(self, key: Any) -> Edge:
        """The edge of a name, of a recorded value (by identity), or an edge itself."""
        if isinstance(key, Edge):
            return key
        if isinstance(key, str) and key in self._names:
            return self._names[key]
        edge = self._by_id.get(id(key))
        if edge is not None and edge.value is key:
            return edge
        known = ", ".join(self._names) or "none"
        raise KeyError(f"Graph: {key!r} is neither a name (known: {known}) "
                       "nor a value recorded in this graph")

    def value(self, key: Any) -> Any:
        return self[key].value

    def grad(self, key: Any) -> Any:
        """The gradient stored on an edge by :meth:`backward` (None: none flows there)."""
        if not self._has_grads:
            raise RuntimeError("Graph.grad: no gradients yet; call g.backward() first")
        return self[key].grad

    def grads(self) -> dict[str, Any]:
        """``{name: gradient}`` for every named value."""
        return {name: edge.grad for name, edge in self._names.items()}

    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        return f"<Graph: {len(self.nodes)} nodes, {len(self.edges)} edges>"

    # -- drawing -----------------------------------------------------------------
    def to_svg(self, **options) -> str:
        """The graph as a standalone SVG (see :func:`chainrule.draw.to_svg`)."""
        from chainrule import draw

        return draw.to_svg(self, **options)

    def to_png(self, **options) -> bytes:
        """The same picture as PNG bytes, drawn with matplotlib."""
        from chainrule import draw

        return draw.to_png(self, **options)

    def to_dot(self, **options) -> str:
        """Graphviz source (``dot -Tsvg``)."""
        from chainrule import draw

        return draw.to_dot(self, **options)

    def to_mermaid(self, **options) -> str:
        """A Mermaid ``flowchart LR``."""
        from chainrule import draw

        return draw.to_mermaid(self, **options)

    def save(self, path, **options) -> None:
        """Write the drawing; the format follows the suffix (.svg .png .dot .gv .mmd)."""
        from chainrule import draw

        draw.save(self, path, **options)

    def _repr_svg_(self) -> str:
        return self.to_svg()


def _seed(dout: Any, value: Any) -> Any:
    """``dout`` broadcast to the shape of ``value``."""
    shape = np.shape(value)
    if np.ndim(dout) == 0 and shape:
        dtype = np.asarray(value).dtype
        dtype = dtype if np.issubdtype(dtype, np.floating) else np.float64
        return np.full(shape, dout, dtype=dtype)
    if np.shape(dout) != shape:
        raise ValueError(f"Graph.backward: dout has shape {np.shape(dout)}, "
                         f"the output has shape {shape}")
    return dout


def _check_layers_used_once(nodes: list[Node]) -> None:
    first: dict[int, Node] = {}
    for node in nodes:
        seen = first.setdefault(id(node.layer), node)
        if seen is not node:
            raise ValueError(
                f"Graph.backward: nodes {seen.index} and {node.index} call the same "
                f"{type(node.layer).__name__} object; a layer remembers only its last "
                "forward, so give each use its own layer (as the book does)"
            )
