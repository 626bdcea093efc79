"""Where everything of a drawn :class:`~chainrule.graph.record.Graph` goes: the book's
figures as shapes.

Values flow left to right and are written above the arrows; gradients flow right to
left and are written below them, in red. Operations are circles labelled with their
symbol (``×``, ``+``, ``exp``, ``/``); array layers are boxes (``Affine``, ``ReLU``).

Pure Python: :func:`layout` places nodes in columns by depth and rows by a tidy-tree
walk from the output (no recursion, so 10,000-node graphs draw); :func:`scene` turns
that into shapes (:class:`Text`, :class:`Line`, :class:`Circle`, ...), which the
writers of :mod:`chainrule.graph.draw` emit. Nothing here prints.
"""

from __future__ import annotations

import math
import numbers
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.graph.parts import Edge, Node

if TYPE_CHECKING:
    from chainrule.graph.record import Graph

FONT_FAMILY = "DejaVu Sans, Verdana, Helvetica, Arial, sans-serif"
VALUE_COLOR = "#1a1a1a"
GRAD_COLOR = "#d62728"
LINE_COLOR = "#555555"
MUTED_COLOR = "#555555"
BOX_FILL = "#f1f4fa"

LABEL_SIZE = 13  # values and gradients
NAME_SIZE = 14
ROW = 76  # pixels between rows
RADIUS = 19
BOX_H = 34
BEND = 26  # the last stretch of an arrow, where it turns into its node
PAD = 10
MIN_GAP = 64
MARGIN = 16
FAR = 8  # a named input feeding a node more columns away than this starts next to it


# -- text --------------------------------------------------------------------------
def format_value(value: Any, precision: int = 4) -> str:
    """A short label: numbers to ``precision`` significant digits (``2.2``, not
    ``2.2000000000000002``), small arrays by value, other arrays by shape."""
    if value is None:
        return ""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (numbers.Number, np.generic)):
        return _number(value, precision)
    if isinstance(value, (np.ndarray, list, tuple)):
        a = np.asarray(value)
        if a.dtype.kind in "biufc" and a.size <= 4 and a.ndim <= 2 and a.size:
            rows = a if a.ndim == 2 else [a]
            text = ", ".join("[" + ", ".join(_number(v, precision) for v in r) + "]" for r in rows)
            text = f"[{text}]" if a.ndim == 2 else text
            if len(text) <= 28:
                return text
        return str(tuple(a.shape))
    return type(value).__name__


def _number(v: Any, precision: int) -> str:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v) if abs(v) < 10**12 else format(v, f".{precision}g")
    if isinstance(v, complex):
        return format(v, f".{precision}g")
    return format(float(v) + 0.0, f".{precision}g")  # + 0.0 turns -0.0 into 0.0


def text_width(text: str, size: float) -> float:
    """Estimated width of ``text`` in a DejaVu-Sans-like font (no font files needed)."""
    width = 0.0
    for ch in text:
        if ch in "ijlI.,:;!|'()[]{} -/":
            width += 0.36
        elif ch in "mwMW@%×":
            width += 0.86
        elif ch.isupper() or ch in "0123456789+=<>~_#":
            width += 0.68
        else:
            width += 0.6
    return width * size


# -- layout ------------------------------------------------------------------------
@dataclass
class Layout:
    """Columns (by depth) and rows (possibly fractional) of nodes and input edges."""

    node_col: list[int]
    node_row: list[float]
    src_col: dict[int, int]  # edge index -> column, for inputs
    src_row: dict[int, float]


def _rank(edge: Edge) -> int:
    return 2 if edge.producer is not None else (1 if edge.name is not None else 0)


def _split(node: Node) -> tuple[list[Edge], list[Edge]]:
    """Inputs that place the node (centred between them) and those hung below it.

    Inputs that are node outputs outrank named inputs, which outrank constants; a
    lower-ranked input arrives from below, as the ``-1`` and ``tax`` do in the book.
    """
    best = max((_rank(e) for e in node.inputs), default=0)
    main: list[Edge] = []
    hung: list[Edge] = []
    for e in node.inputs:
        target = main if _rank(e) == best else hung
        if e not in target:
            target.append(e)
    return main, hung


def layout(graph: Graph) -> Layout:
    """Place every node and input (iteratively: no recursion limit)."""
    nodes = graph.nodes
    col = [0] * len(nodes)
    for n in nodes:
        col[n.index] = 1 + max((col[e.producer.index] for e in n.inputs if e.producer), default=0)
    src_col = {}
    for e in graph.edges:
        if e.producer is None and e.consumers:
            first = min(col[n.index] for n, _ in e.consumers)
            src_col[e.index] = 0 if e.name is not None and first <= FAR else first - 1
    row: list[float | None] = [None] * len(nodes)
    src_row: dict[int, float] = {}
    taken: dict[int, set[int]] = defaultdict(set)  # column -> half-rows in use
    climbs: dict[int, set[int]] = defaultdict(set)  # column -> half-rows of arrows going up
    below = 0  # the first row below everything placed so far

    def free(c: int, y: float, climbing: bool = True) -> bool:
        q = round(2 * y)
        return not ({q - 1, q, q + 1} & taken[c] or climbing and {q - 1, q, q + 1} & climbs[c])

    def take(c0: int, c1: int, y: float) -> None:
        nonlocal below
        for c in range(c0, c1 + 1):
            taken[c].add(round(2 * y))
        below = max(below, math.floor(y + 0.5) + 1)

    sinks = [n for n in nodes if not n.output.consumers]
    stack = [(n, False) for n in reversed(sinks)]
    while stack:
        node, ready = stack.pop()
        if row[node.index] is not None:
            continue
        main, hung = _split(node)
        if not ready:
            stack.append((node, True))
            stack.extend((e.producer, False) for e in reversed(main)
                         if e.producer is not None and row[e.producer.index] is None)
            continue
        c = col[node.index]
        ys = []
        for e in main:
            if e.producer is not None:
                ys.append(row[e.producer.index])
                continue
            if e.index not in src_row:
                src_row[e.index] = below
                take(src_col[e.index], c - 1, below)
            ys.append(src_row[e.index])
        y = sum(ys) / len(ys) if ys else below
        if not free(c, y):
            y = below
        row[node.index] = y
        ahead = min((col[m.index] for m, _ in node.output.consumers), default=c + 2)
        take(c, ahead - 1, y)
        for e in hung:
            if e.index in src_row:
                continue
            c0, r = src_col[e.index], math.floor(y) + 1
            # a few rows just below the node; failing those, a new row at the bottom
            while r < min(below, math.floor(y) + 4) and not (
                free(c0, r, climbing=False) and all(free(cc, r) for cc in range(c0 + 1, c))
                and not any(h in taken[c] or h in climbs[c]
                            for h in range(round(2 * y) + 2, 2 * r + 2))
            ):
                r += 1
            if r >= min(below, math.floor(y) + 4):
                r = max(r, below)
            src_row[e.index] = r
            take(c0, c - 1, r)
            climbs[c].update(range(round(2 * y) + 2, 2 * r + 1))  # the way up into the node
    return Layout(col, row, src_col, src_row)  # type: ignore[arg-type]


# -- scene: shapes in pixels ---------------------------------------------------------
@dataclass
class Text:
    x: float
    y: float  # baseline
    text: str
    size: float = LABEL_SIZE
    anchor: str = "middle"  # start | middle | end
    color: str = VALUE_COLOR
    cls: str = ""
    weight: str = "normal"


@dataclass
class Line:
    points: list[tuple[float, float]]
    color: str = LINE_COLOR
    width: float = 1.4


@dataclass
class Poly:
    points: list[tuple[float, float]]
    color: str = LINE_COLOR


@dataclass
class Circle:
    cx: float
    cy: float
    r: float


@dataclass
class Rect:
    x: float
    y: float
    w: float
    h: float


@dataclass
class Group:
    cls: str
    attrs: dict[str, str]
    items: list = field(default_factory=list)
    tooltip: str = ""
    data: dict[str, str] = field(default_factory=dict)  # written by to_svg(interactive=True)


@dataclass
class Scene:
    width: float
    height: float
    groups: list[Group]
    title: str | None = None


def _node_shape(node: Node) -> tuple[float, float, str | None]:
    """Half width, half height and the detail line of a node's shape."""
    if node.symbol:
        size = 18 if len(node.symbol) == 1 else 14
        r = max(RADIUS, text_width(node.symbol, size) / 2 + 7)
        return r, r, None
    detail = None
    w = getattr(node.layer, "W", None)
    if isinstance(w, np.ndarray) and w.ndim == 2:
        detail = f"W {w.shape[0]}×{w.shape[1]}"
    width = max(text_width(node.label, 14), text_width(detail or "", 11)) + 2 * PAD
    return width / 2, (BOX_H + (10 if detail else 0)) / 2, detail


def _arrowhead(q: tuple[float, float], p: tuple[float, float]) -> Poly:
    dx, dy = p[0] - q[0], p[1] - q[1]
    n = math.hypot(dx, dy) or 1.0
    dx, dy = dx / n, dy / n
    bx, by = p[0] - 8 * dx, p[1] - 8 * dy
    return Poly([p, (bx - 4 * dy, by + 4 * dx), (bx + 4 * dy, by - 4 * dx)])


def _tooltip(edge: Edge, grad_text: str) -> str:
    who = edge.name or ("constant" if edge.is_constant else f"output of {edge.producer.label}")
    value = edge.value
    if isinstance(value, np.ndarray) and value.size > 4:
        text = f"{who}: {value.dtype} array of shape {value.shape}"
    else:
        text = f"{who} = {format_value(value, 10)}"
    return text + (f"\ngradient = {grad_text}" if grad_text else "")


class _Frame:
    """Pixel positions of a laid-out graph: column centres and widths, row heights, where
    each arrow starts and the route it takes into each consumer."""

    def __init__(self, graph: Graph, lay: Layout, shapes: list, value_text: dict,
                 grad_text: dict, title: str | None):
        self.lay, self.shapes = lay, shapes
        drawn = [e for e in graph.edges if e.consumers or e.producer is not None]
        ncols = 1 + max([*lay.node_col, *lay.src_col.values(), 0])
        col_hw = [0.0] * (ncols + 1)
        for n, (hw, _, _) in zip(graph.nodes, shapes, strict=True):
            col_hw[lay.node_col[n.index]] = max(col_hw[lay.node_col[n.index]], hw)
        gap = [float(MIN_GAP)] * (ncols + 1)
        for e in drawn:
            if e.consumers:
                c = self.src_col(e)
                near = min(lay.node_col[n.index] for n, _ in e.consumers) == c + 1
                words = max(text_width(value_text[e.index], LABEL_SIZE),
                            text_width(grad_text[e.index], LABEL_SIZE))
                gap[c + 1] = max(gap[c + 1], words + 2 * PAD + (BEND if near else 0))
        names = [text_width(e.name, NAME_SIZE) for e in graph.edges
                 if e.producer is None and e.consumers and e.name]
        x = [MARGIN + max(names, default=0) + (10 if names else 0)]
        for c in range(1, ncols + 1):
            x.append(x[c - 1] + col_hw[c - 1] + gap[c] + col_hw[c])
        self.x, self.col_hw, self.drawn = x, col_hw, drawn
        self.top = MARGIN + (30 if title else 0) + ROW / 2
        self.first_col = {e.index: min(lay.node_col[n.index] for n, _ in e.consumers)
                          for e in graph.edges if e.consumers}

    def src_col(self, e: Edge) -> int:
        lay = self.lay
        return lay.src_col[e.index] if e.producer is None else lay.node_col[e.producer.index]

    def ypx(self, row: float) -> float:
        return self.top + row * ROW

    def node_centre(self, n: Node) -> tuple[float, float]:
        return self.x[self.lay.node_col[n.index]], self.ypx(self.lay.node_row[n.index])

    def centre(self, e: Edge) -> tuple[float, float]:
        """Where the arrow of ``e`` starts."""
        if e.producer is None:
            c = self.lay.src_col[e.index]
            return self.x[c] + self.col_hw[c], self.ypx(self.lay.src_row[e.index])
        i = e.producer.index
        return self.x[self.lay.node_col[i]] + self.shapes[i][0], self.ypx(self.lay.node_row[i])

    def approach(self, e: Edge, n: Node) -> float:
        """The height an arrow arrives at: a far consumer's arrow comes over the top."""
        far = self.first_col[e.index] < self.lay.node_col[n.index]
        return self.centre(e)[1] - (ROW / 2 if far else 0)

    def routes(self, nodes: list[Node]) -> dict[tuple[int, int], list[tuple[float, float]]]:
        """``(node, input) -> points`` of every arrow's last stretch into its node."""
        routes = {}
        for n in nodes:
            hw, hh, _ = self.shapes[n.index]
            cx, cy = self.node_centre(n)
            hung = _split(n)[1]
            under = sorted((i for i, e in enumerate(n.inputs)
                            if e in hung and self.centre(e)[1] > cy + 1),
                           key=lambda i, n=n: (self.centre(n.inputs[i])[1], i))
            side = sorted((i for i in range(len(n.inputs)) if i not in under),
                          key=lambda i, n=n: (self.approach(n.inputs[i], n), i))
            split = cx - self.col_hw[self.lay.node_col[n.index]] - BEND
            for rank, i in enumerate(side):  # from the left, spread over the left side
                t = rank - (len(side) - 1) / 2
                if n.symbol:
                    angle = math.radians(t * (50 if len(side) > 2 else 25))
                    port = (cx - hw * math.cos(angle), cy + hw * math.sin(angle))
                else:
                    port = (cx - hw, cy + t * min(10.0, (2 * hh - 8) / max(len(side) - 1, 1)))
                routes[n.index, i] = [(split, self.centre(n.inputs[i])[1]), port]
            for rank, i in enumerate(under):  # hung inputs come up from below, as in the book
                dx = (rank - (len(under) - 1) / 2) * 14
                dy = math.sqrt(max(hw * hw - dx * dx, 0)) if n.symbol else hh
                routes[n.index, i] = [(cx + dx, self.centre(n.inputs[i])[1]),
                                      (cx + dx, cy + dy)]
        return routes


def _edge_group(frame: _Frame, e: Edge, routes: dict, value: str, grad: str) -> tuple[Group, float]:
    """The arrows of ``e`` with its value and gradient, and how far right it reaches."""
    lay, x, col_hw = frame.lay, frame.x, frame.col_hw
    sx, sy = frame.centre(e)
    right = 0.0
    g = Group("edge", {"id": f"e{e.index}", "data-name": e.name or ""},
              tooltip=_tooltip(e, grad),
              data={"data-edge": str(e.index),
                    "data-from": "" if e.producer is None else str(e.producer.index),
                    "data-to": " ".join(str(n.index) for n, _ in e.consumers)})
    if e.consumers:
        c, first = frame.src_col(e), frame.first_col[e.index]
        end = x[c + 1] - col_hw[c + 1] - (BEND if first == c + 1 else 0)
        for n, i in e.consumers:
            route = routes[n.index, i]
            if lay.node_col[n.index] > first and route[0][0] != route[1][0]:
                lane = sy - ROW / 2  # over the nodes in between, under the row above
                route = [(sx + 12, lane), (route[0][0], lane), route[-1]]
            g.items += [Line([(sx, sy), *route]), _arrowhead(route[-2], route[-1])]
    else:  # the result of a sink: an arrow out to the right
        words = max(text_width(value, LABEL_SIZE), text_width(grad, LABEL_SIZE))
        end = sx + max(52.0, words + 2 * PAD)
        g.items += [Line([(sx, sy), (end, sy)]), _arrowhead((sx, sy), (end, sy))]
        if e.name:
            g.items.append(Text(end + 6, sy + 5, e.name, NAME_SIZE, "start", cls="name"))
        right = end + 8 + text_width(e.name or "", NAME_SIZE)
    if e.producer is None and e.name:
        g.items.append(Text(sx - 8, sy + 5, e.name, NAME_SIZE, "end", cls="name"))
    mid = (sx + end) / 2
    g.items.append(Text(mid, sy - 7, value, cls="value"))
    if grad:
        g.items.append(Text(mid, sy + 18, grad, color=GRAD_COLOR, cls="grad"))
    return g, right


def _node_group(frame: _Frame, n: Node) -> Group:
    """A node's circle (an operation) or box (an array layer) with its label."""
    hw, hh, detail = frame.shapes[n.index]
    cx, cy = frame.node_centre(n)
    g = Group("node", {"id": f"n{n.index}", "data-layer": type(n.layer).__name__},
              tooltip=type(n.layer).__name__, data={"data-node": str(n.index)})
    if n.symbol:
        size = 18 if len(n.symbol) == 1 else 14
        g.items += [Circle(cx, cy, hw), Text(cx, cy + 0.36 * size, n.symbol, size, cls="label")]
    else:
        g.items += [Rect(cx - hw, cy - hh, 2 * hw, 2 * hh)]
        ty = cy + 5 - (6 if detail else 0)
        g.items.append(Text(cx, ty, n.label, 14, cls="label"))
        if detail:
            g.items.append(Text(cx, ty + 15, detail, 11, color=MUTED_COLOR, cls="detail"))
    return g


def _notes(bottom: float, *, legend: bool, gradients: bool, caption: str | None,
           title: str | None) -> tuple[Group, float, float]:
    """The legend, caption and title; with the last line's height and the legend's width."""
    notes = Group("legend", {})
    lx = MARGIN
    parts = [("forward: values above the arrows", VALUE_COLOR)] if legend else []
    if legend and gradients:
        parts.append(("backward: gradients below them", GRAD_COLOR))
    for words, color in parts:
        notes.items.append(Text(lx, bottom, words, 12, "start", color, cls="legend"))
        lx += text_width(words, 12) + 24
    for line in (caption or "").splitlines():
        bottom += 19
        notes.items.append(Text(MARGIN, bottom, line, 13, "start", cls="caption"))
    if title:
        notes.items.append(Text(MARGIN, MARGIN + 16, title, 15, "start", cls="title",
                                weight="bold"))
    return notes, bottom, lx


def scene(graph: Graph, *, precision: int = 4, gradients: bool = True,
          title: str | None = None, caption: str | None = None, legend: bool = True) -> Scene:
    """The drawing as shapes in pixel coordinates (shared by the SVG and PNG writers).

    ``legend=False`` leaves out the line explaining values and gradients (a page that
    embeds the drawing says it in its own words).
    """
    lay = layout(graph)
    shapes = [_node_shape(n) for n in graph.nodes]
    value_text = {e.index: format_value(e.value, precision) for e in graph.edges}
    grad_text = {e.index: format_value(e.grad, precision) if gradients else ""
                 for e in graph.edges}
    frame = _Frame(graph, lay, shapes, value_text, grad_text, title)
    routes = frame.routes(graph.nodes)
    groups: list[Group] = []
    right = frame.x[-1]
    for e in frame.drawn:
        group, reach = _edge_group(frame, e, routes, value_text[e.index], grad_text[e.index])
        groups.append(group)
        right = max(right, reach)
    groups += [_node_group(frame, n) for n in graph.nodes]
    rows = [*lay.node_row, *lay.src_row.values(), 0]
    bottom = frame.ypx(max(rows)) + (ROW / 2 + 8 if legend else 24)
    notes, bottom, lx = _notes(bottom, legend=legend, gradients=any(grad_text.values()),
                               caption=caption, title=title)
    groups.append(notes)
    width = max(right, lx, *(text_width(t.text, t.size) + MARGIN for t in notes.items)) + MARGIN
    return Scene(math.ceil(width), math.ceil(bottom + MARGIN), groups, title)


# -- writers ---------------------------------------------------------------------------
