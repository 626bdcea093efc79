"""explain.rule: each node's local rule with the numbers the layers produced."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.book import examples as book
from chainrule.core.layers import BatchNormalization, Dropout, Tanh
from chainrule.core.operations import MulLayer
from chainrule.graph.explain import NOTES, rule
from chainrule.graph.record import Graph


def test_the_apple_orange_rules():
    g = book.apple_orange()
    rules = [rule(n) for n in g.nodes]
    assert rules[0] == {
        "op": "×", "note": "mul", "dout": "1.1", "forward": "x · y = 100 · 2 = 200",
        "backward": ["dx = dout · y = 1.1 · 2 = 2.2", "dy = dout · x = 1.1 · 100 = 110"]}
    assert rules[2]["note"] == "add" and rules[2]["forward"] == "x + y = 200 + 450 = 650"
    assert rules[2]["backward"] == ["dx = dout = 1.1", "dy = dout = 1.1"]
    assert rules[3]["backward"] == ["dx = dout · y = 1 · 1.1 = 1.1", "dy = dout · x = 1 · 650 = 650"]


def test_the_sigmoid_rules_right_to_left():
    g = book.sigmoid()
    by_op = {rule(n)["op"]: rule(n) for n in g.nodes}
    assert by_op["/"]["backward"] == ["dx = −dout / x² = −1 / 1.368² = -0.5344"]
    assert by_op["exp"]["backward"] == ["dx = dout · exp(x) = (-0.5344) · 0.3679 = -0.1966"]
    assert by_op["×"]["backward"][0] == "dx = dout · y = (-0.1966) · (-1) = 0.1966"


def test_the_chain_and_expression_rules():
    g = book.chain()
    assert rule(g.nodes[1])["backward"] == ["dx = dout · 2 · x ** 1 = 1 · 2 · 3 ** 1 = 6"]
    g = Graph.from_expression("(x - y) / y + log(x) + relu(-x) + tanh(x) + sigmoid(y)",
                              x=2, y=4)
    rules = {r["note"]: r for r in map(rule, g.nodes)}
    assert rules["sub"]["backward"] == ["dx = dout = 0.25", "dy = −dout = −0.25 = -0.25"]
    assert rules["div"]["backward"][1] == "dy = −dout · x / y² = −1 · (-2) / 4² = 0.125"
    assert rules["log"]["backward"] == ["dx = dout / x = 1 / 2 = 0.5"]
    assert rules["relu"]["backward"] == ["dx = 0 (x ≤ 0) = 0"]
    assert rules["tanh"]["forward"] == "tanh(x) = tanh(2) = 0.964"
    assert rules["sigmoid"]["forward"].endswith("σ(4) = 0.982")
    assert rules["neg"]["forward"] == "−x = −2 = -2"


def test_array_layers_give_shapes():
    g = book.two_layer_net(batch=2)
    rules = [rule(n) for n in g.nodes]
    assert [r["note"] for r in rules] == ["affine", "relu", "affine", "softmax_with_loss"]
    assert rules[0]["forward"] == "x · W + b: (2, 784)·(784, 50) + (50,) → (2, 50)"
    assert "dW = xᵀ · dout: (784, 2)·(2, 50) → (784, 50)" in rules[0]["backward"]
    assert rules[1]["backward"] == ["dx = dout where x > 0, else 0: (2, 50)"]
    assert rules[3]["backward"] == ["dx = dout · (y − t) / N = 1 · (y − t) / 2: (2, 10)"]


def test_chapter_six_layers_and_unknown_ones():
    rng = np.random.default_rng(0)
    bn = BatchNormalization(np.ones(3), np.zeros(3))

    class Twice(MulLayer):  # a subclass may compute something else: the generic rule
        pass

    with Graph() as g:
        x = g.input("x", rng.standard_normal((4, 3)))
        h = Tanh().forward(Dropout(0.5, seed=0).forward(bn.forward(x), True))
        Twice().forward(h, 2.0)
    g.backward(np.ones((4, 3)))
    notes = [rule(n)["note"] for n in g.nodes]
    assert notes == ["batchnorm", "dropout", "tanh", "layer"]
    assert rule(g.nodes[3])["forward"] == "×: (4, 3), () → (4, 3)"


def test_before_backward_the_formulas_have_no_numbers():
    g = book.apple(backward=False)
    r = rule(g.nodes[0])
    assert r["dout"] is None and r["backward"] == ["dx = dout · y", "dy = dout · x"]
    assert r["forward"] == "x · y = 100 · 2 = 200"


@pytest.mark.parametrize("name", list(book.EXAMPLES))
def test_every_note_has_english_words(name):
    g = book.EXAMPLES[name]()
    for node in g.nodes:
        r = rule(node)
        assert r["note"] in NOTES and isinstance(r["forward"], str)
        assert all(isinstance(line, str) and "\n" not in line for line in r["backward"])
