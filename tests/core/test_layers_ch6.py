"""Chapter 6's layers (Tanh, Dropout, BatchNormalization) against numerical gradients."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule.core.gradient import numerical_gradient
from chainrule.core.layers import BatchNormalization, Dropout, Tanh

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=30, deadline=None)
@given(shapes, seeds)
def test_tanh_backward_numerical(shape, seed):
    rng = np.random.default_rng(seed)
    x, dout = rng.standard_normal(shape) * 2, rng.standard_normal(shape)
    layer = Tanh()
    np.testing.assert_allclose(layer.forward(x), np.tanh(x))
    dx = layer.backward(dout)
    numeric = numerical_gradient(lambda _: float(np.sum(Tanh().forward(x) * dout)), x)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-8)


@settings(max_examples=30, deadline=None)
@given(shapes, seeds, st.floats(0.0, 0.9))
def test_dropout_backward_numerical_with_fixed_mask(shape, seed, ratio):
    rng = np.random.default_rng(seed)
    x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
    layer = Dropout(ratio, seed=seed)
    layer.fix_mask = True
    out = layer.forward(x)
    dx = layer.backward(dout)
    numeric = numerical_gradient(lambda _: float(np.sum(layer.forward(x) * dout)), x)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(layer.forward(x), out)  # the mask stayed fixed


def test_dropout_is_inverted_and_identity_in_eval():
    x = np.ones((400, 50))
    layer = Dropout(0.2, inverted=True, seed=0)
    out = layer.forward(x)
    kept = out != 0
    np.testing.assert_array_equal(kept, layer.mask)
    np.testing.assert_allclose(out[kept], 1 / 0.8)  # kept units scaled up by 1 / (1 - ratio)
    assert kept.mean() == pytest.approx(0.8, abs=0.01)
    assert out.mean() == pytest.approx(1.0, abs=0.02)  # expectation preserved
    assert layer.forward(x, train_flg=False) is x
    dout = np.full_like(x, 3.0)
    assert layer.backward(dout) is dout  # eval forward: dx = dout
    layer.forward(x, True)
    np.testing.assert_array_equal(layer.backward(dout), np.where(layer.mask, 3.0 / 0.8, 0.0))


def test_dropout_by_default_scales_at_test_time_as_the_book():
    x = np.full((400, 50), 2.0, dtype=np.float32)
    layer = Dropout(0.2, seed=0)
    out = layer.forward(x)
    np.testing.assert_array_equal(out, np.where(layer.mask, 2.0, 0.0))  # kept units unscaled
    assert out.dtype == np.float32 and layer.mask.mean() == pytest.approx(0.8, abs=0.01)
    dout = np.full_like(x, 3.0)
    np.testing.assert_array_equal(layer.backward(dout), np.where(layer.mask, 3.0, 0.0))
    test_out = layer.forward(x, train_flg=False)
    np.testing.assert_allclose(test_out, 1.6)  # x * (1 - ratio)
    assert test_out.dtype == np.float32
    np.testing.assert_allclose(layer.backward(dout), 3.0 * 0.8)  # the eval forward's scale


def test_dropout_masks_come_from_its_generator_only():
    state = np.random.get_state()[1].copy()
    x = np.ones((5, 6))
    a, b = Dropout(0.5, rng=np.random.default_rng(7)), Dropout(0.5, seed=7)
    np.testing.assert_array_equal(a.forward(x), b.forward(x))  # same seed, same mask
    first = a.mask.copy()
    a.forward(x)
    assert not np.array_equal(a.mask, first)  # each training forward draws a new mask
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    with pytest.raises(ValueError, match=r"Dropout: dropout_ratio must be in \[0, 1\)"):
        Dropout(1.0)


def test_dropout_fixed_mask_shape_error_names_the_layer():
    layer = Dropout(0.5, seed=0)
    layer.fix_mask = True
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"Dropout.forward \(fixed mask\): expected shape \(2, 3\), got \(4, 3\)"):
        layer.forward(np.ones((4, 3)))


def make_bn(rng, d):
    return rng.uniform(0.5, 2.0, d), rng.standard_normal(d)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 6), st.lists(st.integers(1, 3), min_size=1, max_size=3), seeds,
       st.booleans())
def test_batchnorm_backward_numerical(n, sample_shape, seed, train):
    rng = np.random.default_rng(seed)
    d = int(np.prod(sample_shape))
    # Rows spread over [-2, 2] in every feature: a batch whose values nearly coincide has
    # a tiny std, where the loss curves so sharply that central differences are off.
    spread = rng.permuted(np.tile(np.linspace(-2, 2, n)[:, None], (1, d)), axis=0)
    x = (spread + 0.3 * rng.standard_normal((n, d)) + 1).reshape(n, *sample_shape)
    dout = rng.standard_normal(x.shape)
    gamma, beta = make_bn(rng, d)
    mean, var = rng.standard_normal(d), rng.uniform(0.5, 2, d)

    def fresh():
        return BatchNormalization(gamma, beta, running_mean=mean.copy(), running_var=var.copy())

    layer = fresh()
    out = layer.forward(x, train)
    assert out.shape == x.shape
    dx = layer.backward(dout)
    assert dx.shape == x.shape

    def f(_):
        return float(np.sum(fresh().forward(x, train) * dout))

    for got, arr in ((dx, x), (layer.dgamma, gamma), (layer.dbeta, beta)):
        np.testing.assert_allclose(got, numerical_gradient(f, arr), rtol=1e-5, atol=1e-7)


def test_batchnorm_normalizes_the_batch_and_tracks_running_statistics():
    rng = np.random.default_rng(0)
    d = 4
    layer = BatchNormalization(np.ones(d), np.zeros(d), momentum=0.9)
    x = rng.standard_normal((64, d)) * 3 + 5
    out = layer.forward(x)  # train_flg=True by default, as in the book
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-6)
    np.testing.assert_allclose(layer.running_mean, 0.1 * x.mean(axis=0))
    np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * x.var(axis=0))
    for _ in range(200):
        layer.forward(x)
    np.testing.assert_allclose(layer.running_mean, x.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(layer.running_var, x.var(axis=0), rtol=1e-6)
    mean_before = layer.running_mean.copy()
    one = layer.forward(x[:1], train_flg=False)  # eval: running statistics, any batch size
    np.testing.assert_allclose(one, (x[:1] - x.mean(0)) / np.sqrt(x.var(0) + 1e-6), rtol=1e-5)
    np.testing.assert_array_equal(layer.running_mean, mean_before)  # eval leaves them alone


def test_batchnorm_updates_given_running_arrays_in_place_and_checks_shapes():
    mean, var = np.zeros(3), np.ones(3)
    layer = BatchNormalization(np.ones(3), np.zeros(3), running_mean=mean, running_var=var)
    layer.forward(np.arange(12.0).reshape(4, 3))
    assert layer.running_mean is mean and mean.any()
    with pytest.raises(ValueError, match=r"BatchNormalization.forward: expected shape \('N', 3\), got \(4, 5\)"):
        layer.forward(np.ones((4, 5)))
    with pytest.raises(ValueError, match="BatchNormalization.backward"):
        layer.backward(np.ones((2, 3)))
    with pytest.raises(ValueError, match="gamma and beta"):
        BatchNormalization(np.ones(3), np.zeros(4))


@pytest.mark.parametrize("make", [Tanh, lambda: Dropout(0.5, seed=1),
                                  lambda: BatchNormalization(np.ones(3, np.float32),
                                                             np.zeros(3, np.float32))])
def test_no_input_mutation_and_float32_kept(make):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    dout = rng.standard_normal((5, 3)).astype(np.float32)
    x0, dout0 = x.copy(), dout.copy()
    layer = make()
    out = layer.forward(x)
    dx = layer.backward(dout)
    assert out.dtype == np.float32 and dx.dtype == np.float32
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dout, dout0)
    if isinstance(layer, BatchNormalization):
        assert layer.dgamma.dtype == np.float32 and layer.running_var.dtype == np.float32
        assert layer.forward(x, train_flg=False).dtype == np.float32
