"""Graph.rerun, Graph.numerical_grad, the step orders, Graph.serve, and book's INPUTS."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from chainrule.book import examples as book
from chainrule.core.layers import BatchNormalization, Dropout, Relu
from chainrule.core.operations import AddLayer, ExpLayer, MulLayer
from chainrule.graph.record import Graph
from chainrule.nn.multilayer import MultiLayerNet


def state(g: Graph) -> list:
    """Everything a graph and its layers hold, by identity and by value."""
    out = [(e.value, e.grad) for e in g.edges] + [(n.token, n.grads) for n in g.nodes]
    for n in g.nodes:
        for k, v in vars(n.layer).items():
            out.append((k, v, v.copy() if isinstance(v, np.ndarray) else None))
            if isinstance(v, np.random.Generator):
                out.append(v.bit_generator.state)
    return out


def assert_same_state(before: list, after: list) -> None:
    assert len(before) == len(after)
    for a, b in zip(before, after, strict=True):
        if isinstance(a, dict):  # a generator's state
            assert a == b
            continue
        assert len(a) == len(b)
        for u, v in zip(a, b, strict=True):
            if isinstance(u, np.ndarray) and not isinstance(v, np.ndarray):
                raise AssertionError((u, v))
            if isinstance(u, np.ndarray) and u.base is None and v.base is None and u is not v:
                np.testing.assert_array_equal(u, v)  # a saved copy: same content
            else:
                assert u is v, (u, v)


# -- book.INPUTS and EXAMPLES ------------------------------------------------------------
def test_every_example_exposes_its_inputs():
    assert list(book.INPUTS) == list(book.EXAMPLES)
    assert book.INPUTS["two-layer-net"] == {}
    for name, inputs in book.INPUTS.items():
        g = book.EXAMPLES[name](**inputs, backward=True)
        named_inputs = {e.name for e in g.edges if e.name and e.producer is None}
        assert set(inputs) <= named_inputs
        assert g.has_grads
        assert all(isinstance(v, (int, float)) for v in inputs.values())


def test_chain_rule_example():
    g = book.chain()
    assert g.value("z") == 9 and g.value("t") == 3
    assert (g.grad("x"), g.grad("y"), g.grad("t")) == (6, 6, 6)
    assert [n.label for n in g.nodes] == ["+", "**2"]
    g = book.chain(x=-1, y=0.5)
    assert g.grad("x") == pytest.approx(2 * -0.5)


def test_examples_take_inputs_as_keywords():
    g = book.apple_orange(apple=150)
    assert g.value("price") == pytest.approx(1.1 * (150 * 2 + 150 * 3))
    assert g.grad("apple_num") == pytest.approx(165)
    assert book.sigmoid(x=0.0).value("y") == pytest.approx(0.5)


def test_check_inputs_names_the_bad_input():
    from chainrule.graph.expression import InputError

    assert book.check_inputs("apple", {"apple": 150, "tax": np.float32(1.5)}) == {
        "apple": 150.0, "tax": 1.5}
    for inputs, match in [({"banana": 1}, "apple has no input 'banana'"),
                          ({"apple": "1"}, "real number"), ({"apple": float("nan")}, "finite"),
                          ({"apple": True}, "real number")]:
        with pytest.raises(InputError, match=match) as info:
            book.check_inputs("apple", inputs)
        assert info.value.name in inputs
    with pytest.raises(KeyError, match="no example 'pear'"):
        book.check_inputs("pear", {})
    with pytest.raises(InputError, match="its inputs: none"):
        book.check_inputs("two-layer-net", {"batch": 3})


def test_named_inputs():
    g = book.apple()
    assert list(g.named_inputs()) == ["apple", "apple_num", "tax"]
    assert g.named_inputs()["tax"] is g["tax"]


# -- rerun ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, change", [
    ("apple", {"apple": 150}), ("apple-orange", {"apple": 150, "tax": 1.2}),
    ("sigmoid", {"x": -2.5}), ("chain", {"x": 3, "y": -1.5}), ("apple-orange", {}),
])
def test_rerun_equals_a_fresh_recording(name, change):
    g = book.EXAMPLES[name]()
    assert g.rerun(**change) is g
    fresh = book.EXAMPLES[name](**{**book.INPUTS[name], **change})
    for e, f in zip(g.edges, fresh.edges, strict=True):
        assert e.value == pytest.approx(f.value, rel=1e-15) and e.name == f.name
        assert (e.grad is None) == (f.grad is None)
        if e.grad is not None:
            assert e.grad == pytest.approx(f.grad, rel=1e-15)


def test_rerun_the_apple_orange_graph_moves_every_number():
    g = book.apple_orange()
    g.rerun(apple=150)
    assert g.value("price") == pytest.approx(825)
    assert g.grads() == pytest.approx({"apple": 2.2, "apple_num": 165, "orange": 3.3,
                                       "orange_num": 165, "tax": 750, "price": 1})
    g.rerun(apple=100)
    assert g.value("price") == pytest.approx(715) and g.grad("tax") == pytest.approx(650)


def test_rerun_of_the_two_layer_net_with_new_arrays():
    g = book.two_layer_net(batch=3, seed=2)
    rng = np.random.default_rng(9)
    x, t = rng.random((3, 784)), np.eye(10)[[1, 2, 3]]
    g.rerun(x=x, t=t)
    net_loss = g.nodes[3].layer.forward  # the graph's own layers, called again by hand
    a1, relu, a2 = (n.layer for n in g.nodes[:3])
    assert g.value("L") == pytest.approx(float(net_loss(a2.forward(relu.forward(
        a1.forward(x))), t)))
    assert g.grad("x").shape == (3, 784) and g.value("x") is x


def test_rerun_keeps_the_flags_of_the_call():
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((4, 3))
    bn = BatchNormalization(np.ones(3), np.zeros(3))
    bn.forward(x0, True)  # some running statistics
    with Graph() as g:
        x = g.input("x", x0)
        Relu().forward(Dropout(0.5, seed=1).forward(bn.forward(x, False), train_flg=False))
    g.backward(np.ones((4, 3)))
    before = g.value(g.output)
    running = bn.running_mean.copy()
    g.rerun(x=x0 * 2)
    assert bn.train_flg is False  # eval mode again, as recorded
    np.testing.assert_array_equal(bn.running_mean, running)
    g.rerun(x=x0)
    np.testing.assert_array_equal(g.value(g.output), before)


def test_rerun_keeps_dout_and_start():
    with Graph() as g:
        x = g.input("x", 2.0)
        y = MulLayer().forward(x, 3.0)
        ExpLayer().forward(y)
    g.backward(5.0, output=y)
    g.rerun(x=4.0)
    assert g.value(y) == 12.0 and g.grad("x") == 15.0


def test_rerun_refuses_unknown_names_and_intermediates():
    g = book.apple()
    with pytest.raises(KeyError, match="not a name of this graph .*apple, apple_num, tax"):
        g.rerun(banana=1)
    with pytest.raises(KeyError, match="'price' is not an input"):
        g.rerun(price=1)


def test_a_failed_rerun_leaves_everything_as_it_was():
    g = book.two_layer_net(batch=2)
    before = state(g)
    with pytest.raises(ValueError, match="Affine"):
        g.rerun(x=np.ones((2, 5)))
    assert_same_state(before, state(g))
    assert g.value("L") == pytest.approx(2.306, abs=1e-3)
    g.backward()  # the layers hold the graph's own calls again


# -- numerical_grad --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["apple", "apple-orange", "sigmoid", "chain"])
def test_numerical_grad_of_every_edge_matches_backward(name):
    g = book.EXAMPLES[name]()
    before = state(g)
    for edge in g.edges:
        numeric = g.numerical_grad(edge)
        assert isinstance(numeric, float)
        want = 0.0 if edge.grad is None else float(edge.grad)
        assert numeric == pytest.approx(want, rel=1e-6, abs=1e-8), edge
    assert_same_state(before, state(g))
    assert g.numerical_grad("apple" if "apple" in name else "x") == pytest.approx(
        float(g.grad("apple" if "apple" in name else "x")), rel=1e-6)


def test_numerical_grad_of_arrays_uses_numerical_gradient():
    g = book.two_layer_net(batch=2, seed=3)
    before = state(g)
    numeric = g.numerical_grad("x")
    assert numeric.shape == (2, 784) and numeric.dtype == np.float64
    np.testing.assert_allclose(numeric, g.grad("x"), rtol=1e-5, atol=1e-9)
    hidden = g.nodes[1].output  # an intermediate array edge
    np.testing.assert_allclose(g.numerical_grad(hidden), hidden.grad, rtol=1e-5, atol=1e-9)
    assert_same_state(before, state(g))
    with pytest.raises(TypeError, match="labels"):
        Graph.numerical_grad(_with_index_labels(), "t")


def _with_index_labels() -> Graph:
    from chainrule.core.layers import SoftmaxWithLoss

    with Graph() as g:
        x = g.input("x", np.ones((2, 3)))
        t = g.input("t", np.array([0, 2]))
        SoftmaxWithLoss().forward(x, t)
    g.backward()
    return g


def test_numerical_grad_with_dropout_draws_the_same_mask_and_restores_the_generator():
    net = MultiLayerNet(4, [5], 3, dropout_ratio=0.5, seed=0, dtype=np.float64)
    rng = np.random.default_rng(1)
    with Graph() as g:
        x = g.input("x", rng.standard_normal((2, 4)))
        g.name("L", net.loss(x, np.array([0, 2]), train_flg=True))
    g.backward()
    before = state(g)
    np.testing.assert_allclose(g.numerical_grad("x"), g.grad("x"), rtol=1e-5, atol=1e-9)
    assert_same_state(before, state(g))


def test_numerical_grad_before_backward_and_after_a_sub_backward():
    g = book.apple(backward=False)
    assert g.numerical_grad("apple") == pytest.approx(2.2)
    g.backward(3.0, output=g.nodes[0].output)
    assert g.numerical_grad("apple") == pytest.approx(6.0)
    assert g.numerical_grad("tax") == 0.0  # after the output it starts from


def test_numerical_grad_refuses_what_has_no_derivative():
    g = book.apple()
    with pytest.raises(KeyError):
        g.numerical_grad("banana")
    with Graph() as g2:
        AddLayer().forward(g2.input("s", 1.0), 2.0)
    with pytest.raises(KeyError, match="another graph"):
        g.numerical_grad(g2.edges[0])


# -- orders, serve -------------------------------------------------------------------------------
def test_orders_follow_the_recording_and_skip_dead_branches():
    with Graph() as g:
        x = g.input("x", 1.0)
        a = MulLayer().forward(x, 2.0)   # node 0
        ExpLayer().forward(x)            # node 1: not on the way to the output
        AddLayer().forward(a, 1.0)       # node 2
    assert g.forward_order() == [0, 1, 2]
    assert g.backward_order() == [2, 0]
    assert g.backward_order(output=g.nodes[1].output) == [1]
    g.backward(output=a)
    assert g.backward_order() == [0]
    assert book.sigmoid().backward_order() == [3, 2, 1, 0]


def test_serve_without_the_web_extra_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "starlette", None)  # the extra is not installed
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[serve\]'"):
        book.apple().serve()
