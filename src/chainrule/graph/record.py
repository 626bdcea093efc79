"""Recording a computational graph from ordinary layer calls, and backward through it.

::

    with Graph() as g:
        apple, apple_num, tax = g.inputs(apple=100, apple_num=2, tax=1.1)
        price = mul_tax_layer.forward(mul_apple_layer.forward(apple, apple_num), tax)
    g.backward(1)            # every layer's backward, in reverse order of the calls
    g.grad("apple")          # 2.2
    g.rerun(apple=150)       # the same graph, recomputed: forward and backward
    g.save("apple.svg")      # values above the arrows, gradients below

Every ``forward`` called in the block becomes a :class:`Node`; every value passed to
or returned by one becomes an :class:`Edge`. A value is one the graph handed out, or
a constant:

- the graph hands out the inputs of :meth:`Graph.inputs` and every recorded output,
  each as an object nothing else holds (Python numbers as ``int``/``float``
  subclasses that print and compute like them, an array returned unchanged as a new
  view of it), and knows them again by identity;
- anything else passed to a layer is a constant (the ``-1`` of ``x * -1``), a plain
  Python number always a new one: Python shares small numbers and equal literals, so
  the ``2`` of one call cannot be told from the ``2`` of another.

Only layer calls are recorded: arithmetic done outside a layer yields a new value that
enters the graph as a constant (and :meth:`Graph.rerun` cannot recompute it).
``True``/``False``/``None`` arguments are flags (Dropout's ``train_flg``), not values.
Nested ``with Graph()`` blocks record into every active graph. A layer object keeps
only its last forward's state, so a graph refuses to run ``backward`` through a node
whose layer has been called again since (see :meth:`Graph.backward`).
"""

from __future__ import annotations

import contextlib
import inspect
from typing import Any

import numpy as np

from chainrule.core import base
from chainrule.core.base import Layer, distinct, recording
from chainrule.graph import draw, expression, numerical
from chainrule.graph.parts import Edge, Node
from chainrule.graph.snapshot import GraphState

_PY_NUMBERS = (bool, int, float, complex)  # Python may share these objects


def _is_flag(value: Any) -> bool:
    return value is None or isinstance(value, (bool, np.bool_))


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

    ``Graph(**named)`` names arrays (or other objects) you already hold, matched by
    identity; Python numbers cannot be (Python shares them): name those with
    :meth:`inputs`, which returns objects of their own.

    ``quiet = True`` (set by :meth:`from_expression`) runs backward, reruns and
    numerical gradients under ``np.errstate(all="ignore")``: inf and nan come out
    as values, without NumPy's warnings.
    """

    def __init__(self, /, **named: Any):
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self._held: dict[int, tuple[Any, Edge]] = {}  # id -> (the object, its edge)
        self._names: dict[str, Edge] = {}
        self._contexts: list = []
        self._has_grads = False
        self._start: Edge | None = None  # where the last backward started
        self._dout: Any = None  # and with what
        self.quiet = False  # True: backward and reruns under np.errstate(all="ignore")
        for name, value in named.items():
            if type(value) in _PY_NUMBERS:
                raise TypeError(
                    f"Graph({name}={value!r}): Python shares numbers (every {value!r} in "
                    f"the program may be this very object), so a number cannot be named by "
                    f"identity; inside the block write {name}, = g.inputs({name}={value!r})"
                )
            if self.holds(value):
                raise ValueError(f"Graph: {name!r} is the same object as "
                                 f"{self._held[id(value)][1].name!r}")
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
        """Name an input and return it, as an object of its own for Python numbers."""
        if _is_flag(value):
            raise TypeError(f"Graph.input: {name!r} is {value!r}, a flag, not a value")
        if isinstance(value, (int, float, complex, np.generic)):
            value = distinct(value)  # a number of its own, whatever Python shares
        self._new_input(name, value)
        return value

    def inputs(self, /, **named: Any) -> tuple:
        """Name several inputs at once: ``a, b = g.inputs(a=100, b=2)``."""
        return tuple(self.input(name, value) for name, value in named.items())

    def name(self, name: str, value: Any) -> Any:
        """Give a recorded value (e.g. the loss) a name, drawn beside it; returns it."""
        self._check_name(name)
        if not self.holds(value):
            raise KeyError(f"Graph.name: {name!r} is not a value recorded in this graph")
        edge = self._held[id(value)][1]
        if edge.name is not None:
            del self._names[edge.name]
        edge.name = name
        self._names[name] = edge
        return value

    def holds(self, value: Any) -> bool:
        """Whether ``value`` itself (by identity) is an input, output or constant here."""
        entry = self._held.get(id(value))
        return entry is not None and entry[0] is value

    def record(self, layer: Layer, args: tuple, kwargs: dict, out: Any) -> None:
        """Add ``out = layer.forward(*args, **kwargs)`` (called by the layers)."""
        this_call: dict[int, Edge] = {}

        def edge_of(value):
            edge = this_call.get(id(value))
            if edge is None:
                edge = this_call[id(value)] = self._edge_of(value)
            return edge

        ins = [edge_of(v) for v in _arguments(layer, args, kwargs) if not _is_flag(v)]
        output = self._new_edge(out, hold=not _is_flag(out))
        node = Node(len(self.nodes), layer, ins, output,
                    args=tuple(a if _is_flag(a) else this_call[id(a)] for a in args),
                    kwargs={k: v if _is_flag(v) else this_call[id(v)]
                            for k, v in kwargs.items()},
                    token=base.forward_token(layer))
        output.producer = node
        for position, edge in enumerate(ins):
            edge.consumers.append((node, position))
        self.nodes.append(node)

    def _check_name(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"Graph: a name must be a non-empty string, got {name!r}")
        if name in self._names:
            raise ValueError(f"Graph: the name {name!r} is already used")

    def _new_edge(self, value: Any, name: str | None = None, *, hold: bool = True) -> Edge:
        edge = Edge(len(self.edges), value, name)
        self.edges.append(edge)
        if hold:
            self._held[id(value)] = (value, edge)
        if name is not None:
            self._names[name] = edge
        return edge

    def _new_input(self, name: str, value: Any) -> Edge:
        self._check_name(name)
        if self.holds(value):
            raise ValueError(f"Graph: {name!r} is already in the graph as "
                             f"{self._held[id(value)][1]!r}")
        return self._new_edge(value, name)

    def _edge_of(self, value: Any) -> Edge:
        """The edge of a value passed to a layer: one the graph holds, or a constant.

        A plain Python number is a new constant at every use (the same object may be
        any literal of equal value); other constants, such as an array, are one edge.
        """
        if self.holds(value):
            return self._held[id(value)][1]
        return self._new_edge(value, hold=type(value) not in (int, float, complex))

    # -- backward ----------------------------------------------------------------
    def backward(self, dout: Any = 1, *, output: Any = None) -> dict[str, Any]:
        """Call every layer's ``backward`` from ``output`` back to the inputs.

        ``output`` (a name, value or :class:`Edge`; default: the last call's result)
        starts with gradient ``dout``, broadcast to its shape. The nodes that lead to
        it run in reverse order of their calls, which is a reverse topological order
        (:meth:`backward_order`); a value used by several nodes gets the sum of their
        gradients. Returns ``grads()``.

        A layer keeps the state of its last ``forward`` only; a node whose layer was
        called again since it was recorded (a second time in this graph, in another
        graph, or outside any) is refused with a ``ValueError`` before any gradient
        is computed, since its backward would use the other call's values.
        """
        start = self._start_edge(output, "Graph.backward")
        path = self._path(start)
        self.check_fresh(path, "Graph.backward")
        grad: dict[int, Any] = {start.index: _seed(dout, start.value)}  # edge -> gradient
        local: dict[int, tuple] = {}  # node -> what its backward returned
        with self.errstate():
            for node in reversed(path):
                if grad.get(node.output.index) is None:
                    continue  # every gradient towards it was None (labels, say)
                grads = node.layer.backward(grad[node.output.index])
                if not isinstance(grads, tuple):
                    grads = (grads,)
                if len(grads) > len(node.inputs):
                    raise ValueError(f"{node.label}.backward returned {len(grads)} gradients "
                                     f"for {len(node.inputs)} inputs")
                local[node.index] = grads
                for edge, g in zip(node.inputs, grads, strict=False):
                    if g is not None:
                        old = grad.get(edge.index)
                        grad[edge.index] = g if old is None else old + g
        for edge in self.edges:  # only now: a backward that raises changes nothing
            edge.grad = grad.get(edge.index)
        for node in self.nodes:
            node.grads = local.get(node.index)
        self._has_grads = True
        self._start, self._dout = start, dout
        return self.grads()

    def _start_edge(self, output: Any, who: str) -> Edge:
        if not self.nodes:
            raise ValueError(f"{who}: nothing was recorded")
        start = self.output if output is None else self[output]
        if start.producer is None:
            raise ValueError(f"{who}: {start!r} is an input, not a layer's output")
        return start

    def _path(self, start: Edge) -> list[Node]:
        """The nodes ``start`` depends on, in recorded (topological) order."""
        seen = {start.producer.index}
        todo = [start.producer]
        while todo:
            for edge in todo.pop().inputs:
                if edge.producer is not None and edge.producer.index not in seen:
                    seen.add(edge.producer.index)
                    todo.append(edge.producer)
        return [self.nodes[i] for i in sorted(seen)]

    def check_fresh(self, nodes: list[Node], who: str) -> None:
        """Refuse (``ValueError``, ``who`` speaking) a node whose layer was called since."""
        for node in nodes:
            now = base.forward_token(node.layer)
            if now == node.token:
                continue
            name = type(node.layer).__name__
            later = [n.index for n in self.nodes if n.layer is node.layer and n.token == now]
            where = (f"it is also node {later[0]} of this graph" if later
                     else "it was called again after this graph recorded it")
            raise ValueError(
                f"{who}: node {node.index} ({node.label}) uses a {name} object whose "
                f"state belongs to a later forward call ({where}); the same {name} object "
                "remembers only its last forward, so give each use its own layer (as the "
                "book does), or g.rerun() to recompute the graph")

    def errstate(self):
        """``np.errstate(all="ignore")`` for a ``quiet`` graph, else nothing."""
        return np.errstate(all="ignore") if self.quiet else contextlib.nullcontext()

    def forward_order(self) -> list[int]:
        """Node indices in the order forward ran them (the recorded order)."""
        return [node.index for node in self.nodes]

    def backward_order(self, output: Any = None) -> list[int]:
        """Node indices in the order :meth:`backward` runs them, from ``output``
        (default: where the last backward started, else the last call's result)."""
        if output is None and self._start is not None:
            output = self._start
        return [node.index for node in reversed(self._path(
            self._start_edge(output, "Graph.backward_order")))]

    # -- recomputing ---------------------------------------------------------------
    def rerun(self, /, **inputs: Any) -> Graph:
        """Recompute the graph with new values for some named inputs; returns it.

        Every node's ``layer.forward`` is called again, in recorded order, with the
        current values of its edges (the flags of the original call kept), and every
        edge takes the new value; if the graph had gradients, ``backward`` runs again
        with the same ``dout`` from the same output. Values computed outside layers
        were recorded as constants and keep their old value. On any error the graph
        and its layers are left exactly as they were.
        """
        targets = {}
        for name in inputs:
            edge = self._names.get(name)
            if edge is None or edge.producer is not None:
                known = ", ".join(self.named_inputs())
                what = "not an input" if edge is not None else "not a name of this graph"
                raise KeyError(f"Graph.rerun: {name!r} is {what} (inputs: {known or 'none'})")
            targets[name] = edge
        saved = GraphState(self, self.nodes)
        try:
            for name, edge in targets.items():
                edge.value = inputs[name]
            self.replay(self.nodes)
            if self._has_grads:
                self.backward(self._dout, output=self._start)
        except BaseException:
            saved.restore()
            raise
        return self

    def replay(self, nodes: list[Node]) -> None:
        """Call the nodes' forwards again (unrecorded) and store their outputs."""
        with base.paused(), self.errstate():
            for node in nodes:
                args, kwargs = node.call_values()
                node.output.value = node.layer.forward(*args, **kwargs)
                node.token = base.new_token(node.layer)

    def numerical_grad(self, key: Any, h: float = 1e-4) -> Any:
        """The central-difference derivative of the output with respect to an edge.

        The output is the one :meth:`backward` started from (else the last call's
        result), read as ``sum(dout * output)`` with backward's ``dout`` (1 before
        any backward), so the result is comparable with ``grad(key)``. ``key`` is a
        name, a recorded value or an :class:`Edge`, input or intermediate. A number
        for a scalar edge, an array of its shape for an array edge: computed in
        float64 whatever the edge's dtype, each element moved by the relative step
        ``h · max(|x|, 1)`` (:func:`chainrule.core.gradient.step_for`). Only the nodes
        downstream of the edge run again (a layer with a ``fix_mask`` attribute, such
        as Dropout, with it set, so that it reuses its recorded mask), and the graph,
        its layers and their cached state (random generators included) are left
        exactly as they were. :meth:`check` says whether it agrees with backprop, or
        why it cannot.
        """
        return numerical.numerical_grad(self, key, h)

    def check(self, key: Any, h: float = 1e-4) -> numerical.EdgeCheck:
        """An edge's gradient against its numerical derivative: ``agree`` by
        :func:`chainrule.core.gradient.compare`, or ``None`` with the ``reason`` (a
        message: a value outside a function's domain, an overflow, a kink,
        cancellation) where the central difference cannot be a derivative; see
        :mod:`chainrule.graph.numerical`."""
        return numerical.check(self, key, h)

    @property
    def backward_start(self) -> Edge:
        """Where the last backward started, else the last call's result."""
        return self._start if self._start is not None else self.output

    def seed_of(self, start: Edge) -> Any:
        """The gradient backward starts ``start`` with (``dout``, 1 before any)."""
        return _seed(self._dout if self._start is not None else 1, start.value)

    def downstream(self, edge: Edge, start: Edge) -> list[Node]:
        """The nodes between ``edge`` and ``start`` that its value reaches, in order."""
        last = start.producer.index
        seen: set[int] = set()
        todo = [edge]
        while todo:
            for node, _ in todo.pop().consumers:
                if node.index <= last and node.index not in seen:
                    seen.add(node.index)
                    todo.append(node.output)
        return [self.nodes[i] for i in sorted(seen)]

    @classmethod
    def from_expression(cls, text: str, /, **inputs: Any) -> Graph:
        """The graph of an arithmetic expression, computed forward and backward.

        ``Graph.from_expression("(x + y) ** 2", x=1, y=2)``: one node of the library's
        node layers per operation, the names as inputs, ``dout = 1``. See
        :mod:`chainrule.graph.expression` for what may be written.

        Raises :class:`~chainrule.graph.expression.ExpressionError` for the text and
        :class:`~chainrule.graph.expression.InputError` for an input that is missing, not
        used by the expression, or not a finite real number.
        """
        return expression.build(expression.parse(text), inputs, cls())

    def serve(self, **kwargs: Any) -> Any:
        """Open this graph in the browser lab (``pip install 'chainrule[serve]'``)."""
        try:  # the one import that points up a floor: the lab is an optional extra
            from chainrule import web
        except ImportError as exc:
            raise ImportError("Graph.serve needs the lab's extra: "
                              "pip install 'chainrule[serve]'") from exc
        return web.serve_graph(self, **kwargs)

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
            if key.index < len(self.edges) and self.edges[key.index] is key:
                return key
            raise KeyError(f"Graph: {key!r} is an edge of another graph")
        if isinstance(key, str) and key in self._names:
            return self._names[key]
        if self.holds(key):
            return self._held[id(key)][1]
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

    def named_inputs(self) -> dict[str, Edge]:
        """``{name: edge}`` of the named inputs (what :meth:`rerun` can change)."""
        return {name: e for name, e in self._names.items() if e.producer is None}

    def grads(self) -> dict[str, Any]:
        """``{name: gradient}`` for every named value."""
        return {name: edge.grad for name, edge in self._names.items()}

    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        return f"<Graph: {len(self.nodes)} nodes, {len(self.edges)} edges>"

    # -- drawing -----------------------------------------------------------------
    def to_svg(self, **options) -> str:
        """The graph as a standalone SVG (see :func:`chainrule.graph.draw.to_svg`)."""
        return draw.to_svg(self, **options)

    def to_png(self, **options) -> bytes:
        """The same picture as PNG bytes, drawn with matplotlib."""
        return draw.to_png(self, **options)

    def to_dot(self, **options) -> str:
        """Graphviz source (``dot -Tsvg``)."""
        return draw.to_dot(self, **options)

    def to_mermaid(self, **options) -> str:
        """A Mermaid ``flowchart LR``."""
        return draw.to_mermaid(self, **options)

    def save(self, path, **options) -> None:
        """Write the drawing; the format follows the suffix (.svg .png .dot .gv .mmd)."""
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
