"""POST /api/graph explains itself: the reasons and origins as messages, backprop and the
numerical derivative to the same digits, titles from the inputs, sliders inside the
function's domain, -0.0 kept, pi a constant."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("starlette")
from lab_tools import lab_client  # noqa: E402

from chainrule.core.messages import say  # noqa: E402
from chainrule.web import create_app  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with lab_client(create_app()) as c:
        yield c


def post(client, **body):
    r = client.post("/api/graph", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def assert_message(answer: dict, key: str) -> None:
    """``key`` is a message: its English made from ``key_code`` and ``key_params``."""
    assert answer[key] == say(answer[f"{key}_code"], **answer[f"{key}_params"])


def test_a_price_of_1e40_checks_and_what_cannot_says_why(client):
    a = post(client, name="apple-orange", inputs={"apple": 1e40})
    rows = a["inputs"]
    assert rows["apple"]["agree"] is True and rows["apple"]["numerical_text"] == "2.2"
    for name in ("orange", "orange_num"):
        assert rows[name]["agree"] is None and rows[name]["reason_code"] == "grad.cancellation"
        assert_message(rows[name], "reason")
    assert "reason" not in rows["apple"]


def test_backprop_and_the_numerical_derivative_are_written_to_the_same_digits(client):
    a = post(client, name="apple-orange", inputs={"apple": 1000000, "apple_num": 5})
    tax = a["inputs"]["tax"]
    assert tax["grad_text"] == "5000450"  # an int, as the drawing prints it
    assert tax["grad_check_text"] == tax["numerical_text"] == "5000450"
    apple = a["inputs"]["apple"]
    assert apple["grad_check_text"] == apple["numerical_text"] == "5.5"


@pytest.mark.parametrize("expression, x, code, output", [
    ("x / 0", 1, "grad.division_by_zero", "inf"),
    ("log(x)", -1, "grad.log_domain", "nan"),
    ("log(x)", 0, "grad.log_domain", "-inf"),
    ("exp(x)", 1000, "grad.overflow", "inf"),
])
def test_a_nan_or_an_infinity_says_where_it_came_from(client, expression, x, code, output):
    a = post(client, expression=expression, inputs={"x": x})
    assert a["output"]["text"] == output
    assert a["output"]["value_origin_code"] == code
    assert_message(a["output"], "value_origin")
    node = a["output"]["value_origin_params"]["node"]
    assert a["nodes"][node]["id"] == node
    assert a["inputs"]["x"]["reason_code"] == code and a["inputs"]["x"]["agree"] is None
    edge = next(e for e in a["edges"] if e["id"] == a["output"]["edge"])
    assert edge["value_origin_code"] == code


def test_minus_zero_is_kept(client):
    r = client.post("/api/graph", content=b'{"expression": "log(x)", "inputs": {"x": -0.0}}',
                    headers={"Content-Type": "application/json"})
    a = r.json()
    assert json.dumps(a["inputs"]["x"]["value"]) == "-0.0"
    assert a["inputs"]["x"]["grad"] == "-Infinity"
    assert "log(-0) = -inf" in a["inputs"]["x"]["reason"]


def test_the_title_follows_the_inputs(client):
    a = post(client, name="apple-orange", inputs={"apple_num": 5})
    assert a["title"] == "Buying apples and oranges: 5 at 100 and 3 at 150, with 10% tax"
    assert a["title_code"] == "example.apple_orange"
    assert a["title_params"] == {"apple_num": "5", "apple": "100", "orange_num": "3",
                                 "orange": "150", "tax_percent": "10"}
    assert "title" not in post(client, expression="x * 2")


@pytest.mark.parametrize("expression, inputs, name, low, high", [
    ("x * log(x)", {}, "x", 0.01, 5),  # defined above 0
    ("log(x - 2)", {"x": 3}, "x", 2.1, 10),  # defined above 2 (a step of 0.1)
    ("1 / x", {}, "x", -5, 5),  # undefined at 0 only: the slider crosses it
    ("log(x)", {"x": -1}, "x", -1, 5),  # typed outside the domain: the slider reaches it
])
def test_an_expressions_slider_stays_where_it_is_defined(client, expression, inputs, name,
                                                         low, high):
    slider = post(client, expression=expression, inputs=inputs)["inputs"][name]["slider"]
    assert (slider["min"], slider["max"]) == pytest.approx((low, high))


def test_the_book_graphs_sliders_start_at_0_for_prices_and_counts(client):
    rows = post(client, name="apple-orange")["inputs"]
    assert {n: r["slider"]["min"] for n, r in rows.items()} == dict.fromkeys(rows, 0)
    assert rows["apple_num"]["slider"]["step"] == 1
    assert post(client, name="chain")["inputs"]["x"]["slider"]["min"] < 0


def test_pi_is_a_constant(client):
    a = post(client, expression="2 * pi * x", inputs={"x": 1})
    assert list(a["inputs"]) == ["x"] and a["output"]["text"] == "6.283"


def test_an_edges_check_says_why_too(client):
    a = post(client, expression="relu(x) * y", inputs={"x": 0, "y": 3}, edge=0)
    c = a["check"]
    assert c["agree"] is None and c["reason_code"] == "grad.kink"
    assert_message(c, "reason")
