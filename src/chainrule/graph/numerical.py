"""Numerical derivatives of a recorded graph, and where a value that is not a number came from.

:func:`numerical_grad` and :func:`check` are ``Graph.numerical_grad`` and ``Graph.check``:
the output is differenced with respect to one edge, in float64 whatever the edge's
dtype, with :mod:`chainrule.core.gradient`'s relative step (so an input of 1e40 is
moved by a step that changes it), rerunning only the nodes downstream of the edge and
leaving the graph exactly as it was. :func:`check` compares with backprop by
:func:`chainrule.core.gradient.compare` and, where no comparison is possible, says why
(:data:`chainrule.core.gradient.REASONS`), naming the node: ``log(x) = log(-1) = nan``
is outside log's domain, ``x / y = 1 / 0 = inf`` divides by 0, ``exp(1000)`` overflows,
ReLU's input is 0 (a kink). :func:`origin` and :func:`grad_origin` say which node first
made a value or a gradient NaN or infinite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.core import layers, operations
from chainrule.core.derivative import Explainer, FunctionCheck, check_function
from chainrule.core.gradient import FLOOR, RTOL, H, numerical_gradient
from chainrule.core.messages import Said, said
from chainrule.graph.explain import rule
from chainrule.graph.layout import format_value
from chainrule.graph.parts import Edge, Node
from chainrule.graph.snapshot import GraphState

KINKS = (operations.ReluNode, layers.Relu)
"""Layers with a kink at 0 (their input exactly 0: no derivative there)."""


@dataclass
class EdgeCheck:
    """One edge's gradient checked (:func:`check`): ``grad`` backprop's, ``numerical`` the
    central difference (a number, or an array of the edge's shape), ``agree`` by
    :func:`~chainrule.core.gradient.compare` (None: nothing could be compared), ``reason``
    why not (a :class:`~chainrule.core.messages.Said`: English, with ``code`` and
    ``params``), ``max_abs_diff`` and ``max_rel_error`` over what was compared."""

    grad: Any
    numerical: Any
    agree: bool | None
    reason: Said | None
    max_abs_diff: float
    max_rel_error: float
    left_out: int = 0

    @classmethod
    def of(cls, grad: Any, found: FunctionCheck, scalar: bool) -> EdgeCheck:
        numerical = float(found.numerical[()]) if scalar else found.numerical
        return cls(grad, numerical, found.agree, found.reason, found.result.max_abs_diff,
                   found.result.max_rel_error, found.left_out)


def _is_finite(value: Any) -> bool:
    try:
        return bool(np.all(np.isfinite(value)))
    except TypeError:  # not numbers (labels as objects, None): nothing to say
        return True


def _first_bad(value: Any) -> float:
    a = np.asarray(value, dtype=np.float64).ravel()
    return float(a[np.flatnonzero(~np.isfinite(a))[0]])


def _upstream(edge: Edge) -> list[Node]:
    """The nodes ``edge``'s value depends on, in recorded (topological) order."""
    seen: dict[int, Node] = {}
    todo = [edge.producer] if edge.producer is not None else []
    while todo:
        node = todo.pop()
        if node.index in seen:
            continue
        seen[node.index] = node
        todo += [e.producer for e in node.inputs if e.producer is not None]
    return [seen[i] for i in sorted(seen)]


def origin(edge: Edge) -> Said | None:
    """Where ``edge``'s value, NaN or infinite, came from: the first node (in the
    order forward ran) that made such a value out of finite inputs, and why; an
    input that holds one itself. None when the value is finite."""
    if _is_finite(edge.value):
        return None
    for node in _upstream(edge):
        if not _is_finite(node.output.value) and all(_is_finite(e.value) for e in node.inputs):
            return why_not_finite(node)
    for e in _inputs_of(edge):
        if not _is_finite(e.value):
            return said("grad.from_input", name=e.name or f"#{e.index}",
                        value=format_value(_first_bad(e.value)))
    return said("grad.value", value=_first_bad(edge.value))


def _inputs_of(edge: Edge) -> list[Edge]:
    if edge.producer is None:
        return [edge]
    return [e for n in _upstream(edge) for e in n.inputs if e.producer is None]


def why_not_finite(node: Node) -> Said:
    """Why ``node`` made a value that is not finite out of finite inputs: its forward
    rule with the numbers (``log(x) = log(-1) = nan``) and what went wrong there."""
    line = rule(node)["forward"]
    x = [np.asarray(e.value, dtype=np.float64) for e in node.inputs]
    out = node.output.value
    layer = node.layer
    if isinstance(layer, operations.LogLayer) and np.any(x[0] <= 0):
        return said("grad.log_domain", line=line, node=node.index)
    zero = (isinstance(layer, operations.DivLayer) and np.any(x[1] == 0)) or (
        isinstance(layer, operations.ReciprocalLayer) and np.any(x[0] == 0)) or (
        isinstance(layer, operations.PowLayer) and layer.n < 0 and np.any(x[0] == 0))
    if zero:
        return said("grad.division_by_zero", line=line, node=node.index)
    if np.any(np.isnan(np.asarray(out, dtype=np.float64))):
        return said("grad.domain", line=line, node=node.index)
    return said("grad.overflow", line=line, node=node.index)


def grad_origin(edge: Edge, nodes: list[Node]) -> Said | None:
    """Where ``edge``'s gradient, NaN or infinite, came from: the first node whose
    backward (``nodes`` in the order backward ran them) made such a gradient out of a
    finite ``dout`` on a way back to ``edge``, with its backward rule. None when the
    gradient is finite."""
    if edge.grad is None or _is_finite(edge.grad):
        return None
    ahead = _ahead(edge)
    for node in nodes:
        dout, grads = node.output.grad, node.grads or ()
        if node.index not in ahead or dout is None or not _is_finite(dout):
            continue
        for i, g in enumerate(grads):
            leads = node.inputs[i] is edge or (node.inputs[i].producer is not None
                                               and node.inputs[i].producer.index in ahead)
            if g is not None and leads and not _is_finite(g):
                lines = rule(node)["backward"]
                return said("grad.backward", value=format_value(_first_bad(g)),
                            node=node.label, line=lines[i] if i < len(lines) else node.label)
    return said("grad.backprop", value=_first_bad(edge.grad))


def _ahead(edge: Edge) -> set[int]:
    """The ids of the nodes ``edge``'s value reaches."""
    seen: set[int] = set()
    todo = [edge]
    while todo:
        for node, _ in todo.pop().consumers:
            if node.index not in seen:
                seen.add(node.index)
                todo.append(node.output)
    return seen


class _Graph(Explainer):
    """The reasons' details, read from the graph being checked."""

    def __init__(self, edge: Edge, start: Edge, downstream: list[Node], backward: list[Node]):
        self.edge, self.start, self.backward = edge, start, backward
        self.kinks = [n for n in downstream if isinstance(n.layer, KINKS)
                      and np.any(np.asarray(n.inputs[0].value) == 0)]

    def value(self) -> Said | None:
        return origin(self.start)

    def grad(self, index: int) -> Said | None:
        return grad_origin(self.edge, self.backward)

    def kink(self, index: int, left: float, right: float) -> Said | None:
        if not self.kinks:
            return None
        return said("grad.kink", node=self.kinks[0].label, input=0,
                    left=format_value(left, 6), right=format_value(right, 6))


def _differenced(graph, key: Any, who: str) -> tuple[Edge, Edge, GraphState, Callable]:
    """The edge, the output, the saved state and ``f(x)``: the output read as
    ``sum(dout * output)`` with ``x`` (float64) in place of the edge's value."""
    edge = graph[key]
    start = graph.backward_start
    seed = graph.seed_of(start)
    value = edge.value
    kind = np.asarray(value).dtype.kind if value is not None else "O"
    if np.ndim(value) == 0 and kind not in "iuf":
        raise TypeError(f"{who}: {edge!r} is not a real number")
    if np.ndim(value) > 0 and kind != "f":
        raise TypeError(f"{who}: {edge!r} holds {np.asarray(value).dtype} "
                        "values (labels or indices?): no derivative")
    downstream = graph.downstream(edge, start)
    graph.check_fresh(downstream, who)
    saved = GraphState(graph, downstream)
    random = [n.layer for n in downstream if hasattr(n.layer, "fix_mask")]

    def f(x: np.ndarray) -> float:
        edge.value = x[()] if x.ndim == 0 else x
        saved.restore_layers()  # the same state every time
        for layer in random:
            layer.fix_mask = True  # Dropout: the recorded mask, not a new one
        graph.replay(downstream)
        return float(np.sum(seed * start.value))

    return edge, start, saved, f


def numerical_grad(graph, key: Any, h: float = H) -> Any:
    """``Graph.numerical_grad``: central differences with the relative step, in float64."""
    edge, _, saved, f = _differenced(graph, key, "Graph.numerical_grad")
    x = np.array(edge.value, dtype=np.float64)
    try:
        with graph.errstate():
            grad = numerical_gradient(lambda _: f(x), x, h, relative=True)
    finally:
        saved.restore()
    return float(grad[()]) if grad.ndim == 0 else grad


def check(graph, key: Any, h: float = H, rtol: float = RTOL, floor: float = FLOOR) -> EdgeCheck:
    """``Graph.check``: backprop's gradient of an edge against its central difference."""
    if not graph.has_grads:
        raise RuntimeError("Graph.check: no gradients yet; call g.backward() first")
    edge, start, saved, f = _differenced(graph, key, "Graph.check")
    if edge.grad is None:
        raise ValueError(f"Graph.check: no gradient flows to {edge!r}")
    x = np.array(edge.value, dtype=np.float64)
    backward = [graph.nodes[i] for i in graph.backward_order()]
    why = _Graph(edge, start, graph.downstream(edge, start), backward)
    try:
        with graph.errstate():
            found = check_function(lambda: f(x), x, edge.grad, h=h, rtol=rtol, floor=floor,
                                   explain=why)
    finally:
        saved.restore()
    return EdgeCheck.of(edge.grad, found, x.ndim == 0)


def non_finite(graph) -> dict[int, dict[str, Said]]:
    """``{edge id: {"value": why, "grad": why}}`` for every edge whose value or gradient
    is NaN or infinite (:func:`origin`, :func:`grad_origin`)."""
    backward = [graph.nodes[i] for i in graph.backward_order()] if graph.has_grads else []
    out: dict[int, dict[str, Said]] = {}
    for e in graph.edges:
        found = {"value": origin(e), "grad": grad_origin(e, backward) if backward else None}
        found = {k: v for k, v in found.items() if v is not None}
        if found:
            out[e.index] = found
    return out

