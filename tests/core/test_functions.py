import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from chainrule import cross_entropy_error, sigmoid, softmax
from chainrule.core.functions import log_softmax

finite = st.floats(-50, 50, allow_nan=False, width=64)


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=4, max_side=5), elements=finite))
def test_softmax_rows_are_distributions(x):
    y = softmax(x)
    assert y.shape == x.shape
    assert np.all(y >= 0)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.log(y), log_softmax(x), atol=1e-9)


def test_softmax_huge_logits_do_not_overflow():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = softmax(np.array([1010.0, 1000.0, 990.0]))
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, [9.99954600e-01, 4.53978686e-05, 2.06106005e-09], rtol=1e-6)


def test_softmax_keeps_float32_and_does_not_modify_input():
    x = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    before = x.copy()
    assert softmax(x).dtype == np.float32
    np.testing.assert_array_equal(x, before)


def test_sigmoid_no_overflow_warning_at_extremes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_array_equal(y, [0.0, 0.5, 1.0])
    assert sigmoid(np.float32(3)).dtype == np.float32


def test_cross_entropy_book_example():
    # The book's chapter-4 example: the answer is class 2.
    t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    assert cross_entropy_error(np.array(y), np.array(t)) == pytest.approx(0.510825457099338)
    y2 = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
    assert cross_entropy_error(np.array(y2), np.array(t)) == pytest.approx(2.302584092994546)
    assert cross_entropy_error(np.array(y), 2) == pytest.approx(0.510825457099338)


def test_cross_entropy_one_hot_equals_indices_and_averages_batch():
    rng = np.random.default_rng(0)
    y = softmax(rng.standard_normal((7, 5)))
    t = rng.integers(0, 5, 7)
    one_hot = np.eye(5)[t]
    expected = -np.mean(np.log(y[np.arange(7), t] + 1e-7))
    assert cross_entropy_error(y, t) == pytest.approx(expected)
    assert cross_entropy_error(y, one_hot) == pytest.approx(expected)


def test_cross_entropy_never_takes_log_zero():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = cross_entropy_error(np.array([[1.0, 0.0]]), np.array([1]))
    assert np.isfinite(loss)


@pytest.mark.parametrize(
    "t, match",
    [(np.array([0, 1]), "expected shape"), (np.array([0.0]), "integers"), (np.array([3]), "0..2")],
)
def test_cross_entropy_bad_labels(t, match):
    with pytest.raises(ValueError, match=match):
        cross_entropy_error(np.array([[0.2, 0.3, 0.5]]), t)
