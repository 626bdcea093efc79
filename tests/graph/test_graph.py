"""Recording layer calls and back-propagating through the recorded graph."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from chainrule.book import examples as book
from chainrule.core.layers import Affine, Relu, Sigmoid, SoftmaxWithLoss
from chainrule.core.operations import AddLayer, ExpLayer, MulLayer, ReciprocalLayer
from chainrule.graph.record import Graph
from chainrule.nn.two_layer import TwoLayerNet


# -- the book's examples ------------------------------------------------------------
def test_apple_numbers():
    g = book.apple()
    assert g.value("price") == pytest.approx(220)
    assert g.grad("apple") == pytest.approx(2.2)
    assert g.grad("apple_num") == pytest.approx(110)
    assert g.grad("tax") == pytest.approx(200)


def test_apple_orange_numbers():
    g = book.apple_orange()
    assert g.value("price") == pytest.approx(715)
    expected = {"apple_num": 110, "apple": 2.2, "orange": 3.3, "orange_num": 165, "tax": 650}
    for name, grad in expected.items():
        assert g.grad(name) == pytest.approx(grad), name


def test_apple_orange_recorded_equals_the_books_hand_ordered_backward():
    apple, apple_num, orange, orange_num, tax = 100, 2, 150, 3, 1.1
    mul_apple_layer, mul_orange_layer = MulLayer(), MulLayer()
    add_apple_orange_layer, mul_tax_layer = AddLayer(), MulLayer()
    apple_price = mul_apple_layer.forward(apple, apple_num)
    orange_price = mul_orange_layer.forward(orange, orange_num)
    all_price = add_apple_orange_layer.forward(apple_price, orange_price)
    price = mul_tax_layer.forward(all_price, tax)
    dall_price, dtax = mul_tax_layer.backward(1)
    dapple_price, dorange_price = add_apple_orange_layer.backward(dall_price)
    dorange, dorange_num = mul_orange_layer.backward(dorange_price)
    dapple, dapple_num = mul_apple_layer.backward(dapple_price)

    g = book.apple_orange()
    assert g.value("price") == price
    hand = {"apple": dapple, "apple_num": dapple_num, "orange": dorange,
            "orange_num": dorange_num, "tax": dtax}
    for name, grad in hand.items():
        assert g.grad(name) == grad, name  # the very same arithmetic: exactly equal


def test_sigmoid_from_primitives_equals_hand_order_and_the_fused_layer():
    x = 0.3
    layers = [MulLayer(), ExpLayer(), AddLayer(), ReciprocalLayer()]
    y = layers[3].forward(layers[2].forward(layers[1].forward(layers[0].forward(x, -1)), 1))
    d = layers[3].backward(1)
    d = layers[2].backward(d)[0]
    d = layers[1].backward(d)
    dx = layers[0].backward(d)[0]

    g = book.sigmoid(x)
    assert g.value("y") == y
    assert g.grad("x") == dx
    fused_y, fused_dx = book.sigmoid_layer(x)
    assert fused_dx == pytest.approx(dx, rel=1e-12)
    assert fused_dx == pytest.approx(fused_y * (1 - fused_y), rel=1e-12)


def test_constants_are_input_edges():
    g = book.sigmoid(1.0)
    constants = [e for e in g.edges if e.is_constant]
    assert [e.value for e in constants] == [-1, 1]
    assert [type(n.layer).__name__ for e in constants for n, _ in e.consumers] == [
        "MulLayer", "AddLayer"]
    assert all(e.is_input for e in constants)


def test_two_layer_net_recorded_equals_net_gradient():
    g = book.two_layer_net(batch=3, seed=5)
    affine1 = g.nodes[0].layer
    recorded = {"W1": affine1.dW, "b1": affine1.db}
    net = TwoLayerNet(784, 50, 10, seed=5)
    grads = net.gradient(g.value("x"), g.value("t"))
    for key in recorded:
        np.testing.assert_array_equal(recorded[key], grads[key])
    assert [n.label for n in g.nodes] == ["Affine", "ReLU", "Affine", "Softmax-with-Loss"]
    assert g.grad("x").shape == (3, 784)
    assert g.grad("t") is None  # labels get no gradient
    assert g.grad("L") == 1


# -- random layer chains ------------------------------------------------------------
@dataclass
class Step:
    kind: str
    extra: np.ndarray | None = None
    main_first: bool = True
    W: np.ndarray | None = None
    b: np.ndarray | None = None

    def layers(self):
        make = {"mul": MulLayer, "add": AddLayer, "relu": Relu, "sigmoid": Sigmoid,
                "softmax": SoftmaxWithLoss}
        if self.kind == "affine":
            return [Affine(self.W, self.b)]
        if self.kind == "exp_recip":
            return [ExpLayer(), ReciprocalLayer()]
        return [make[self.kind]()]

    def forward(self, layers, x):
        if self.kind in ("mul", "add"):
            args = (x, self.extra) if self.main_first else (self.extra, x)
            return layers[0].forward(*args)
        if self.kind == "softmax":
            return layers[0].forward(x, self.extra)
        for layer in layers:
            x = layer.forward(x)
        return x


def random_chain(seed: int):
    rng = np.random.default_rng(seed)
    shape = (3, int(rng.integers(2, 6)))
    x = rng.uniform(-1, 1, shape)
    steps = []
    for _ in range(int(rng.integers(1, 9))):
        kind = str(rng.choice(["mul", "add", "exp_recip", "relu", "sigmoid", "affine"]))
        step = Step(kind, main_first=bool(rng.integers(2)))
        if kind in ("mul", "add"):
            step.extra = rng.uniform(0.5, 1.5, shape)
        elif kind == "affine":
            width = int(rng.integers(2, 6))
            step.W = rng.standard_normal((shape[1], width)) / np.sqrt(shape[1])
            step.b = rng.standard_normal(width)
            shape = (3, width)
        steps.append(step)
    if rng.integers(2):
        steps.append(Step("softmax", extra=rng.integers(0, shape[1], 3)))
        dout = 1.0
    else:
        dout = rng.standard_normal(shape)
    return x, steps, dout


def hand_ordered(x, steps, dout):
    done = []
    out = x
    for step in steps:
        layers = step.layers()
        out = step.forward(layers, out)
        done.append((step, layers))
    extras, params = {}, []
    for i, (step, layers) in reversed(list(enumerate(done))):
        for layer in reversed(layers):
            grads = layer.backward(dout)
            if step.kind in ("mul", "add"):
                dout, extras[i] = grads if step.main_first else grads[::-1]
            else:
                dout = grads
            if step.kind == "affine":
                params.append((layer.dW, layer.db))
    return out, dout, extras, params


def recorded(x, steps, dout):
    done = []
    with Graph() as g:
        out = g.input("x", x)
        for step in steps:
            layers = step.layers()
            out = step.forward(layers, out)
            done.append((step, layers))
    g.backward(dout)
    extras = {i: g.grad(step.extra) for i, step in enumerate(steps) if step.kind in ("mul", "add")}
    params = [(layers[0].dW, layers[0].db) for step, layers in reversed(done)
              if step.kind == "affine"]
    return out, g.grad("x"), extras, params


@pytest.mark.parametrize("seed", range(40))
def test_random_chains_recorded_equals_hand_ordered(seed):
    x, steps, dout = random_chain(seed)
    out_h, dx_h, extras_h, params_h = hand_ordered(x, steps, dout)
    out_r, dx_r, extras_r, params_r = recorded(x, steps, dout)
    np.testing.assert_allclose(out_r, out_h, rtol=1e-12)
    np.testing.assert_allclose(dx_r, dx_h, rtol=1e-12, atol=1e-15)
    assert extras_r.keys() == extras_h.keys()
    for i in extras_h:
        np.testing.assert_allclose(extras_r[i], extras_h[i], rtol=1e-12, atol=1e-15)
    for (dw_r, db_r), (dw_h, db_h) in zip(params_r, params_h, strict=True):
        np.testing.assert_allclose(dw_r, dw_h, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(db_r, db_h, rtol=1e-12, atol=1e-15)


# -- accumulation, size, identity -----------------------------------------------------
def test_x_plus_x_accumulates():
    with Graph() as g:
        x = g.input("x", 3.0)
        y = AddLayer().forward(x, x)
    g.backward()
    assert y == 6.0
    assert g.grad("x") == 2
    assert len(g["x"].consumers) == 2


def test_a_value_used_by_two_nodes_gets_both_gradients():
    a, b = np.array([2.0, -1.0]), np.array([5.0, 7.0])
    with Graph() as g:
        x = g.input("x", np.array([0.5, 1.5]))
        y = AddLayer().forward(MulLayer().forward(x, a), MulLayer().forward(x, b))
        z = MulLayer().forward(x, x)
    g.backward(np.ones(2), output=y)
    np.testing.assert_array_equal(g.grad("x"), a + b)
    assert g.grad(z) is None  # not on the way back from y
    g.backward(np.ones(2))  # from the last result, z = x * x; grads start afresh
    np.testing.assert_array_equal(g.grad("x"), 2 * x)


def test_ten_thousand_node_chain():
    n = 10_000
    layers = [AddLayer() if i % 2 else MulLayer() for i in range(n)]
    operands = [0.001 if i % 2 else 1.0001 for i in range(n)]
    with Graph() as g:
        y = g.input("x", 0.5)
        for layer, c in zip(layers, operands, strict=True):
            y = layer.forward(y, c)
    g.backward(1.0)
    assert len(g) == n
    d = 1.0
    for layer in reversed(layers):
        d = layer.backward(d)[0]
    assert g.grad("x") == d
    assert d == pytest.approx(1.0001 ** (n // 2))


def test_equal_small_numbers_are_told_apart_by_inputs():
    with Graph() as g:
        a, b = g.inputs(a=2, b=2)
        c = MulLayer().forward(a, 3)
        d = MulLayer().forward(b, 5)
        AddLayer().forward(c, d)
    g.backward()
    assert a == 2 and b == 2 and str(a) == "2" and isinstance(c, int) and repr(c) == "6"
    assert g["a"] is not g["b"]
    assert (g.grad("a"), g.grad("b")) == (3, 5)


def test_naming_python_numbers_is_refused():
    # Python shares numbers: the 2 named here is the 2 of every other literal 2.
    with pytest.raises(TypeError, match=r"g.inputs\(apple_num=2\)"):
        Graph(apple_num=2)
    with pytest.raises(TypeError, match="shares numbers"):
        Graph(tax=1.1)


def test_naming_your_own_arrays():
    apple, apple_num, tax = np.array([100.0, 120.0]), np.array([2.0, 3.0]), np.array(1.1)
    mul_apple_layer, mul_tax_layer = MulLayer(), MulLayer()
    with Graph(apple=apple, apple_num=apple_num, tax=tax) as g:
        price = mul_tax_layer.forward(mul_apple_layer.forward(apple, apple_num), tax)
    grads = g.backward(np.ones(2))
    np.testing.assert_allclose(price, [220, 396])
    np.testing.assert_allclose(grads["apple"], [2.2, 3.3])
    np.testing.assert_allclose(grads["apple_num"], [110, 132])
    assert np.shape(grads["tax"]) == () and grads["tax"] == pytest.approx(100 * 2 + 120 * 3)
    with pytest.raises(ValueError, match="same object"):
        Graph(a=apple, b=apple)


def test_keyword_arguments_follow_forwards_order():
    with Graph() as g:
        x, y = g.inputs(x=3.0, y=4.0)
        MulLayer().forward(y=y, x=x)
    g.backward()
    assert (g.grad("x"), g.grad("y")) == (4.0, 3.0)
    assert [e.name for e in g.nodes[0].inputs] == ["x", "y"]


def test_flags_are_not_values():
    from chainrule.core.layers import BatchNormalization, Dropout

    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((4, 3))

    def chain():
        return [BatchNormalization(np.ones(3), np.zeros(3)), Dropout(0.5, seed=1), Relu()]

    hand = chain()
    out = hand[2].forward(hand[1].forward(hand[0].forward(x0, True), True))
    d = np.ones_like(out)
    for layer in reversed(hand):
        d = layer.backward(d)
    layers = chain()
    with Graph() as g:
        x = g.input("x", x0)
        layers[2].forward(layers[1].forward(layers[0].forward(x, train_flg=True), True))
    g.backward()
    assert [len(n.inputs) for n in g.nodes] == [1, 1, 1]
    np.testing.assert_allclose(g.grad("x"), d, rtol=1e-12, atol=1e-15)


def test_float32_stays_float32():
    x32 = np.ones((2, 3), dtype=np.float32)
    with Graph() as g:
        x = g.input("x", x32)
        Sigmoid().forward(Relu().forward(x))
    g.backward()
    assert g.grad("x").dtype == np.float32


def test_only_calls_inside_the_block_are_recorded():
    g = Graph()
    MulLayer().forward(2.0, 3.0)
    with g:
        MulLayer().forward(2.0, 3.0)
    MulLayer().forward(2.0, 3.0)
    assert len(g) == 1
    with g:  # recording resumes
        AddLayer().forward(1.0, 2.0)
    assert len(g) == 2


# -- mistakes --------------------------------------------------------------------------
def test_grad_before_backward_and_unknown_names():
    g = book.apple(backward=False)
    with pytest.raises(RuntimeError, match="backward"):
        g.grad("apple")
    g.backward()
    with pytest.raises(KeyError, match="apple_num"):
        g.grad("banana")
    with pytest.raises(ValueError, match="already used"):
        g.input("apple", 3)


def test_a_layer_used_twice_is_refused():
    mul = MulLayer()
    with Graph() as g:
        x = g.input("x", 2.0)
        mul.forward(mul.forward(x, 3.0), 4.0)
    with pytest.raises(ValueError, match="node 0 .* MulLayer object .* also node 1"):
        g.backward()
    g.rerun(x=5.0)  # forward is right; backward still is not
    assert g.value(g.output) == 60.0 and not g.has_grads
    with pytest.raises(ValueError, match="also node 1"):
        g.backward()


def test_backward_checks_its_start():
    with pytest.raises(ValueError, match="nothing was recorded"):
        Graph().backward()
    with Graph() as g:
        x = g.input("x", np.ones(3))
        Relu().forward(x)
    with pytest.raises(ValueError, match="shape"):
        g.backward(np.ones(4))
    with pytest.raises(ValueError, match="input"):
        g.backward(output="x")


# -- identity: values the graph hands out, constants, and layers used again ------------
class Identity(AddLayer):
    """A layer that returns its input object itself (as Dropout does in eval mode)."""

    symbol = "id"

    def forward(self, x):
        return x

    def backward(self, dout):
        return dout


@pytest.mark.parametrize("value", [3, 3.0, np.float64(3.0), np.array(3.0), np.ones(2) * 3])
def test_an_output_that_is_its_input_is_a_new_value(value):
    with Graph() as g:
        x = g.input("x", value)
        y = Identity().forward(x)
        z = MulLayer().forward(x, y)
    assert y is not x and np.all(y == x)
    assert [e.index for e in g.nodes[1].inputs] == [g["x"].index, g[y].index]
    g.backward(np.ones_like(z) if np.ndim(z) else 1)
    np.testing.assert_allclose(g.grad("x"), 2 * np.asarray(value))


def test_dropout_in_eval_mode_returns_a_value_of_its_own():
    from chainrule.core.layers import Dropout

    x0 = np.array([1.0, -2.0])
    returns_its_input = Dropout(0.5, seed=0).forward(x0, False) is x0  # inverted dropout
    with Graph() as g:
        x = g.input("x", x0)
        y = Dropout(0.5, seed=0).forward(x, False)
        MulLayer().forward(x, y)
    assert y is not x and (y.base is x or not returns_its_input)
    assert [e.index for e in g.nodes[1].inputs] == [g["x"].index, g[y].index]
    g.backward(np.ones(2))
    np.testing.assert_allclose(g.grad("x"), 2 * y)  # x * (s x) gives 2 s x = 2 y


def test_an_output_equal_to_a_literal_stays_apart_from_it():
    # 2.5 * 2 is 5.0; the float literal 5.0 below is a constant, not that output
    with Graph() as g:
        x = g.input("x", 2.5)
        MulLayer().forward(x, 2)
        y = AddLayer().forward(5.0, 5.0)
    assert isinstance(y, float)
    g.backward()
    assert g.grad("x") is None
    assert [e.is_constant for e in g.nodes[1].inputs] == [True, True]


def test_numpy_scalars_from_layers_are_distinct():
    with Graph() as g:
        x = g.input("x", 0.0)
        a = ExpLayer().forward(x)          # np.float64(1.0)
        b = ExpLayer().forward(x)
        MulLayer().forward(a, b)
    assert a is not b and g[a] is not g[b]
    g.backward()
    assert g.grad("x") == pytest.approx(2.0)


def test_nested_graphs_record_into_both():
    with Graph() as outer:
        x = outer.input("x", 2.0)
        y = MulLayer().forward(x, 3.0)
        with Graph() as inner:
            z = ExpLayer().forward(y)
        w = AddLayer().forward(z, 1.0)
    assert [n.label for n in outer.nodes] == ["×", "exp", "+"]
    assert [n.label for n in inner.nodes] == ["exp"]
    outer.backward()
    assert outer.grad("x") == pytest.approx(3 * np.exp(6.0))
    assert inner.backward()  == {}
    assert inner.grad(z) == 1 and inner[y].is_constant
    assert outer.value(w) == pytest.approx(np.exp(6.0) + 1)


def test_entering_the_same_graph_twice_records_once():
    g = Graph()
    with g, g:
        MulLayer().forward(2.0, 3.0)
    assert len(g) == 1


def test_a_sub_graph_backward_through_a_layer_used_later_is_refused():
    mul = MulLayer()
    with Graph() as g:
        x = g.input("x", 2.0)
        y = mul.forward(x, 3.0)
        mul.forward(y, 4.0)   # mul now holds (y, 4): dx would be 4, not 3
    with pytest.raises(ValueError, match="node 0 .* also node 1 of this graph"):
        g.backward(output=y)


def test_a_layer_called_again_after_recording_is_refused():
    mul = MulLayer()
    with Graph() as g:
        x = g.input("x", 2.0)
        mul.forward(x, 3.0)
    mul.forward(10.0, 20.0)
    with pytest.raises(ValueError, match="called again after this graph recorded it"):
        g.backward()
    g.rerun()  # recomputes the graph: the layer holds this graph's values again
    assert g.backward() == {"x": 3.0}


def test_a_layer_shared_by_two_graphs_is_refused_in_the_first():
    mul = MulLayer()
    with Graph() as g1:
        mul.forward(g1.input("a", 2.0), 3.0)
    with Graph() as g2:
        mul.forward(g2.input("b", 5.0), 7.0)
    assert g2.backward() == {"b": 7.0}
    with pytest.raises(ValueError, match="MulLayer"):
        g1.backward()


def test_a_layer_in_nested_graphs_is_one_call():
    mul = MulLayer()
    with Graph() as outer:
        x = outer.input("x", 2.0)
        with Graph() as inner:
            mul.forward(x, 3.0)
    assert outer.backward() == {"x": 3.0}
    assert inner.backward() == {}


def test_backward_before_forward_names_the_layer():
    from chainrule.core.layers import Affine, BatchNormalization, Dropout, SoftmaxWithLoss, Tanh

    layers = [MulLayer(), AddLayer(), ExpLayer(), ReciprocalLayer(), Relu(), Sigmoid(),
              Tanh(), Dropout(), SoftmaxWithLoss(), Affine(np.ones((2, 3)), np.zeros(3)),
              BatchNormalization(np.ones(3), np.zeros(3))]
    for layer in layers:
        with pytest.raises(RuntimeError,
                           match=f"^{type(layer).__name__}.backward called before forward$"):
            layer.backward(np.ones(3))


def test_every_layer_class_checks_backward_before_forward():
    import chainrule.core.conv  # noqa: F401  (its layers, when there are any)
    from chainrule.core.base import Layer

    classes, todo = [], [Layer]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        classes.append(cls)
    found = [c for c in classes if c.__module__.startswith("chainrule.")]
    assert len(found) > 15
    for cls in found[1:]:
        assert hasattr(cls.backward, "__wrapped__"), cls  # the check of base.Layer

    class Custom(Layer):
        def forward(self, x):
            self.x = x
            return x

        def backward(self, dout):
            return dout * self.x

    with pytest.raises(RuntimeError, match="^Custom.backward called before forward$"):
        Custom().backward(1.0)
    layer = Custom()
    layer.forward(2.0)
    assert layer.backward(3.0) == 6.0
