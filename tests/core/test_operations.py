import numpy as np
import pytest

from chainrule import AddLayer, ExpLayer, MulLayer, ReciprocalLayer, Sigmoid, numerical_gradient


def test_buy_apple_book_numbers():
    apple, apple_num, tax = 100, 2, 1.1
    mul_apple, mul_tax = MulLayer(), MulLayer()
    price = mul_tax.forward(mul_apple.forward(apple, apple_num), tax)
    dapple_price, dtax = mul_tax.backward(1)
    dapple, dapple_num = mul_apple.backward(dapple_price)
    assert price == pytest.approx(220)
    assert (dapple, dapple_num, dtax) == pytest.approx((2.2, 110, 200))


def test_buy_apple_orange_book_numbers():
    apple, apple_num, orange, orange_num, tax = 100, 2, 150, 3, 1.1
    mul_apple, mul_orange, add, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()
    all_price = add.forward(mul_apple.forward(apple, apple_num),
                            mul_orange.forward(orange, orange_num))
    price = mul_tax.forward(all_price, tax)
    dall_price, dtax = mul_tax.backward(1)
    dapple_price, dorange_price = add.backward(dall_price)
    dorange, dorange_num = mul_orange.backward(dorange_price)
    dapple, dapple_num = mul_apple.backward(dapple_price)
    assert price == pytest.approx(715)
    assert (dapple_num, dapple, dorange, dorange_num, dtax) == pytest.approx((110, 2.2, 3.3, 165, 650))


def primitive_sigmoid(x):
    """The book's figure 5-20: x -> ×(-1) -> exp -> +1 -> / -> y, and its backward."""
    neg, exp, add, rec = MulLayer(), ExpLayer(), AddLayer(), ReciprocalLayer()
    y = rec.forward(add.forward(exp.forward(neg.forward(x, -1)), 1))

    def backward(dout):
        d_sum, _ = add.backward(rec.backward(dout))
        dx, _ = neg.backward(exp.backward(d_sum))
        return dx

    return y, backward


def test_primitive_sigmoid_matches_fused_layer():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3))
    dout = rng.standard_normal((4, 3))
    y, backward = primitive_sigmoid(x)
    fused = Sigmoid()
    np.testing.assert_allclose(y, fused.forward(x), rtol=1e-12)
    np.testing.assert_allclose(backward(dout), fused.backward(dout), rtol=1e-12)
    np.testing.assert_allclose(backward(dout), dout * y * (1 - y), rtol=1e-12)


@pytest.mark.parametrize("layer_cls", [ExpLayer, ReciprocalLayer])
def test_unary_nodes_against_numerical_gradient(layer_cls):
    rng = np.random.default_rng(2)
    x = rng.uniform(0.5, 2.0, (3, 4))
    dout = rng.standard_normal((3, 4))
    layer = layer_cls()
    layer.forward(x)
    dx = layer.backward(dout)
    numeric = numerical_gradient(lambda _: float(np.sum(layer_cls().forward(x) * dout)), x)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("layer_cls", [MulLayer, AddLayer])
def test_binary_nodes_against_numerical_gradient(layer_cls):
    rng = np.random.default_rng(3)
    x, y, dout = (rng.standard_normal((2, 5)) for _ in range(3))
    layer = layer_cls()
    layer.forward(x, y)
    dx, dy = layer.backward(dout)

    def f(_):
        return float(np.sum(layer_cls().forward(x, y) * dout))

    np.testing.assert_allclose(dx, numerical_gradient(f, x), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dy, numerical_gradient(f, y), rtol=1e-6, atol=1e-9)


# -- the nodes expressions need -----------------------------------------------------------
from chainrule import (  # noqa: E402
    DivLayer,
    LogLayer,
    NegLayer,
    PowLayer,
    ReluNode,
    SigmoidNode,
    SubLayer,
    TanhNode,
)

UNARY = {  # name -> (make, inputs in the domain, the function on float64 arrays)
    "neg": (NegLayer, (-2, 2), np.negative),
    "log": (LogLayer, (0.5, 3), np.log),
    "square": (lambda: PowLayer(2), (-2, 2), np.square),
    "cube": (lambda: PowLayer(3), (-2, 2), lambda x: x ** 3),
    "sqrt": (lambda: PowLayer(0.5), (0.5, 3), np.sqrt),
    "inverse": (lambda: PowLayer(-1), (0.5, 3), np.reciprocal),
    "zeroth": (lambda: PowLayer(0), (-2, 2), np.ones_like),
    "sigmoid": (SigmoidNode, (-4, 4), lambda x: 1 / (1 + np.exp(-x))),
    "tanh": (TanhNode, (-2, 2), np.tanh),
    "relu": (ReluNode, (-2, 2), lambda x: np.maximum(x, 0)),
    "exp": (ExpLayer, (-2, 2), np.exp),
    "reciprocal": (ReciprocalLayer, (0.5, 3), np.reciprocal),
}
BINARY = {"sub": (SubLayer, np.subtract), "div": (DivLayer, np.divide),
          "mul": (MulLayer, np.multiply), "add": (AddLayer, np.add)}


def _away_from_kinks(x):
    return np.where(np.abs(x) < 0.05, 0.3, x)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_node_arrays(name):
    make, (low, high), f = UNARY[name]
    rng = np.random.default_rng(4)
    x = _away_from_kinks(rng.uniform(low, high, (3, 4)))
    dout = rng.standard_normal((3, 4))
    x_before = x.copy()
    layer = make()
    out = layer.forward(x)
    np.testing.assert_allclose(out, f(x), rtol=1e-12)
    dx = layer.backward(dout)
    numeric = numerical_gradient(lambda _: float(np.sum(make().forward(x) * dout)), x)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(x, x_before)  # never modified


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_node_python_scalars_and_float32(name):
    make, (low, high), f = UNARY[name]
    x = 0.3 * low + 0.7 * high
    layer = make()
    out = layer.forward(x)
    assert np.ndim(out) == 0 and not isinstance(out, np.ndarray)
    assert float(out) == pytest.approx(float(f(np.float64(x))), rel=1e-12)
    h = 1e-6
    numeric = (float(make().forward(x + h)) - float(make().forward(x - h))) / (2 * h)
    assert float(layer.backward(1.0)) == pytest.approx(numeric, rel=1e-6, abs=1e-8)
    x32 = np.full((2, 2), x, dtype=np.float32)
    layer = make()
    assert layer.forward(x32).dtype == np.float32
    assert layer.backward(np.ones((2, 2), dtype=np.float32)).dtype == np.float32


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_nodes_arrays_scalars_and_broadcasting(name):
    make, f = BINARY[name]
    rng = np.random.default_rng(5)
    x, y = rng.uniform(0.5, 2, (2, 3)), rng.uniform(0.5, 2, (2, 3))
    for a, b in [(x, y), (x, y[0]), (x[:, :1], y), (x, 1.5), (2.5, y)]:
        dout = rng.standard_normal(np.broadcast(a, b).shape)
        layer = make()
        np.testing.assert_allclose(layer.forward(a, b), f(a, b), rtol=1e-12)
        da, db = layer.backward(dout)
        assert np.shape(da) == np.shape(a) and np.shape(db) == np.shape(b)
        for value, grad, first in ((a, da, True), (b, db, False)):
            v = np.array(value, dtype=np.float64)

            def loss(_, v=v, first=first, a=a, b=b, dout=dout):
                return float(np.sum(make().forward(v, b) * dout) if first
                             else np.sum(make().forward(a, v) * dout))

            np.testing.assert_allclose(grad, numerical_gradient(loss, v), rtol=1e-6, atol=1e-8)
    layer = make()
    layer.forward(np.float32([1, 2]), np.float32([3, 4]))
    assert all(g.dtype == np.float32 for g in layer.backward(np.float32([1, 1])))
    assert make().forward(6, 3) == f(6, 3)


def test_domain_edges_are_ieee_and_silent(recwarn):
    assert LogLayer().forward(0) == -np.inf
    layer = LogLayer()
    assert np.isnan(layer.forward(-1.0)) and np.isnan(layer.backward(1.0))
    layer = LogLayer()
    layer.forward(0.0)
    assert layer.backward(1.0) == np.inf
    assert DivLayer().forward(1, 0) == np.inf and np.isnan(DivLayer().forward(0, 0))
    assert ReciprocalLayer().forward(0) == np.inf
    assert PowLayer(-1).forward(0) == np.inf
    root = PowLayer(0.5)
    assert np.isnan(root.forward(-8)) and not isinstance(root.forward(-8), complex)
    zeroth = PowLayer(0)
    assert zeroth.forward(0.0) == 1 and zeroth.backward(1.0) == 0
    assert ExpLayer().forward(1000.0) == np.inf
    assert not recwarn.list


def test_pow_exponent_and_symbol():
    assert PowLayer(2).symbol == "**2" and PowLayer(2.0).n == 2 and PowLayer(-0.5).symbol == "**-0.5"
    for bad in ("2", None, True, np.array([2])):
        with pytest.raises(TypeError, match="exponent"):
            PowLayer(bad)
    with pytest.raises(ValueError, match="finite"):
        PowLayer(np.inf)


def test_relu_node_at_zero_and_with_python_ints():
    layer = ReluNode()
    assert layer.forward(0.0) == 0 and layer.backward(1.0) == 0
    layer = ReluNode()
    assert layer.forward(3) == 3 and layer.backward(2) == 2
    layer = ReluNode()
    np.testing.assert_array_equal(layer.forward(np.array([-1.0, 0.0, 2.0])), [0, 0, 2])
    np.testing.assert_array_equal(layer.backward(np.array([5.0, 5.0, 5.0])), [0, 0, 5])


def test_new_nodes_have_symbols_and_docstrings():
    for cls in (SubLayer, DivLayer, NegLayer, LogLayer, SigmoidNode, TanhNode, ReluNode):
        assert isinstance(cls.symbol, str) and cls.symbol
        assert "dx" in cls.__doc__
    assert [c.symbol for c in (SubLayer, NegLayer, DivLayer, ReciprocalLayer)] == ["−", "−", "÷", "/"]
