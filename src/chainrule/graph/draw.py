"""Writing a drawn :class:`~chainrule.graph.record.Graph`: SVG, PNG (matplotlib, imported
only then), Graphviz DOT and Mermaid text, from the shapes of
:func:`chainrule.graph.layout.scene`. Nothing here prints.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from chainrule.graph.layout import (
    BOX_FILL,
    FONT_FAMILY,
    GRAD_COLOR,
    Circle,
    Line,
    Poly,
    Text,
    format_value,
    scene,
)
from chainrule.graph.parts import Edge

if TYPE_CHECKING:
    from chainrule.graph.record import Graph


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
