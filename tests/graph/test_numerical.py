"""Graph.numerical_grad in float64 with the relative step, Graph.check's reasons with the
node they came from, where a NaN or an infinity came from, the constants pi and e, an
expression evaluated over a range, and the examples' titles following their inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainrule.book import examples as book
from chainrule.core.gradient import RTOL
from chainrule.core.operations import MulLayer
from chainrule.graph import numerical
from chainrule.graph.expression import InputError, evaluate, parse
from chainrule.graph.record import Graph


def test_numerical_grad_of_a_float32_input_is_computed_in_float64():
    with Graph() as g:
        x = g.input("x", np.float32(3))
        MulLayer().forward(x, x)
    g.backward(1)
    assert isinstance(g.numerical_grad("x"), float)
    assert g.numerical_grad("x") == pytest.approx(6.0, rel=1e-10)  # not 5.9938 (float32)
    assert g.check("x").agree is True
    assert g.value("x").dtype == np.float32  # the graph is left as it was


@pytest.mark.parametrize("apple", [1e6, 1e9, 1e40])
def test_a_large_price_is_still_checked(apple):
    g = book.apple_orange(apple=apple)
    assert g.numerical_grad("apple") == pytest.approx(2.2, rel=1e-9)
    assert g.check("apple").agree is True and g.check("tax").agree is True


def test_a_change_too_small_for_the_output_is_cancellation_not_a_difference():
    g = book.apple_orange(apple=1e40)
    found = g.check("orange")
    assert found.agree is None and found.reason.code == "grad.cancellation"
    assert found.reason.params == {"step": 0.015, "value": 2.2e40}


def test_the_same_rule_decides_agree():
    g = Graph.from_expression("(x + y) ** 2", x=3e7, y=1)
    for name in "xy":
        found = g.check(name)
        assert found.agree is (found.max_rel_error <= RTOL) is True


CASES = [  # (expression, inputs, the input checked, reason code, words in the reason)
    ("x / 0", {"x": 1}, "x", "grad.division_by_zero", "x / y = 1 / 0 = inf"),
    ("0 / x", {"x": 0}, "x", "grad.division_by_zero", "x / y = 0 / 0 = nan"),
    ("x ** -1", {"x": 0}, "x", "grad.division_by_zero", "x ** -1 = 0 ** -1 = inf"),
    ("log(x)", {"x": -1}, "x", "grad.log_domain", "log(x) = log(-1) = nan"),
    ("log(x)", {"x": 0}, "x", "grad.log_domain", "log(x) = log(0) = -inf"),
    ("log(x)", {"x": -0.0}, "x", "grad.log_domain", "log(x) = log(-0) = -inf"),
    ("x * log(x)", {"x": -2}, "x", "grad.log_domain", "log(x) = log(-2) = nan"),
    ("exp(x)", {"x": 1000}, "x", "grad.overflow", "exp(x) = exp(1000) = inf"),
    ("x * x", {"x": 1e200}, "x", "grad.overflow", "1e+200 · 1e+200 = inf"),
    ("x ** 0.5", {"x": -1}, "x", "grad.domain", "x ** 0.5 = (-1) ** 0.5 = nan"),
    ("x ** 0.5", {"x": 0}, "x", "grad.backward", "0.5 · 0 ** -0.5 = inf"),
    ("relu(x) * y", {"x": 0, "y": 3}, "x", "grad.kink", "ReLU"),
    ("x + y", {"x": 1e20, "y": 1}, "y", "grad.cancellation", "1e+20"),
]


@pytest.mark.parametrize("text, at, name, code, words", CASES)
def test_every_case_without_a_verdict_says_why(text, at, name, code, words):
    g = Graph.from_expression(text, **at)
    found = g.check(name)
    assert found.agree is None and found.reason.code == code, found
    assert words in str(found.reason)


def test_the_kink_names_its_node_and_slopes():
    found = Graph.from_expression("relu(x) * y", x=0, y=3).check("x")
    assert found.reason.params == {"node": "ReLU", "input": 0, "left": "0", "right": "3"}
    assert str(found.reason).startswith("a kink: the ReLU node's input is 0")


def test_where_a_nan_came_from_is_the_first_node_that_made_it():
    g = Graph.from_expression("(log(x) + 1) * 2", x=-1)
    log_node = next(n for n in g.nodes if n.label == "log")
    why = numerical.origin(g.output)
    assert why.code == "grad.log_domain" and why.params["node"] == log_node.index
    assert numerical.origin(g["x"]) is None  # an input of -1 is a number
    bad = numerical.non_finite(g)
    assert set(bad) == {e.index for e in g.edges if not np.isfinite(e.value)} | {
        e.index for e in g.edges if e.grad is not None and not np.isfinite(e.grad)}
    assert bad[g["x"].index]["grad"].code == "grad.backward"


def test_the_gradient_of_the_right_input_is_traced():
    g = Graph.from_expression("0 / x", x=0)
    why = numerical.grad_origin(g["x"], [g.nodes[i] for i in g.backward_order()])
    assert why.code == "grad.backward" and why.params["line"].startswith("dy = ")


def test_check_leaves_the_graph_as_it_was_and_refuses_what_it_cannot_check():
    g = Graph.from_expression("exp(x) / (1 + exp(x))", x=0.3)
    before = [(e.value, e.grad) for e in g.edges]
    assert g.check("x").agree is True
    assert [(e.value, e.grad) for e in g.edges] == before
    g2 = book.apple(backward=False)
    with pytest.raises(RuntimeError, match="no gradients yet"):
        g2.check("apple")
    g3 = book.two_layer_net()
    with pytest.raises(ValueError, match="no gradient flows"):
        g3.check("t")


def test_an_array_edge_is_checked_too():
    g = book.two_layer_net()
    hidden = g.nodes[1].output  # ReLU's output
    found = g.check(hidden)
    assert found.agree is True and found.numerical.shape == hidden.value.shape


def test_pi_and_e_are_constants_not_inputs():
    g = Graph.from_expression("2 * pi * x", x=1)
    assert list(g.named_inputs()) == ["x"]
    assert g.output.value == pytest.approx(2 * math.pi) and g.grad("x") == pytest.approx(2 * math.pi)
    assert Graph.from_expression("e * x", x=1).output.value == pytest.approx(math.e)
    with pytest.raises(InputError, match="not used by the expression"):
        Graph.from_expression("2 * pi * x", x=1, pi=1)


def test_an_expression_evaluated_over_a_range_is_the_graphs_value_at_each_point():
    points = np.linspace(-2, 2, 9)
    values = evaluate(parse("x * log(x) + y"), {"x": points, "y": 1.0})
    for p, v in zip(points, values, strict=True):
        want = Graph.from_expression("x * log(x) + y", x=float(p), y=1.0).output.value
        assert (math.isnan(v) and math.isnan(want)) or v == want


def test_the_examples_titles_follow_their_inputs():
    assert str(book.title("apple", book.apple())) == "Buying apples: 2 at 100 each, with 10% tax"
    g = book.apple_orange(apple_num=5, tax=1.08)
    assert str(book.title("apple-orange", g)) == \
        "Buying apples and oranges: 5 at 100 and 3 at 150, with 8% tax"
    g, options = book.figure("sigmoid", x=2.0)
    assert options["title"] == "The sigmoid built from ×, exp, + and / nodes, at x = 2"
