"""Every array layer's backward against the numerical gradient, plus the book's bugs fixed."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule import Affine, Relu, Sigmoid, SoftmaxWithLoss, numerical_gradient

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
seeds = st.integers(0, 2**32 - 1)


def away_from_zero(rng, shape):
    """Values with |x| >= 0.1, so ReLU's kink is far from x +- h."""
    return rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def check_unary(make_layer, x, dout):
    """backward(dout) equals the numerical gradient of sum(forward(x) * dout)."""
    layer = make_layer()
    layer.forward(x)
    dx = layer.backward(dout)
    numeric = numerical_gradient(lambda _: float(np.sum(make_layer().forward(x) * dout)), x)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-8)


@settings(max_examples=30, deadline=None)
@given(shapes, seeds)
def test_relu_backward_numerical(shape, seed):
    rng = np.random.default_rng(seed)
    check_unary(Relu, away_from_zero(rng, shape), rng.standard_normal(shape))


@settings(max_examples=30, deadline=None)
@given(shapes, seeds)
def test_sigmoid_backward_numerical(shape, seed):
    rng = np.random.default_rng(seed)
    check_unary(Sigmoid, rng.standard_normal(shape) * 3, rng.standard_normal(shape))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.lists(st.integers(1, 3), min_size=1, max_size=3), st.integers(1, 4),
       seeds)
def test_affine_backward_numerical_any_input_shape(n, sample_shape, n_out, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *sample_shape))
    W = rng.standard_normal((int(np.prod(sample_shape)), n_out))
    b = rng.standard_normal(n_out)
    dout = rng.standard_normal((n, n_out))
    layer = Affine(W, b)
    layer.forward(x)
    dx = layer.backward(dout)
    assert dx.shape == x.shape

    def f(_):
        return float(np.sum(Affine(W, b).forward(x) * dout))

    for got, arr in ((dx, x), (layer.dW, W), (layer.db, b)):
        np.testing.assert_allclose(got, numerical_gradient(f, arr), rtol=1e-6, atol=1e-8)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(2, 6), seeds, st.booleans(), st.floats(0.1, 3))
def test_softmax_with_loss_backward_numerical(n, c, seed, one_hot, dout):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c)) * 3
    t = rng.integers(0, c, n)
    if one_hot:
        t = np.eye(c)[t]
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    dx = layer.backward(dout)
    numeric = numerical_gradient(lambda _: dout * SoftmaxWithLoss().forward(x, t), x)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-9)


def test_softmax_with_loss_is_y_minus_t_over_n():
    x = np.array([[0.3, 2.9, 4.0], [1.0, 0.0, -1.0]])
    t = np.array([2, 0])
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    y = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(layer.backward(), (y - np.eye(3)[t]) / 2)
    np.testing.assert_allclose(layer.backward(2.5), 2.5 * (y - np.eye(3)[t]) / 2)


def test_softmax_with_loss_single_sample_and_huge_logits():
    layer = SoftmaxWithLoss()
    loss = layer.forward(np.array([1010.0, 1000.0, 990.0]), 0)
    assert np.isfinite(loss) and loss == pytest.approx(4.54e-5, rel=1e-2)
    dx = layer.backward()
    assert dx.shape == (3,) and np.all(np.isfinite(dx))
    assert SoftmaxWithLoss().forward(np.array([0.0, -1000.0]), 1) == pytest.approx(1000)


def test_relu_backward_does_not_overwrite_dout():
    # The book's Relu.backward writes zeros into dout; ours must not.
    relu = Relu()
    relu.forward(np.array([[-1.0, 2.0], [3.0, -4.0]]))
    dout = np.ones((2, 2))
    dx = relu.backward(dout)
    np.testing.assert_array_equal(dout, np.ones((2, 2)))
    np.testing.assert_array_equal(dx, [[0, 1], [1, 0]])


def layer_runs():
    rng = np.random.default_rng(5)
    W, b = rng.standard_normal((6, 3)), rng.standard_normal(3)
    yield Relu(), (rng.standard_normal((4, 6)),), rng.standard_normal((4, 6))
    yield Sigmoid(), (rng.standard_normal((4, 6)),), rng.standard_normal((4, 6))
    yield Affine(W, b), (rng.standard_normal((4, 6)),), rng.standard_normal((4, 3))
    yield SoftmaxWithLoss(), (rng.standard_normal((4, 3)), rng.integers(0, 3, 4)), np.array(1.5)
    yield SoftmaxWithLoss(), (rng.standard_normal((4, 3)), np.eye(3)[[0, 1, 2, 0]]), np.array(1.0)


@pytest.mark.parametrize("layer, inputs, dout", list(layer_runs()),
                         ids=lambda v: type(v).__name__ if hasattr(v, "forward") else "")
def test_no_layer_modifies_its_arguments(layer, inputs, dout):
    copies = [np.copy(a) for a in inputs]
    dout_copy = np.copy(dout)
    params = {k: np.copy(v) for k, v in vars(layer).items() if k in ("W", "b")}
    layer.forward(*inputs)
    layer.backward(dout)
    for a, c in zip(inputs, copies, strict=True):
        np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(dout, dout_copy)
    for k, v in params.items():
        np.testing.assert_array_equal(getattr(layer, k), v)


def test_float32_in_float32_out():
    f32 = np.float32
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 4)).astype(f32)
    d = rng.standard_normal((5, 4)).astype(f32)
    for layer in (Relu(), Sigmoid()):
        assert layer.forward(x).dtype == f32
        assert layer.backward(d).dtype == f32
    affine = Affine(rng.standard_normal((4, 3)).astype(f32), np.zeros(3, f32))
    assert affine.forward(x).dtype == f32
    assert affine.backward(np.ones((5, 3), f32)).dtype == f32
    assert affine.dW.dtype == f32 and affine.db.dtype == f32
    swl = SoftmaxWithLoss()
    swl.forward(x, rng.integers(0, 4, 5))
    assert swl.y.dtype == f32 and swl.backward().dtype == f32
    swl.forward(x, np.eye(4)[rng.integers(0, 4, 5)])  # float64 one-hot labels
    assert swl.backward().dtype == f32


def test_affine_image_batch_and_single_sample():
    rng = np.random.default_rng(7)
    W, b = rng.standard_normal((784, 10)), np.zeros(10)
    layer = Affine(W, b)
    x = rng.standard_normal((2, 1, 28, 28))
    out = layer.forward(x)
    assert out.shape == (2, 10)
    np.testing.assert_allclose(out, x.reshape(2, -1) @ W)
    assert layer.backward(np.ones((2, 10))).shape == (2, 1, 28, 28)
    single = layer.forward(x[0, 0].ravel())
    assert single.shape == (10,)
    assert layer.backward(np.ones(10)).shape == (784,)


def test_affine_in_place_update_reaches_layer():
    W, b = np.ones((2, 2)), np.zeros(2)
    layer = Affine(W, b)
    W -= 0.5
    np.testing.assert_allclose(layer.forward(np.array([[1.0, 1.0]])), [[1.0, 1.0]])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: Affine(np.ones((4, 3)), np.zeros(3)).forward(np.ones((2, 5))),
         r"Affine.forward: expected shape \('N', 4\), got \(2, 5\)"),
        (lambda: Affine(np.ones((4, 3)), np.zeros(2)), r"Affine: expected W .* got W \(4, 3\) and b \(2,\)"),
        (lambda: _forwarded(Affine(np.ones((4, 3)), np.zeros(3)), np.ones((2, 4))).backward(np.ones((2, 2))),
         r"Affine.backward: expected shape \(2, 3\), got \(2, 2\)"),
        (lambda: _forwarded(Relu(), np.ones((2, 4))).backward(np.ones((4, 2))),
         r"Relu.backward: expected shape \(2, 4\), got \(4, 2\)"),
        (lambda: _forwarded(Sigmoid(), np.ones(3)).backward(np.ones(2)),
         r"Sigmoid.backward: expected shape \(3,\), got \(2,\)"),
        (lambda: SoftmaxWithLoss().forward(np.ones((2, 3)), np.array([0, 1, 2])),
         r"labels: expected shape \(2, 3\) \(one-hot\) or \(2,\)"),
    ],
)
def test_shape_errors_name_layer_expected_and_given(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def _forwarded(layer, x):
    layer.forward(x)
    return layer


def test_affine_can_skip_the_input_gradient():
    rng = np.random.default_rng(8)
    W, b = rng.standard_normal((5, 3)), rng.standard_normal(3)
    x, dout = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    full, lean = Affine(W, b), Affine(W, b)
    full.forward(x)
    lean.forward(x)
    assert full.backward(dout) is not None
    assert lean.backward(dout, input_grad=False) is None
    np.testing.assert_array_equal(full.dW, lean.dW)
    np.testing.assert_array_equal(full.db, lean.db)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64])
def test_relu_backward_is_np_where_bit_for_bit(dtype):
    """Relu.backward's branch-free AND gives np.where(mask, 0, dout)'s bits: +0.0 where
    the input was <= 0 (whatever dout holds there: NaN, inf, -0.0), dout untouched
    elsewhere (NaN kept)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((7, 5, 3)).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    if np.issubdtype(dtype, np.floating):
        dout.flat[:6] = [np.nan, np.inf, -np.inf, -0.0, np.nan, -0.0]
        x.flat[:6] = [-1, 0, 1, -2, 3, 4]
    layer = Relu()
    layer.forward(x)
    got = layer.backward(dout)
    assert got.dtype == dout.dtype and got.tobytes() == np.where(x <= 0, 0, dout).tobytes()
    flipped = dout[:, ::-1]
    assert layer.backward(flipped).tobytes() == np.where(x <= 0, 0, flipped).tobytes()


def test_relu_takes_one_number():
    """Relu on a plain number: its backward no longer fails on a bool without a shape."""
    for x, dout, dx in ((3.0, 2.0, 2.0), (-1.0, 2.0, 0.0), (np.float32(0), np.float32(5), 0.0)):
        layer = Relu()
        assert layer.forward(x) == max(x, 0)
        assert layer.backward(dout) == dx
