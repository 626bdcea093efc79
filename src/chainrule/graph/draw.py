"""Drawing a recorded :class:`~chainrule.graph.record.Graph` the way the book draws its figures.

Values flow left to right and are written above the arrows; gradients flow right to
left and are written below them, in red. Operations are circles labelled with their
symbol (``×``, ``+``, ``exp``, ``/``); array layers are boxes (``Affine``, ``ReLU``).

Pure Python: :func:`layout` places nodes in columns by depth and rows by a tidy-tree
walk from the output (no recursion, so 10,000-node graphs draw), :func:`scene` turns
that into shapes, and the writers emit SVG, PNG (matplotlib, imported only then),
Graphviz DOT and Mermaid text. Nothing here prints.
"""

from __future__ import annotations

import io
import math
import numbers
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

if TYPE_CHECKING:
    from chainrule.graph.record import Edge, Graph, Node

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


def scene(graph: Graph, *, precision: int = 4, gradients: bool = True,
          title: str | None = None, caption: str | None = None, legend: bool = True) -> Scene:
    """The drawing as shapes in pixel coordinates (shared by the SVG and PNG writers).

    ``legend=False`` leaves out the line explaining values and gradients (a page that
    embeds the drawing says it in its own words).
    """
    lay = layout(graph)
    nodes, shapes = graph.nodes, [_node_shape(n) for n in graph.nodes]
    value_text = {e.index: format_value(e.value, precision) for e in graph.edges}
    grad_text = {e.index: format_value(e.grad, precision) if gradients else ""
                 for e in graph.edges}
    drawn = [e for e in graph.edges if e.consumers or e.producer is not None]

    def src_col(e: Edge) -> int:
        return lay.src_col[e.index] if e.producer is None else lay.node_col[e.producer.index]

    ncols = 1 + max([*lay.node_col, *lay.src_col.values(), 0])
    col_hw = [0.0] * (ncols + 1)
    for n, (hw, _, _) in zip(nodes, shapes, strict=True):
        col_hw[lay.node_col[n.index]] = max(col_hw[lay.node_col[n.index]], hw)
    gap = [float(MIN_GAP)] * (ncols + 1)
    for e in drawn:
        if e.consumers:
            c = src_col(e)
            near = min(lay.node_col[n.index] for n, _ in e.consumers) == c + 1
            words = max(text_width(value_text[e.index], LABEL_SIZE),
                        text_width(grad_text[e.index], LABEL_SIZE))
            gap[c + 1] = max(gap[c + 1], words + 2 * PAD + (BEND if near else 0))
    names = [text_width(e.name, NAME_SIZE) for e in graph.edges
             if e.producer is None and e.consumers and e.name]
    x = [MARGIN + max(names, default=0) + (10 if names else 0)]
    for c in range(1, ncols + 1):
        x.append(x[c - 1] + col_hw[c - 1] + gap[c] + col_hw[c])
    top = MARGIN + (30 if title else 0) + ROW / 2

    def ypx(row: float) -> float:
        return top + row * ROW

    def centre(e: Edge) -> tuple[float, float]:
        """Where the arrow of ``e`` starts."""
        if e.producer is None:
            c = lay.src_col[e.index]
            return x[c] + col_hw[c], ypx(lay.src_row[e.index])
        i = e.producer.index
        return x[lay.node_col[i]] + shapes[i][0], ypx(lay.node_row[i])

    first_col = {e.index: min(lay.node_col[n.index] for n, _ in e.consumers)
                 for e in graph.edges if e.consumers}

    def approach(e: Edge, n: Node) -> float:
        """The height an arrow arrives at: a far consumer's arrow comes over the top."""
        far = first_col[e.index] < lay.node_col[n.index]
        return centre(e)[1] - (ROW / 2 if far else 0)

    routes: dict[tuple[int, int], list[tuple[float, float]]] = {}  # (node, input) -> points
    for n in nodes:
        hw, hh, _ = shapes[n.index]
        cx, cy = x[lay.node_col[n.index]], ypx(lay.node_row[n.index])
        hung = _split(n)[1]
        under = sorted((i for i, e in enumerate(n.inputs) if e in hung and centre(e)[1] > cy + 1),
                       key=lambda i, n=n: (centre(n.inputs[i])[1], i))
        side = sorted((i for i in range(len(n.inputs)) if i not in under),
                      key=lambda i, n=n: (approach(n.inputs[i], n), i))
        split = x[lay.node_col[n.index]] - col_hw[lay.node_col[n.index]] - BEND
        for rank, i in enumerate(side):  # from the left, spread over the left side
            t = rank - (len(side) - 1) / 2
            if n.symbol:
                angle = math.radians(t * (50 if len(side) > 2 else 25))
                port = (cx - hw * math.cos(angle), cy + hw * math.sin(angle))
            else:
                port = (cx - hw, cy + t * min(10.0, (2 * hh - 8) / max(len(side) - 1, 1)))
            routes[n.index, i] = [(split, centre(n.inputs[i])[1]), port]
        for rank, i in enumerate(under):  # hung inputs come up from below, as in the book
            dx = (rank - (len(under) - 1) / 2) * 14
            dy = math.sqrt(max(hw * hw - dx * dx, 0)) if n.symbol else hh
            routes[n.index, i] = [(cx + dx, centre(n.inputs[i])[1]), (cx + dx, cy + dy)]

    groups: list[Group] = []
    right = x[-1]
    for e in drawn:
        sx, sy = centre(e)
        g = Group("edge", {"id": f"e{e.index}", "data-name": e.name or ""},
                  tooltip=_tooltip(e, grad_text[e.index]),
                  data={"data-edge": str(e.index),
                        "data-from": "" if e.producer is None else str(e.producer.index),
                        "data-to": " ".join(str(n.index) for n, _ in e.consumers)})
        if e.consumers:
            c, first = src_col(e), first_col[e.index]
            end = x[c + 1] - col_hw[c + 1] - (BEND if first == c + 1 else 0)
            for n, i in e.consumers:
                route = routes[n.index, i]
                if lay.node_col[n.index] > first and route[0][0] != route[1][0]:
                    lane = sy - ROW / 2  # over the nodes in between, under the row above
                    route = [(sx + 12, lane), (route[0][0], lane), route[-1]]
                g.items += [Line([(sx, sy), *route]), _arrowhead(route[-2], route[-1])]
        else:  # the result of a sink: an arrow out to the right
            words = max(text_width(value_text[e.index], LABEL_SIZE),
                        text_width(grad_text[e.index], LABEL_SIZE))
            end = sx + max(52.0, words + 2 * PAD)
            g.items += [Line([(sx, sy), (end, sy)]), _arrowhead((sx, sy), (end, sy))]
            if e.name:
                g.items.append(Text(end + 6, sy + 5, e.name, NAME_SIZE, "start", cls="name"))
            right = max(right, end + 8 + text_width(e.name or "", NAME_SIZE))
        if e.producer is None and e.name:
            g.items.append(Text(sx - 8, sy + 5, e.name, NAME_SIZE, "end", cls="name"))
        mid = (sx + end) / 2
        g.items.append(Text(mid, sy - 7, value_text[e.index], cls="value"))
        if grad_text[e.index]:
            g.items.append(Text(mid, sy + 18, grad_text[e.index], color=GRAD_COLOR, cls="grad"))
        groups.append(g)

    for n in nodes:
        hw, hh, detail = shapes[n.index]
        cx, cy = x[lay.node_col[n.index]], ypx(lay.node_row[n.index])
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
        groups.append(g)

    rows = [*lay.node_row, *lay.src_row.values(), 0]
    bottom = ypx(max(rows)) + (ROW / 2 + 8 if legend else 24)
    notes = Group("legend", {})
    lx = MARGIN
    parts = [("forward: values above the arrows", VALUE_COLOR)] if legend else []
    if legend and any(grad_text.values()):
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
    groups.append(notes)
    width = max(right, lx, *(text_width(t.text, t.size) + MARGIN for t in notes.items)) + MARGIN
    return Scene(math.ceil(width), math.ceil(bottom + MARGIN), groups, title)


# -- writers ---------------------------------------------------------------------------
def _n(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _svg_item(item) -> str:
    if isinstance(item, Text):
        weight = f' font-weight="{item.weight}"' if item.weight != "normal" else ""
        cls = f' class="{item.cls}"' if item.cls else ""
        return (f'<text x="{_n(item.x)}" y="{_n(item.y)}" font-size="{_n(item.size)}" '
                f'text-anchor="{item.anchor}" fill="{item.color}"{weight}{cls}>'
                f"{escape(item.text)}</text>")
    if isinstance(item, Line):
        pts = " ".join(f"{_n(px)},{_n(py)}" for px, py in item.points)
        return (f'<polyline points="{pts}" fill="none" stroke="{item.color}" '
                f'stroke-width="{_n(item.width)}" stroke-linejoin="round"/>')
    if isinstance(item, Poly):
        pts = " ".join(f"{_n(px)},{_n(py)}" for px, py in item.points)
        return f'<polygon points="{pts}" fill="{item.color}"/>'
    if isinstance(item, Circle):
        return (f'<circle cx="{_n(item.cx)}" cy="{_n(item.cy)}" r="{_n(item.r)}" '
                f'fill="#ffffff" stroke="#333333" stroke-width="1.6"/>')
    return (f'<rect x="{_n(item.x)}" y="{_n(item.y)}" width="{_n(item.w)}" '
            f'height="{_n(item.h)}" rx="6" fill="{BOX_FILL}" stroke="#333333" '
            'stroke-width="1.6"/>')


HIGHLIGHT_COLOR = "#e8a100"
HIT_WIDTH = 14  # pixels around an arrow that take a click, in interactive drawings


def to_svg(graph: Graph, *, interactive: bool = False, highlight: int | None = None,
           **options) -> str:
    """A standalone SVG document (no scripts, no external fonts or files).

    Options: ``precision`` (significant digits, 4), ``gradients`` (True),
    ``title`` and ``caption`` (text above and below the graph), ``legend`` (True).
    ``highlight`` (a node index) gives that node the class ``current`` and an amber
    outline. ``interactive=True`` makes a fragment for a web page: no XML declaration,
    no English tooltips or legend (the page has its own words), ``data-edge``,
    ``data-from``, ``data-to`` and ``data-node`` attributes on the groups, and a wide
    invisible ``hit`` line under every arrow so that it is easy to click.
    """
    if interactive:
        options.setdefault("legend", False)
    sc = scene(graph, **options)
    w, h = sc.width, sc.height
    out = [] if interactive else ['<?xml version="1.0" encoding="UTF-8"?>']
    out.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
               f'viewBox="0 0 {w} {h}" font-family={quoteattr(FONT_FAMILY)}>')
    if sc.title:
        out.append(f"<title>{escape(sc.title)}</title>")
    if highlight is not None and not interactive:
        out.append(f"<style>.current circle, .current rect {{ stroke: {HIGHLIGHT_COLOR}; "
                   "stroke-width: 3.5; }</style>")
    out.append(f'<rect width="{w}" height="{h}" fill="#ffffff"/>')
    for g in sc.groups:
        if interactive and not g.items:
            continue
        attrs = {**g.attrs, **(g.data if interactive else {})}
        cls = g.cls
        if highlight is not None and g.data.get("data-node") == str(highlight):
            cls += " current"
        out.append(f'<g class="{cls}"' + "".join(f" {k}={quoteattr(v)}"
                                                for k, v in attrs.items()) + ">")
        if g.tooltip and not interactive:
            out.append(f"<title>{escape(g.tooltip)}</title>")
        for item in g.items:
            if interactive and isinstance(item, Line):
                pts = " ".join(f"{_n(px)},{_n(py)}" for px, py in item.points)
                out.append(f'<polyline class="hit" points="{pts}" fill="none" '
                           f'stroke="transparent" stroke-width="{HIT_WIDTH}"/>')
            out.append(_svg_item(item))
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def to_png(graph: Graph, *, scale: float = 2.0, **options) -> bytes:
    """The SVG's picture as PNG bytes, drawn by matplotlib's Agg (no system binaries)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle as MplCircle
    from matplotlib.patches import FancyBboxPatch, Polygon

    sc = scene(graph, **options)
    fig = Figure(figsize=(sc.width / 72, sc.height / 72), dpi=72 * scale, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, sc.width)
    ax.set_ylim(sc.height, 0)
    ax.set_axis_off()
    align = {"start": "left", "middle": "center", "end": "right"}
    for g in sc.groups:
        z = 3 if g.cls == "node" else 1  # nodes cover the ends of their arrows
        for it in g.items:
            if isinstance(it, Text):
                ax.text(it.x, it.y, it.text, fontsize=it.size, ha=align[it.anchor],
                        va="baseline", color=it.color, fontweight=it.weight,
                        family="DejaVu Sans", zorder=z + 1)
            elif isinstance(it, Line):
                xs, ys = zip(*it.points, strict=True)
                ax.plot(xs, ys, color=it.color, linewidth=it.width, solid_joinstyle="round",
                        zorder=z)
            elif isinstance(it, Poly):
                ax.add_patch(Polygon(it.points, closed=True, color=it.color, lw=0, zorder=z))
            elif isinstance(it, Circle):
                ax.add_patch(MplCircle((it.cx, it.cy), it.r, facecolor="white",
                                       edgecolor="#333333", lw=1.6, zorder=z))
            else:
                ax.add_patch(FancyBboxPatch((it.x, it.y), it.w, it.h,
                                            boxstyle="round,pad=0,rounding_size=6",
                                            facecolor=BOX_FILL, edgecolor="#333333",
                                            lw=1.6, zorder=z))
    buf = io.BytesIO()
    canvas.print_png(buf)
    return buf.getvalue()


def _dot_text(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def _edge_label(e: Edge, precision: int, gradients: bool, html: bool) -> str:
    value = format_value(e.value, precision)
    grad = format_value(e.grad, precision) if gradients else ""
    if html:
        value = escape(value)
        return value + (f'<BR/><FONT COLOR="{GRAD_COLOR}">{escape(grad)}</FONT>' if grad else "")
    return value + (f"<br/>grad {grad}" if grad else "")


def to_dot(graph: Graph, *, precision: int = 4, gradients: bool = True,
           title: str | None = None, caption: str | None = None) -> str:
    """Graphviz source: ``dot -Tsvg graph.dot -o graph.svg`` draws it."""
    out = ["digraph chainrule {", "  rankdir=LR;",
           '  graph [fontname="Helvetica"]; node [fontname="Helvetica"];',
           '  edge [fontname="Helvetica", fontsize=11];']
    if title or caption:
        label = "\n".join(t for t in (title, caption) if t)
        out.append(f'  labelloc=t; label="{_dot_text(label)}";')
    for e in graph.edges:
        if e.producer is None and e.consumers:
            if e.name:
                out.append(f'  s{e.index} [shape=plaintext, label="{_dot_text(e.name)}"];')
            else:
                out.append(f'  s{e.index} [shape=point, width=0.06];')
        elif e.producer is not None and not e.consumers:
            out.append(f'  o{e.index} [shape=plaintext, label="{_dot_text(e.name or "")}"];')
    for n in graph.nodes:
        shape = "circle" if n.symbol else "box, style=rounded"
        out.append(f'  n{n.index} [shape={shape}, label="{_dot_text(n.label)}"];')
    for e in graph.edges:
        tail = f"s{e.index}" if e.producer is None else f"n{e.producer.index}"
        label = _edge_label(e, precision, gradients, html=True)
        heads = [f"n{n.index}" for n, _ in e.consumers]
        if e.producer is not None and not e.consumers:
            heads = [f"o{e.index}"]
        out.extend(f"  {tail} -> {head} [label=<{label}>];" for head in heads)
    out.append("}")
    return "\n".join(out) + "\n"


def _mermaid_text(s: str) -> str:
    return s.replace('"', "#quot;")


def to_mermaid(graph: Graph, *, precision: int = 4, gradients: bool = True,
               title: str | None = None, caption: str | None = None) -> str:
    """A Mermaid flowchart (renders on GitHub inside a ```mermaid block)."""
    out = [f"---\ntitle: {title}\n---"] if title else []
    out += ["flowchart LR", "  classDef io fill:none,stroke:none"]
    for e in graph.edges:
        if e.producer is None and e.consumers:
            text = e.name or format_value(e.value, precision)
            out.append(f'  s{e.index}["{_mermaid_text(text)}"]:::io')
        elif e.producer is not None and not e.consumers:
            out.append(f'  o{e.index}["{_mermaid_text(e.name or " ")}"]:::io')
    for n in graph.nodes:
        text = _mermaid_text(n.label)
        out.append(f'  n{n.index}(("{text}"))' if n.symbol else f'  n{n.index}["{text}"]')
    for e in graph.edges:
        tail = f"s{e.index}" if e.producer is None else f"n{e.producer.index}"
        label = _mermaid_text(_edge_label(e, precision, gradients, html=False))
        heads = [f"n{n.index}" for n, _ in e.consumers]
        if e.producer is not None and not e.consumers:
            heads = [f"o{e.index}"]
        out.extend(f'  {tail} -->|"{label}"| {head}' for head in heads)
    out.extend(f"  %% {line}" for line in (caption or "").splitlines())
    return "\n".join(out) + "\n"


FORMATS = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot",
           ".mmd": "mermaid", ".mermaid": "mermaid"}


def save(graph: Graph, path: str | Path, **options) -> Path:
    """Write the drawing in the format named by the suffix of ``path``."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"cannot tell the drawing format of {str(path)!r}: "
                         f"use one of {', '.join(FORMATS)}")
    if kind == "png":
        path.write_bytes(to_png(graph, **options))
    else:
        writer = {"svg": to_svg, "dot": to_dot, "mermaid": to_mermaid}[kind]
        path.write_text(writer(graph, **options), encoding="utf-8")
    return path
