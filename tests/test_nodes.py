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
