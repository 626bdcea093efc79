"""The graph lab's JSON API returns the library's numbers: the book's, and the chain rule's."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from lab_tools import lab_client

from chainrule.book import examples as book
from chainrule.graph.record import Graph
from chainrule.web import create_app


@pytest.fixture(scope="module")
def client():
    with lab_client(create_app()) as c:
        yield c


def post(client, **body):
    r = client.post("/api/graph", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def grads(answer):
    return {name: i["grad"] for name, i in answer["inputs"].items()}


def test_graphs_lists_the_chapters_graphs_with_defaults(client):
    r = client.get("/api/graphs")
    assert r.status_code == 200
    listing = {g["name"]: g for g in r.json()["graphs"]}
    assert {"apple", "apple-orange", "sigmoid", "two-layer-net"} <= set(listing)
    assert listing["apple-orange"]["inputs"] == {
        "apple": 100, "apple_num": 2, "orange": 150, "orange_num": 3, "tax": 1.1}
    assert listing["sigmoid"]["inputs"] == {"x": 1.0}
    assert r.json()["default"] == "apple"


def test_apple_orange_gives_the_books_numbers(client):
    a = post(client, name="apple-orange")
    assert a["output"]["name"] == "price"
    assert a["output"]["value"] == pytest.approx(715)
    assert a["output"]["text"] == "715"
    g = grads(a)
    assert g == pytest.approx({"apple": 2.2, "apple_num": 110, "orange": 3.3,
                               "orange_num": 165, "tax": 650})
    assert {i["grad_text"] for i in a["inputs"].values()} == {"2.2", "110", "3.3", "165", "650"}
    # four nodes: two ×, a +, a ×; backward visits them in reverse
    assert [n["symbol"] for n in a["nodes"]] == ["×", "×", "+", "×"]
    assert a["order"]["backward"] == a["order"]["forward"][::-1]
    assert sorted(a["order"]["forward"]) == [n["id"] for n in a["nodes"]]
    # every edge: from its producer to its consumers, with value and gradient
    by_id = {e["id"]: e for e in a["edges"]}
    out = by_id[a["output"]["edge"]]
    assert out["kind"] == "output" and out["to"] == [] and out["grad"] == 1
    add = next(n for n in a["nodes"] if n["symbol"] == "+")
    assert by_id[add["output"]]["value"] == pytest.approx(650)
    assert by_id[add["output"]]["grad"] == pytest.approx(1.1)
    assert [by_id[i]["value"] for i in add["inputs"]] == pytest.approx([200, 450])
    for e in a["edges"]:
        assert e["from"] is None or add["id"] in e["to"] or e["kind"] != "input"
    # the drawing: the same numbers, an element per node and per edge
    svg = a["svg"]
    assert svg.startswith("<svg") and "<?xml" not in svg
    for text in ("715", "650", "2.2", "110", "3.3", "165", "1.1"):
        assert f">{text}</text>" in svg
    assert len(re.findall(r'data-node="\d+"', svg)) == len(a["nodes"])
    assert len(re.findall(r'data-edge="\d+"', svg)) == len(a["edges"])


def test_sigmoid_graph_agrees_with_the_fused_layer(client):
    a = post(client, name="sigmoid")
    y, dx = book.sigmoid_layer(1.0)
    assert a["output"]["value"] == pytest.approx(y, rel=1e-12)
    assert a["inputs"]["x"]["grad"] == pytest.approx(dx, rel=1e-12)
    assert [n["symbol"] for n in a["nodes"]] == ["×", "exp", "+", "/"]
    constants = [e for e in a["edges"] if e["kind"] == "constant"]
    assert sorted(e["value"] for e in constants) == [-1, 1]


@pytest.mark.parametrize("x", [-3.0, 0.0, 0.5, 4.0])
def test_sigmoid_graph_moves_with_x_as_the_fused_layer_does(client, x):
    a = post(client, name="sigmoid", inputs={"x": x})
    y, dx = book.sigmoid_layer(x)
    assert a["output"]["value"] == pytest.approx(y, rel=1e-12)
    assert a["inputs"]["x"]["grad"] == pytest.approx(dx, rel=1e-12)
    assert a["inputs"]["x"]["numerical"] == pytest.approx(dx, rel=1e-6)
    assert a["inputs"]["x"]["agree"] is True


def test_changing_the_apples_price_moves_every_number_by_the_chain_rule(client):
    a = post(client, name="apple-orange", inputs={"apple": 150})
    # price = (apple * apple_num + orange * orange_num) * tax
    assert a["output"]["value"] == pytest.approx((150 * 2 + 150 * 3) * 1.1)
    assert grads(a) == pytest.approx({
        "apple": 2 * 1.1,           # d/dapple = apple_num * tax: unchanged
        "apple_num": 150 * 1.1,     # d/dapple_num = apple * tax: moved
        "orange": 3 * 1.1,
        "orange_num": 150 * 1.1,
        "tax": 150 * 2 + 150 * 3,   # d/dtax = all_price: moved
    })
    by_id = {e["id"]: e for e in a["edges"]}
    add = next(n for n in a["nodes"] if n["symbol"] == "+")
    assert by_id[add["output"]]["value"] == pytest.approx(750)
    assert a["inputs"]["apple"]["value"] == 150
    # every input has its numerical derivative, and they agree
    for name, i in a["inputs"].items():
        assert i["numerical"] == pytest.approx(i["grad"], rel=1e-6), name
        assert i["agree"] is True
        assert i["editable"] and i["slider"]["min"] <= i["value"] <= i["slider"]["max"]


def test_chain_rule_example_and_expression(client):
    for body in ({"name": "chain", "inputs": {"x": 1, "y": 2}},
                 {"expression": "(x + y) ** 2", "inputs": {"x": 1, "y": 2}}):
        a = post(client, **body)
        assert a["output"]["value"] == pytest.approx(9)
        assert grads(a) == pytest.approx({"x": 6, "y": 6})
        assert all(i["agree"] for i in a["inputs"].values())
        assert [i["numerical"] for i in a["inputs"].values()] == pytest.approx([6, 6], rel=1e-6)


def test_clicking_an_edge_checks_that_intermediate_value(client):
    a = post(client, expression="(x + y) ** 2", inputs={"x": 1, "y": 2})
    inner = next(e for e in a["edges"] if e["kind"] == "intermediate")
    c = post(client, expression="(x + y) ** 2", inputs={"x": 1, "y": 2}, edge=inner["id"])["check"]
    assert c["edge"] == inner["id"] and c["value"] == pytest.approx(3)
    assert c["grad"] == pytest.approx(6)  # dz/d(x + y) = 2 (x + y)
    assert c["numerical"] == pytest.approx(6, rel=1e-6) and c["agree"] is True


def test_rules_name_the_actual_numbers(client):
    a = post(client, name="apple")
    tax_node = a["nodes"][a["order"]["backward"][0]]
    text = " ".join([tax_node["rule"]["forward"], *tax_node["rule"]["backward"]])
    for number in ("200", "1.1", "220"):
        assert number in text


def test_two_layer_net_edges_open_as_heatmaps(client):
    a = post(client, name="two-layer-net")
    x = a["inputs"]["x"]
    assert x["value"]["shape"] == [2, 784] and x["grad"]["shape"] == [2, 784]
    assert x["editable"] is False and x["slider"] is None
    assert a["inputs"]["t"]["grad"] is None  # the labels get no gradient
    assert a["output"]["name"] == "L" and isinstance(a["output"]["value"], float)
    boxes = [n["label"] for n in a["nodes"]]
    assert boxes[0] == "Affine" and boxes[-1] == "Softmax-with-Loss"
    hidden = a["nodes"][0]["output"]
    c = post(client, name="two-layer-net", edge=hidden)["check"]
    assert c["value"]["shape"] == [2, 50]
    v = c["value"]
    assert v["norm"] > 0 and v["min"] <= v["head"][0] <= v["max"]
    for key in ("value", "grad"):
        image = c["heatmaps"][key]
        assert image["image"].startswith("data:image/png;base64,")
        assert (image["rows"], image["cols"]) == (2, 50)
    # the picture is the array: decode it and find the colours of the signs
    import base64
    import io

    from PIL import Image

    png = base64.b64decode(c["heatmaps"]["value"]["image"].split(",", 1)[1])
    picture = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert picture.shape[0] >= 2 and picture.shape[1] >= 50
    assert c["agree"] is True


def test_numbers_that_json_cannot_hold_come_as_strings():
    from chainrule.web.graphs import value_json

    assert value_json(float("nan")) == "NaN"
    assert value_json(float("inf")) == "Infinity"
    assert value_json(-np.inf) == "-Infinity"
    assert value_json(np.float32(2.5)) == 2.5
    assert value_json(np.array(3.0)) == 3.0
    assert value_json(2**60) == float(2**60)
    s = value_json(np.array([[1.0, np.nan], [-2.0, 4.0]]))
    assert s["shape"] == [2, 2] and s["head"] == [1.0, "NaN", -2.0, 4.0]
    assert s["min"] == -2.0 and s["max"] == 4.0 and s["norm"] == pytest.approx(math.sqrt(21))


def test_served_graph_is_offered_first():
    from chainrule import AddLayer, MulLayer

    with Graph() as g:
        a, b, c = g.inputs(a=2.0, b=3.0, c=4.0)
        MulLayer().forward(AddLayer().forward(a, b), c)
    g.backward()
    with lab_client(create_app(graph=g)) as client:
        listing = client.get("/api/graphs").json()
        assert listing["default"] == "yours"
        assert listing["graphs"][0]["inputs"] == {"a": 2.0, "b": 3.0, "c": 4.0}
        answer = post(client, name="yours")
        assert answer["output"]["value"] == 20
        assert grads(answer) == {"a": 4.0, "b": 4.0, "c": 5.0}
        moved = post(client, name="yours", inputs={"c": 10.0})
        assert moved["output"]["value"] == 50
        assert grads(moved) == {"a": 10.0, "b": 10.0, "c": 5.0}


def test_pages_and_static_files(client):
    pages = client.get("/api/pages").json()
    assert pages["pages"][0] == {"id": "graph", "path": "/"}
    assert pages["languages"] == ["en", "ja", "zh", "zh-Hant"]
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "graph.js" in page.text
    for path in ("/static/graph.js", "/static/i18n.js", "/static/chrome.js",
                 "/static/common.css", "/static/graph.css", "/static/i18n/graph.ja.json"):
        r = client.get(path)
        assert r.status_code == 200, path
    assert "javascript" in client.get("/static/graph.js").headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_every_language_has_every_word():
    import json
    from pathlib import Path

    import chainrule.web

    folder = Path(chainrule.web.__file__).with_name("static") / "i18n"
    parts = {p.name.split(".")[0] for p in folder.glob("*.json")} - {"messages"}  # (its own test)
    assert {"common", "graph"} <= parts
    for part in parts:
        words = {lang: json.loads((folder / f"{part}.{lang}.json").read_text("utf-8"))
                 for lang in ("en", "ja", "zh", "zh-Hant")}
        assert words["en"].keys() == words["ja"].keys() == words["zh"].keys() \
            == words["zh-Hant"].keys(), part
        for lang in ("ja", "zh", "zh-Hant"):
            for key, text in words[lang].items():
                assert text.strip(), (part, lang, key)
                # a Japanese or Chinese string is not the English one left untranslated
                # (symbols and code names, such as "sigmoid", may stay)
                if re.search(r"[A-Za-z]{3,}\s+[A-Za-z]{3,}", words["en"][key]):
                    assert text != words["en"][key], (part, lang, key)


def test_the_pages_drawing_is_clickable_and_its_words_are_the_pages():
    import xml.etree.ElementTree as ET

    from chainrule.graph import draw

    g = book.apple_orange()
    plain = draw.to_svg(g)
    page = draw.to_svg(g, interactive=True)
    assert plain.startswith("<?xml") and not page.startswith("<?xml")
    assert "data-edge" not in plain and "class=\"hit\"" not in plain  # as before
    root = ET.fromstring(page)
    ns = "{http://www.w3.org/2000/svg}"
    edges = root.findall(f"{ns}g[@class='edge']")
    nodes = root.findall(f"{ns}g[@class='node']")
    assert len(edges) == len(g.edges) and len(nodes) == len(g.nodes)
    for group in edges:
        e = g.edges[int(group.get("data-edge"))]
        assert group.get("data-from") == ("" if e.producer is None else str(e.producer.index))
        assert group.get("data-to") == " ".join(str(n.index) for n, _ in e.consumers)
        hits = group.findall(f"{ns}polyline[@class='hit']")
        lines = [p for p in group.findall(f"{ns}polyline") if p.get("class") != "hit"]
        assert hits and len(hits) == len(lines)
    # no English on the page's drawing: no legend, no tooltips
    assert root.find(f".//{ns}g[@class='legend']") is None
    assert not [t for t in root.iter(f"{ns}title")]
    # a highlighted node, in the page and standalone
    assert 'class="node current"' in draw.to_svg(g, interactive=True, highlight=3)
    alone = draw.to_svg(g, highlight=2)
    assert 'class="node current"' in alone and "<style>" in alone
    assert alone.count("class=\"node current\"") == 1


def test_g_serve_shows_a_recorded_graph_on_a_real_server():
    import httpx

    g = book.sigmoid(0.5)
    running = g.serve(port=0, background=True, open_browser=False, announce=None)
    try:
        with httpx.Client(base_url=running.url, timeout=10) as http:
            assert http.get("/api/graphs").json()["default"] == "yours"
            a = http.post("/api/graph", json={"name": "yours"}).json()
            assert a["output"]["value"] == pytest.approx(book.sigmoid_layer(0.5)[0])
            assert a["inputs"]["x"]["grad"] == pytest.approx(book.sigmoid_layer(0.5)[1])
    finally:
        running.stop()


def test_the_readmes_api_example(client):
    a = post(client, name="apple-orange", inputs={"apple": 150})
    assert a["output"]["text"] == "825"
    assert {k: v["grad_text"] for k, v in a["inputs"].items()} == {
        "apple": "2.2", "apple_num": "165", "orange": "3.3", "orange_num": "165", "tax": "750"}
    assert a["nodes"][3]["rule"]["backward"] == ["dx = dout · y = 1 · 1.1 = 1.1",
                                                 "dy = dout · x = 1 · 750 = 750"]
    r = client.post("/api/graph", json={"name": "apple", "inputs": {"apple": "100"}})
    assert r.status_code == 400 and r.json() == {
        "error": "inputs.apple must be a number, got a string", "field": "inputs.apple",
        "code": "graph.not_number", "params": {"field": "inputs.apple", "kind": "a string"}}
    r = client.post("/api/graph", json={"expression": "(x + y) ** 2 + os.system",
                                        "inputs": {"x": 1, "y": 2}})
    assert r.status_code == 400 and r.json() == {
        "error": "attribute access (.) is not allowed (at column 18: '.system')",
        "field": "expression", "offset": 17, "length": 7, "code": "expr.attribute",
        "params": {"field": "expression"}}


def test_two_at_once_on_a_served_graph_each_get_their_own_numbers():
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from chainrule.web import serve_graph

    g = book.apple()
    running = serve_graph(g, port=0, background=True, open_browser=False, announce=None)
    try:
        with httpx.Client(base_url=running.url, timeout=30) as http:
            def ask(apple: int):
                r = http.post("/api/graph", json={"name": "yours", "inputs": {"apple": apple}})
                return apple, r.json()

            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(ask, range(1, 41)))
    finally:
        running.stop()
    for apple, a in answers:
        assert a["inputs"]["apple"]["value"] == apple
        assert a["output"]["value"] == pytest.approx(apple * 2 * 1.1)
        assert a["inputs"]["tax"]["grad"] == pytest.approx(apple * 2)
        assert a["inputs"]["tax"]["agree"] is True


def test_pages_hooks_run_when_the_server_starts_and_stops(monkeypatch):
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from chainrule.web import app as web_app

    calls = []

    class Page:  # a second page, as the network lab is one
        __name__ = "chainrule.web.extra"
        PAGE = {"id": "extra", "path": "/extra"}

        @staticmethod
        def routes(state):
            state.on_startup.append(lambda: calls.append(("start", state.model)))
            state.on_shutdown.append(lambda: calls.append(("stop", state.options)))

            async def hello(request):
                return JSONResponse({"model": str(state.model)})
            return [Route("/extra", hello)]

    # the graph lab and this page (runs/x is not for the net lab)
    monkeypatch.setattr(web_app, "PAGES", (web_app.PAGES[0], Page))
    with lab_client(create_app(model="runs/x", flavour=1)) as client:
        assert calls == [("start", "runs/x")]
        assert client.get("/extra").json() == {"model": "runs/x"}
        assert [p["id"] for p in client.get("/api/pages").json()["pages"]] == ["graph", "extra"]
    assert calls[-1] == ("stop", {"flavour": 1})


def test_streamed_events_pass_the_middleware_unbuffered(monkeypatch):
    import threading

    import httpx
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    from chainrule.web import app as web_app
    from chainrule.web import serve

    second = threading.Event()

    class Page:
        __name__ = "chainrule.web.events"
        PAGE = {"id": "events", "path": "/events"}

        @staticmethod
        def routes(state):
            async def events(request):
                import anyio

                async def stream():
                    yield "data: first\n\n"
                    with anyio.fail_after(10):
                        while not second.is_set():  # the client has read the first event
                            await anyio.sleep(0.01)
                    yield "data: second\n\n"
                return StreamingResponse(stream(), media_type="text/event-stream")
            return [Route("/api/events", events)]

    monkeypatch.setattr(web_app, "PAGES", (*web_app.PAGES, Page))
    running = serve(web_app.create_app(), port=0, background=True, open_browser=False,
                    announce=None)
    try:
        with httpx.Client(base_url=running.url, timeout=15) as http, \
                http.stream("GET", "/api/events") as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            assert r.headers["x-content-type-options"] == "nosniff"
            lines = r.iter_lines()
            assert next(lines) == "data: first"  # before the stream has finished
            second.set()
            assert [line for line in lines if line] == ["data: second"]
    finally:
        running.stop()


def test_every_rule_note_is_translated():
    import json
    from pathlib import Path

    import chainrule.web
    from chainrule.graph.explain import NOTES

    folder = Path(chainrule.web.__file__).with_name("static") / "i18n"
    for lang in ("en", "ja", "zh", "zh-Hant"):
        words = json.loads((folder / f"graph.{lang}.json").read_text("utf-8"))
        missing = [k for k in NOTES if f"note.{k}" not in words]
        assert not missing, (lang, missing)
    english = json.loads((folder / "graph.en.json").read_text("utf-8"))
    assert {k: english[f"note.{k}"] for k in NOTES} == NOTES  # the library's own words


@pytest.mark.parametrize("body, output", [
    ({"name": "apple", "inputs": {"apple": 1e308, "apple_num": 10}}, "inf"),
    ({"name": "sigmoid", "inputs": {"x": -1000}}, "0"),      # exp(1000) overflows: nan grad
    ({"expression": "log(x)", "inputs": {"x": 0}}, "-inf"),
    ({"name": "apple", "inputs": {"apple": -1e300}}, "-2.2e+300"),
])
def test_overflowing_numbers_are_shown_not_refused(client, body, output):
    a = post(client, **body)
    assert a["output"]["text"] == output
    for i in a["inputs"].values():  # a slider even for a huge value, finite and ordered
        if i["slider"]:
            assert i["slider"]["min"] <= i["value"] <= i["slider"]["max"]
