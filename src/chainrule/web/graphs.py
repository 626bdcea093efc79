"""The graph lab's graphs: built by the library, described as JSON for the page.

This is the one module of :mod:`chainrule.web` that calls the library's graph code
(the section "library calls" below), and the web package adds no math of its own:
values and gradients are the layers' own, numerical derivatives are
``Graph.numerical_grad``'s, local rules are ``explain.rule``'s, the step order is the
graph's, "agree" and the reasons why a check cannot be made are ``Graph.check``'s
(:mod:`chainrule.core.gradient`'s rule), where a NaN or an infinity came from is
:mod:`chainrule.graph.numerical`'s, the titles are the examples' own
(:func:`chainrule.book.examples.title`). What this module adds is presentation: the
numbers as JSON (non-finite ones as the strings ``"NaN"``, ``"Infinity"``,
``"-Infinity"``), short texts as the drawings print them (``format_value``; backprop and
the numerical derivative side by side to :data:`CHECK_DIGITS` digits), slider ranges
(inside the function's domain), array summaries and heatmap pictures.
"""

from __future__ import annotations

import base64
import io
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.book import examples as book
from chainrule.core.gradient import RTOL
from chainrule.core.messages import Catalog, Coded, coded_fields
from chainrule.graph import draw
from chainrule.graph.explain import rule
from chainrule.graph.expression import Expression, ExpressionError, evaluate, parse
from chainrule.graph.layout import format_value
from chainrule.graph.numerical import non_finite
from chainrule.graph.parts import Edge
from chainrule.graph.record import Graph

BUILT_IN = ("apple", "apple-orange", "sigmoid", "chain", "two-layer-net")
SERVED = "yours"  # the name of the graph given to create_app(graph=...)
FIELDS = frozenset({"name", "expression", "inputs", "edge"})
MAX_INPUTS = 64
MAX_NAME = 64
MAX_EXPRESSION = 2000  # characters; the parser has its own, tighter limits on size
MAX_INPUT_CHECK = 64  # larger inputs get their numerical derivative when clicked
MAX_CHECK = 4096  # elements: no numerical derivative for a larger edge
CHECK_DIGITS = 7  # significant digits of backprop and the numerical derivative, side by side
MAX_SLIDER_POINTS = 2001  # an expression's slider is trimmed to where its value is finite,
MAX_SLIDER_WORK = 4000  # when names × operations stay below this
HEAD = 8  # values of an array shown in its summary
DEFAULT_INPUT = 1.0  # where a new name of an expression starts


MESSAGES = Catalog("graph", {
    "graph.not_object": "send a JSON object, not {kind}",
    "graph.unknown_field": "unknown field {name!r} (known: {known})",
    "graph.name_or_expression": 'send either "name" (a built-in graph) or "expression"',
    "graph.not_string": "{field} must be a string, got {kind}",
    "graph.unknown_graph": "unknown graph {name!r}; known: {known}",
    "graph.unknown_served": "unknown graph {name!r}",
    "graph.expression_too_long": "the expression is longer than {max} characters",
    "graph.expression_empty": "the expression is empty",
    "graph.inputs_not_object": "{field} must be an object, got {kind}",
    "graph.too_many_inputs": "more than {max} inputs",
    "graph.bad_input_name": "bad input name {name!r}",
    "graph.no_such_input": "{graph} has no input {name!r}; its inputs: {inputs}",
    "graph.no_inputs": "{graph} has no input {name!r}; its inputs: none you can change",
    "graph.not_number": "{field} must be a number, got {kind}",
    "graph.too_large": "{field} is too large for a float",
    "graph.not_finite": "{field} must be finite, got {value}",
    "graph.bad_edge": "edge must be an edge id (a whole number >= 0), got {got}",
    "graph.no_edge": "edge {edge} does not exist (this graph has edges 0 to {last})",
    "graph.cannot_compute": "cannot compute this graph: {reason}",  # the library's words
})
"""The graph lab's refusals by code (see :mod:`chainrule.core.messages`); ``kind`` is
one of :data:`KINDS`' words, which the page translates as terms (``msg.term.*``)."""
KINDS = {dict: "an object", list: "a list", str: "a string", bool: "true/false",
         type(None): "null"}
"""How a refusal names the JSON type it got."""


class GraphRequestError(Coded, ValueError):
    """A request the lab cannot answer: ``code`` and ``params`` (:data:`MESSAGES`, or an
    ``ExpressionError``'s), the ``field`` at fault and ``where`` in it (``offset``,
    ``length``)."""

    def __init__(self, code: str, field: str, *, where: dict[str, Any] | None = None,
                 message: str | None = None, **params: Any):
        super().__init__(message if message is not None else MESSAGES.say(code, field=field,
                                                                           **params))
        self.coded(code, field=field, **params)
        self.field = field
        self.where = where or {}


@dataclass
class Spec:
    """A checked ``POST /api/graph`` body."""

    name: str | None = None
    expression: str | None = None
    inputs: dict[str, float | int] = field(default_factory=dict)
    edge: int | None = None


# -- library calls ------------------------------------------------------------------
def _named_scalars(g: Graph) -> dict[str, Any]:
    return {e.name: _plain(e.value) for e in g.edges
            if e.is_input and e.name and _is_scalar(e.value)}


def book_inputs() -> dict[str, dict[str, Any]]:
    """``{graph: {input: default}}`` of the built-in graphs (``book.INPUTS``)."""
    return {n: dict(book.INPUTS[n]) for n in BUILT_IN}


def _example(name: str, inputs: dict[str, Any]) -> Graph:
    return book.EXAMPLES[name](**inputs, backward=True)


def _from_expression(text: str, inputs: dict[str, Any]) -> Graph:
    """The expression's graph at ``inputs``; a name not given starts at 1.0, and a
    given name the expression does not use is ignored (the page sends all it knows)."""
    try:
        names = parse(text).names
        return Graph.from_expression(text, **{n: inputs.get(n, DEFAULT_INPUT) for n in names})
    except ExpressionError as exc:
        raise GraphRequestError(exc.code, "expression", message=str(exc), **exc.params,
                                where={"offset": exc.offset,
                                       "length": max(1, exc.end_offset - exc.offset)}) from None


def _rerun(g: Graph, inputs: dict[str, Any]) -> Graph:
    return g.rerun(**inputs) if inputs else g


def _order(g: Graph) -> dict[str, list[int]]:
    """The node ids in the order forward and backward visit them."""
    return {"forward": g.forward_order(), "backward": g.backward_order()}


# -- requests -----------------------------------------------------------------------
def _check_number(value: Any, where: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GraphRequestError("graph.not_number", where, kind=_kind(value))
    if isinstance(value, int):
        if abs(value) <= 2**53:
            return value
        try:
            value = float(value)
        except OverflowError:
            raise GraphRequestError("graph.too_large", where) from None
    if not math.isfinite(value):
        raise GraphRequestError("graph.not_finite", where, value=str(value))
    return value


def _kind(value: Any) -> str:
    return KINDS.get(type(value), type(value).__name__)


def parse_request(body: Any, names: dict[str, dict[str, Any]]) -> Spec:
    """Check a ``POST /api/graph`` body against the graphs ``names`` (name -> inputs)."""
    if not isinstance(body, dict):
        raise GraphRequestError("graph.not_object", "body", kind=_kind(body))
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise GraphRequestError("graph.unknown_field", unknown[0][:MAX_NAME],
                                name=unknown[0][:MAX_NAME], known=sorted(FIELDS))
    spec = Spec()
    if ("name" in body) == ("expression" in body):
        raise GraphRequestError("graph.name_or_expression", "name")
    if "name" in body:
        name = body["name"]
        if not isinstance(name, str):
            raise GraphRequestError("graph.not_string", "name", kind=_kind(name))
        if name not in names:
            raise GraphRequestError("graph.unknown_graph", "name", name=name[:MAX_NAME],
                                    known=list(names))
        spec.name = name
    else:
        text = body["expression"]
        if not isinstance(text, str):
            raise GraphRequestError("graph.not_string", "expression", kind=_kind(text))
        if len(text) > MAX_EXPRESSION:
            raise GraphRequestError("graph.expression_too_long", "expression",
                                    where={"offset": MAX_EXPRESSION}, max=MAX_EXPRESSION)
        if not text.strip():
            raise GraphRequestError("graph.expression_empty", "expression", where={"offset": 0})
        spec.expression = text
    inputs = body.get("inputs", {})
    if not isinstance(inputs, dict):
        raise GraphRequestError("graph.inputs_not_object", "inputs", kind=_kind(inputs))
    if len(inputs) > MAX_INPUTS:
        raise GraphRequestError("graph.too_many_inputs", "inputs", max=MAX_INPUTS)
    allowed = names.get(spec.name) if spec.name else None
    for key, value in inputs.items():
        if not key.isidentifier() or len(key) > MAX_NAME:
            raise GraphRequestError("graph.bad_input_name", "inputs", name=key[:MAX_NAME])
        if allowed is not None and key not in allowed:
            raise GraphRequestError("graph.no_such_input" if allowed else "graph.no_inputs",
                                    f"inputs.{key}", graph=spec.name, name=key,
                                    inputs=list(allowed))
        spec.inputs[key] = _check_number(value, f"inputs.{key}")
    if "edge" in body:
        edge = body["edge"]
        if isinstance(edge, bool) or not isinstance(edge, int) or edge < 0:
            raise GraphRequestError("graph.bad_edge", "edge", got=str(edge)[:40])
        spec.edge = edge
    return spec


def catalogue(served: Graph | None = None) -> list[dict[str, Any]]:
    """The graphs the lab offers, each ``{"name", "inputs": {name: default}, ...}``."""
    out = []
    if served is not None:
        out.append({"name": SERVED, "inputs": _named_scalars(served), "editable": True})
    for name, inputs in book_inputs().items():
        out.append({"name": name, "inputs": inputs, "editable": True})
    return out


def build(spec: Spec, served: Graph | None = None) -> Graph:
    """The graph that ``spec`` asks for, forward and backward done by the library."""
    if spec.expression is not None:
        return _from_expression(spec.expression, spec.inputs)
    if spec.name == SERVED:
        if served is None:
            raise GraphRequestError("graph.unknown_served", "name", name=SERVED)
        if not served.has_grads:
            served.backward()
        return _rerun(served, spec.inputs)
    return _example(spec.name, spec.inputs)


# -- JSON -----------------------------------------------------------------------------
def _is_scalar(value: Any) -> bool:
    return isinstance(value, (numbers.Number, np.generic)) or (
        isinstance(value, np.ndarray) and value.ndim == 0)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        value = value[()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value) if abs(value) <= 2**53 else float(value)
    return float(value) if isinstance(value, numbers.Real) else value


def _number(value: Any) -> Any:
    """A number as JSON allows it: non-finite floats become strings."""
    value = _plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, complex):
        return str(value)
    return value


def _summary(a: np.ndarray) -> dict[str, Any]:
    flat = np.asarray(a).reshape(-1)
    finite = flat[np.isfinite(flat)] if flat.dtype.kind in "fc" else flat
    out = {"shape": list(a.shape), "dtype": str(a.dtype),
           "head": [_number(v) for v in flat[:HEAD]]}
    if finite.size and a.dtype.kind in "biuf":
        out.update(norm=_number(np.linalg.norm(finite.astype(np.float64))),
                   min=_number(finite.min()), max=_number(finite.max()))
    return out


def value_json(value: Any) -> Any:
    """A scalar as a JSON number; an array as its shape, dtype, first values and norm."""
    if value is None:
        return None
    if _is_scalar(value):
        return _number(value)
    return _summary(np.asarray(value))


def _kind_of(e: Edge) -> str:
    if e.is_input:
        return "constant" if e.is_constant else "input"
    return "intermediate" if e.consumers else "output"


def _slider(lowest: float | None, value: Any, whole: bool = False) -> dict[str, float] | None:
    """A slider range around a value: ``lowest``..R (0..R for prices and counts), or
    -R..R for an input that may be any real number (``lowest`` None)."""
    v = _plain(value)
    if not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    signed = lowest is None or v < lowest
    reach = max(3 * abs(v), 5.0 if signed else 0.0) or 5.0
    if not math.isfinite(reach):  # 3 * v overflowed: the value itself is the end
        reach = abs(v)
    top = 10.0 ** math.floor(math.log10(reach))
    top = next((m * top for m in (1, 2, 5, 10) if math.isfinite(m * top) and m * top >= reach),
               reach)
    top = int(top) if top < 2**53 and top == int(top) else top
    step = 1 if (whole or isinstance(v, int)) and top >= 10 \
        else 10.0 ** math.floor(math.log10(top / 100))
    step = int(step) if 1 <= step < 2**53 else step
    return {"min": -top if signed else lowest, "max": top, "step": step}


def _inside(expression: Expression, name: str, values: dict[str, Any],
            slider: dict[str, float]) -> dict[str, float]:
    """``slider`` trimmed at both ends to where ``expression``'s value is finite when
    ``name`` moves along it (``x * log(x)``: from the first step above 0), the other
    inputs as they are, and reaching the input's own value; unchanged if the value is
    finite nowhere on it."""
    count = math.floor((slider["max"] - slider["min"]) / slider["step"]) + 1
    if count > MAX_SLIDER_POINTS or len(expression.names) * expression.operations \
            > MAX_SLIDER_WORK:
        return slider
    points = slider["min"] + slider["step"] * np.arange(count)
    finite = np.flatnonzero(np.isfinite(np.broadcast_to(
        evaluate(expression, {**values, name: points}), points.shape)))
    if finite.size == 0:
        return slider
    low, high = (_plain(np.round(points[i], 12)) for i in (finite[0], finite[-1]))
    value = _plain(values[name])  # typed outside the domain: the slider still shows it
    return {**slider, "min": min(low, value), "max": max(high, value)}


def _check_numbers(g: Graph, e: Edge) -> dict[str, Any]:
    """The edge's check (``Graph.check``): the numerical derivative, the verdict, and
    the reason where there can be none; backprop and the numerical derivative written
    to the same :data:`CHECK_DIGITS` digits, to compare them."""
    c = g.check(e)
    out = {"numerical": value_json(c.numerical),
           "numerical_text": format_value(_floats(c.numerical), CHECK_DIGITS),
           "grad_check_text": format_value(_floats(e.grad), CHECK_DIGITS),
           "agree": c.agree, "max_abs_diff": _number(c.max_abs_diff),
           "max_rel_error": _number(c.max_rel_error), "rtol": RTOL}
    if c.reason is not None:
        out.update(reason=str(c.reason), **coded_fields("reason", c.reason))
    return out


def _floats(value: Any) -> Any:
    """Numbers as floats (an int gradient is written as a float is)."""
    return float(value) if _is_scalar(value) else np.asarray(value, dtype=np.float64)


def _input_json(g: Graph, e: Edge, slider: dict | None) -> dict[str, Any]:
    out = {"edge": e.index, "value": value_json(e.value),
           "text": format_value(e.value), "grad": value_json(e.grad),
           "grad_text": format_value(e.grad), "editable": slider is not None,
           "slider": slider}
    size = np.size(e.value)
    if e.grad is not None and size <= MAX_INPUT_CHECK:
        out.update(_check_numbers(g, e))
    else:
        out.update(numerical=None, numerical_text="", agree=None)
    return out


def _sliders(g: Graph, spec: Spec) -> dict[str, dict[str, float] | None]:
    """The slider of every named input that can be changed (None for the others)."""
    if spec.expression is not None:
        expression = parse(spec.expression)
        values = {n: g.value(n) for n in expression.names}
        return {n: _inside(expression, n, values, _slider(None, v))
                for n, v in values.items() if _slider(None, v) is not None}
    scalars = book_inputs().get(spec.name, {}) if spec.name != SERVED else _named_scalars(g)
    lowest = book.LOWEST.get(spec.name, {})
    return {e.name: _slider(lowest.get(e.name), e.value, e.name in book.COUNTS)
            for e in g.edges if e.is_input and e.name in scalars and _is_scalar(e.value)}


def _origins(found: dict[str, Any]) -> dict[str, Any]:
    """Where an edge's NaN or infinite value and gradient came from, as messages."""
    out: dict[str, Any] = {}
    for key, why in found.items():
        out[f"{key}_origin"] = str(why)
        out.update(coded_fields(f"{key}_origin", why))
    return out


def describe(g: Graph, spec: Spec) -> dict[str, Any]:
    """The JSON answer of ``POST /api/graph`` (see the README's API section)."""
    sliders = _sliders(g, spec)
    inputs = {e.name: _input_json(g, e, sliders.get(e.name))
              for e in g.edges if e.is_input and e.name}
    bad = non_finite(g)
    out = g.output
    result = {
        "source": {"expression": spec.expression} if spec.expression is not None
        else {"name": spec.name},
        "output": {"edge": out.index, "name": out.name, "value": value_json(out.value),
                   "text": format_value(out.value), **_origins(bad.get(out.index, {}))},
        "inputs": inputs,
        "nodes": [{"id": n.index, "label": n.label, "symbol": n.symbol,
                   "layer": type(n.layer).__name__, "inputs": [e.index for e in n.inputs],
                   "output": n.output.index, "rule": rule(n)} for n in g.nodes],
        "edges": [{"id": e.index, "name": e.name, "kind": _kind_of(e),
                   "from": None if e.producer is None else e.producer.index,
                   "to": [n.index for n, _ in e.consumers],
                   "value": value_json(e.value), "value_text": format_value(e.value),
                   "grad": value_json(e.grad), "grad_text": format_value(e.grad),
                   **_origins(bad.get(e.index, {}))}
                  for e in g.edges],
        "order": _order(g),
        "svg": draw.to_svg(g, interactive=True),
    }
    if spec.name in book.EXAMPLES:
        title = book.title(spec.name, g)
        result.update(title=str(title), **coded_fields("title", title))
    if spec.edge is not None:
        result["check"] = check(g, spec.edge)
    return result


def check(g: Graph, index: int) -> dict[str, Any]:
    """One edge in full: value, gradient, numerical derivative, agreement, heatmaps."""
    if index >= len(g.edges):
        raise GraphRequestError("graph.no_edge", "edge", edge=index, last=len(g.edges) - 1)
    e = g.edges[index]
    out = {"edge": e.index, "name": e.name, "kind": _kind_of(e),
           "from": None if e.producer is None else e.producer.index,
           "to": [n.index for n, _ in e.consumers],
           "value": value_json(e.value), "value_text": format_value(e.value),
           "grad": value_json(e.grad), "grad_text": format_value(e.grad)}
    size = int(np.size(e.value))
    if e.grad is None:
        out.update(numerical=None, numerical_text="", agree=None, why="no gradient")
    elif size > MAX_CHECK:
        out.update(numerical=None, numerical_text="", agree=None, why="too large")
    else:
        out.update(_check_numbers(g, e))
    if not _is_scalar(e.value):
        out["heatmaps"] = {"value": heatmap(e.value), "grad": heatmap(e.grad)}
    return out


# -- pictures -------------------------------------------------------------------------
NEGATIVE = np.array([33, 102, 172], dtype=np.float64)  # blue
POSITIVE = np.array([178, 24, 43], dtype=np.float64)  # red
WHITE = np.array([255, 255, 255], dtype=np.float64)


def heatmap(value: Any, width: int = 400) -> dict[str, Any] | None:
    """An array drawn as a PNG data URL: blue below 0, white at 0, red above.

    A 2-D array is drawn as it is (rows by columns), a 1-D one as one row, more
    dimensions as ``shape[0]`` rows; the colour scale is symmetric, ``±scale``.
    """
    if value is None or _is_scalar(value):
        return None
    try:
        from PIL import Image
    except ImportError:
        return None
    a = np.asarray(value)
    if a.dtype.kind not in "biuf" or a.size == 0:
        return None
    a = a.reshape(1, -1) if a.ndim < 2 else a.reshape(a.shape[0], -1)
    a = a.astype(np.float64)
    finite = np.isfinite(a)
    scale = float(np.abs(a[finite]).max()) if finite.any() else 0.0
    t = np.clip(np.where(finite, a, 0.0) / (scale or 1.0), -1.0, 1.0)[..., None]
    rgb = np.where(t < 0, WHITE + (NEGATIVE - WHITE) * -t, WHITE + (POSITIVE - WHITE) * t)
    rgb[~finite] = (128, 128, 128)
    rows, cols = a.shape
    cell_w = max(1, width // cols)
    cell_h = max(cell_w, min(24, 160 // rows)) if rows <= 160 else 1
    image = Image.fromarray(rgb.round().astype(np.uint8), "RGB")
    image = image.resize((cols * cell_w, rows * cell_h), Image.NEAREST)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return {"image": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode(),
            "scale": _number(scale), "rows": rows, "cols": cols}
