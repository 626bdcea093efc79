"""Drawing recorded graphs: SVG structure and numbers, layout, DOT, Mermaid, PNG."""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from chainrule.book import examples as book
from chainrule.core.operations import AddLayer, MulLayer
from chainrule.graph import draw
from chainrule.graph.record import Graph

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.encode("utf-8"))


def edge_groups(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("id"): g for g in root.iter(f"{SVG}g") if g.get("class") == "edge"}


def texts(group: ET.Element, cls: str) -> list[ET.Element]:
    return [t for t in group.iter(f"{SVG}text") if t.get("class") == cls]


def line_points(group: ET.Element) -> list[tuple[float, float]]:
    pts = group.find(f"{SVG}polyline").get("points").split()
    return [tuple(map(float, p.split(","))) for p in pts]


def node_centres(root: ET.Element) -> dict[str, tuple[float, float, float]]:
    """node id -> (cx, cy, half width)."""
    out = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") != "node":
            continue
        c = g.find(f"{SVG}circle")
        if c is not None:
            out[g.get("id")] = (float(c.get("cx")), float(c.get("cy")), float(c.get("r")))
        else:
            r = g.find(f"{SVG}rect")
            w = float(r.get("width"))
            out[g.get("id")] = (float(r.get("x")) + w / 2,
                                float(r.get("y")) + float(r.get("height")) / 2, w / 2)
    return out


def check_edge(group, value: str, grad: str | None):
    """The value is written above the arrow, the gradient below it in the gradient colour."""
    (v,) = texts(group, "value")
    assert v.text == value
    y_line = line_points(group)[0][1]
    assert float(v.get("y")) < y_line
    gs = texts(group, "grad")
    if grad is None:
        assert gs == []
        return
    (g,) = gs
    assert g.text == grad
    assert float(g.get("y")) - 10 > y_line  # the baseline sits a whole line below
    assert g.get("fill") == draw.GRAD_COLOR != v.get("fill")
    assert abs(float(g.get("x")) - float(v.get("x"))) < 1  # one above the other


def test_apple_orange_svg_has_the_books_numbers_on_the_right_edges():
    g = book.apple_orange()
    root = parse(g.to_svg())
    groups = edge_groups(root)
    expected = {"apple": ("100", "2.2"), "apple_num": ("2", "110"), "orange": ("150", "3.3"),
                "orange_num": ("3", "165"), "tax": ("1.1", "650")}
    for name, (value, grad) in expected.items():
        group = groups[f"e{g[name].index}"]
        assert group.get("data-name") == name
        (label,) = texts(group, "name")
        assert label.text == name
        check_edge(group, value, grad)
        # the name is written at the arrow's start, the numbers to its right
        assert float(label.get("x")) < float(texts(group, "value")[0].get("x"))

    mul_tax = g.output.producer
    all_price = mul_tax.inputs[0]
    apple_price, orange_price = all_price.producer.inputs
    check_edge(groups[f"e{apple_price.index}"], "200", "1.1")
    check_edge(groups[f"e{orange_price.index}"], "450", "1.1")
    check_edge(groups[f"e{all_price.index}"], "650", "1.1")
    check_edge(groups[f"e{g.output.index}"], "715", "1")

    # every arrow ends on the node it feeds, and values flow left to right
    nodes = node_centres(root)
    for e in g.edges:
        for node, _ in e.consumers:
            cx, cy, r = nodes[f"n{node.index}"]
            end = line_points(groups[f"e{e.index}"])[-1]
            assert math.hypot(end[0] - cx, end[1] - cy) == pytest.approx(r, abs=1)
            assert line_points(groups[f"e{e.index}"])[0][0] < cx
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "label"]
    assert sorted(labels) == ["+", "×", "×", "×"]


def test_svg_document_is_standalone_and_sized():
    root = parse(book.apple().to_svg(title="Apples & <tax>"))
    assert root.tag == f"{SVG}svg"
    w, h = int(root.get("width")), int(root.get("height"))
    assert root.get("viewBox") == f"0 0 {w} {h}"
    assert "sans-serif" in root.get("font-family")
    assert root.find(f"{SVG}title").text == "Apples & <tax>"
    assert not any(el.tag.endswith(("script", "image", "style")) for el in root.iter())
    # everything drawn lies inside the picture
    for t in root.iter(f"{SVG}text"):
        assert 0 <= float(t.get("x")) <= w and 0 <= float(t.get("y")) <= h


def test_text_is_escaped():
    with Graph() as g:
        x = g.input('a<b & "c"', 2.0)
        MulLayer().forward(x, 3.0)
    g.backward()
    root = parse(g.to_svg(caption="1 < 2 & 3 > 2"))
    names = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "name"]
    assert names == ['a<b & "c"']
    assert '"c"' not in g.to_dot().replace('\\"c\\"', "")
    assert '"c"' not in g.to_mermaid().replace("#quot;c#quot;", "")


def test_before_backward_only_values_are_drawn():
    root = parse(book.apple_orange(backward=False).to_svg())
    assert [t for t in root.iter(f"{SVG}text") if t.get("class") == "grad"] == []
    assert "715" in [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "value"]
    legend = " ".join(t.text for t in root.iter(f"{SVG}text") if t.get("class") == "legend")
    assert "backward" not in legend
    hidden = parse(book.apple_orange().to_svg(gradients=False))
    assert [t for t in hidden.iter(f"{SVG}text") if t.get("class") == "grad"] == []


@pytest.mark.parametrize("value, text", [
    (2.2000000000000002, "2.2"), (110.00000000000001, "110"), (220.00000000000003, "220"),
    (-0.0, "0"), (3, "3"), (np.float32(0.5), "0.5"), (np.float64(0.19661193324148188), "0.1966"),
    (np.array(1.5), "1.5"), (np.array([1.0, 2.0]), "[1, 2]"),
    (np.array([[1, 2], [3, 4]]), "[[1, 2], [3, 4]]"), (np.zeros((2, 784)), "(2, 784)"),
    (np.zeros(5), "(5,)"), (None, ""), (True, "True"), (1e-20, "1e-20"),
])
def test_format_value(value, text):
    assert draw.format_value(value) == text


def test_sigmoid_figure_has_constants_and_the_formula():
    g, options = book.figure("sigmoid")
    root = parse(g.to_svg(**options))
    groups = edge_groups(root)
    constants = [e for e in g.edges if e.is_constant]
    assert [texts(groups[f"e{e.index}"], "value")[0].text for e in constants] == ["-1", "1"]
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "label"]
    assert labels == ["×", "exp", "+", "/"]
    check_edge(groups[f"e{g['x'].index}"], "1", "0.1966")
    check_edge(groups[f"e{g['y'].index}"], "0.7311", "1")
    caption = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "caption"]
    assert "dout · y · (1 − y) = 0.1966" in caption[0]
    # the main line is straight: every node on the row of x
    ys = {round(cy) for _, cy, _ in node_centres(root).values()}
    assert len(ys) == 1


def test_two_layer_net_figure_shows_shapes_and_boxes():
    g, options = book.figure("two-layer-net")
    root = parse(g.to_svg(**options))
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "label"]
    assert labels == ["Affine", "ReLU", "Affine", "Softmax-with-Loss"]
    assert root.findall(f".//{SVG}rect[@rx]") and not root.findall(f".//{SVG}circle")
    groups = edge_groups(root)
    check_edge(groups[f"e{g['x'].index}"], "(2, 784)", "(2, 784)")
    check_edge(groups[f"e{g['t'].index}"], "(2, 10)", None)
    check_edge(groups[f"e{g['L'].index}"], "2.306", "1")


def _overlaps(root) -> list:
    nodes = list(node_centres(root).values())
    return [(a, b) for i, a in enumerate(nodes) for b in nodes[i + 1:]
            if abs(a[0] - b[0]) < a[2] + b[2] and abs(a[1] - b[1]) < 40]


@pytest.mark.parametrize("name", list(book.EXAMPLES))
def test_book_figures_have_no_overlapping_nodes(name):
    g, options = book.figure(name)
    assert _overlaps(parse(g.to_svg(**options))) == []


def test_shared_values_draw_without_overlap():
    with Graph() as g:
        x = g.input("x", 2.0)
        a = MulLayer().forward(x, 3.0)
        b = AddLayer().forward(x, 1.0)
        c = AddLayer().forward(x, x)
        AddLayer().forward(MulLayer().forward(a, b), c)
    g.backward()
    root = parse(g.to_svg())
    assert _overlaps(root) == []
    assert len(edge_groups(root)) == len(g.edges)


def test_ten_thousand_nodes_draw():
    with Graph() as g:
        y = g.input("x", 0.5)
        for i in range(10_000):
            y = (AddLayer() if i % 2 else MulLayer()).forward(y, 1.0)
    g.backward()
    root = parse(g.to_svg())
    assert len(node_centres(root)) == 10_000
    assert g.to_dot().count("->") == 20_001
    assert g.to_mermaid().count("-->") == 20_001


def test_dot_and_mermaid():
    g = book.apple_orange()
    dot = g.to_dot()
    assert dot.startswith("digraph chainrule {") and dot.rstrip().endswith("}")
    assert "rankdir=LR" in dot and 'label="apple_num"' in dot
    assert f'<FONT COLOR="{draw.GRAD_COLOR}">650</FONT>' in dot
    assert dot.count("shape=circle") == 4
    mermaid = g.to_mermaid()
    assert mermaid.startswith("flowchart LR")
    assert '-->|"1.1<br/>grad 650"|' in mermaid and '(("×"))' in mermaid


def test_png_matches_the_svg_picture():
    from PIL import Image

    g = book.apple_orange()
    sc = draw.scene(g)
    png = g.to_png(scale=1)
    assert png.startswith(b"\x89PNG")
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (sc.width, sc.height)
    pixels = np.asarray(image).reshape(-1, 3).astype(int)
    red = (pixels[:, 0] > 150) & (pixels[:, 1] < 100) & (pixels[:, 2] < 100)
    dark = pixels.sum(axis=1) < 150
    assert red.sum() > 50 and dark.sum() > 200


def test_save_picks_the_format_from_the_suffix(tmp_path):
    g = book.apple()
    for suffix, start in [(".svg", "<?xml"), (".dot", "digraph"), (".gv", "digraph"),
                          (".mmd", "flowchart"), (".mermaid", "flowchart")]:
        g.save(tmp_path / f"g{suffix}")
        assert (tmp_path / f"g{suffix}").read_text(encoding="utf-8").startswith(start)
    with pytest.raises(ValueError, match="format"):
        g.save(tmp_path / "g.jpg")
    assert g._repr_svg_() == g.to_svg()
