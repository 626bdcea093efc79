"""Labels and accuracy never give a silent wrong answer: NaN scores count as wrong, labels
that are not one per sample (or not a distribution) are refused, an empty batch says so."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from chainrule import SoftmaxWithLoss, TwoLayerNet, cross_entropy_error
from chainrule.core.functions import check_labels
from chainrule.nn.multilayer import MultiLayerNet
from chainrule.nn.network import accuracy_of
from chainrule.nn.optim import SGD
from chainrule.training.evaluation import evaluate
from chainrule.training.loop import TrainingLoop


def small_net(**kw):
    return TwoLayerNet(4, 5, 3, weight_init_std=0.5, seed=0, **kw)


def test_nan_scores_count_as_wrong():
    scores = np.array([[np.nan, 0.0, 0.0], [1.0, 0.0, np.nan], [0.0, 2.0, 1.0]])
    # argmax calls the first two rows class 0: before, they were "right"
    assert accuracy_of(scores, np.array([0, 0, 1])) == pytest.approx(1 / 3)
    net = small_net()
    net.params["W2"][...] = np.nan
    x = np.ones((6, 4))
    assert net.accuracy(x, np.zeros(6, dtype=int)) == 0.0
    deep = MultiLayerNet(4, [5], 3, seed=0)
    deep.params["b2"][...] = np.nan
    assert deep.accuracy(x, np.zeros(6, dtype=int)) == 0.0


def test_inf_scores_still_predict_their_class():
    scores = np.array([[np.inf, 0.0, 0.0], [0.0, -np.inf, 1.0]])
    assert accuracy_of(scores, np.array([0, 2])) == 1.0


@pytest.mark.parametrize("labels, message", [
    (np.array([0]), r"expected shape \(3, 3\) \(one-hot\) or \(3,\)"),
    (np.array([0, 1]), r"got \(2,\)"),
    (np.array([0, 1, 2, 0]), r"got \(4,\)"),
    (np.array([[0, 1, 2]]), r"got \(1, 3\)"),
    (np.array([0, 1, 3]), r"class indices must lie in 0..2, got 0..3"),
    (np.array([0, -1, 2]), r"class indices must lie in 0..2"),
    (np.array([0.0, 1.0, 2.0]), "class indices must be integers"),
    (np.array(["a", "b", "c"]), " must be numbers"),
])
def test_accuracy_refuses_labels_that_are_not_one_per_sample(labels, message):
    net = small_net()
    with pytest.raises(ValueError, match=r"^accuracy: labels.*" + message):
        net.accuracy(np.ones((3, 4)), labels)


BAD_ONE_HOT = {
    "negative": np.array([[-1.0, 2.0, 0.0], [1, 0, 0]]),
    "nan": np.array([[np.nan, 1.0, 0.0], [1, 0, 0]]),
    "inf": np.array([[np.inf, 0.0, 0.0], [1, 0, 0]]),
    "sums to 2": np.array([[1.0, 1.0, 0.0], [1, 0, 0]]),
    "sums to 0": np.array([[1.0, 0.0, 0.0], [0, 0, 0]]),
    "sums to 0.9": np.array([[0.9, 0.0, 0.0], [1, 0, 0]]),
}


@pytest.mark.parametrize("name", BAD_ONE_HOT)
def test_one_hot_labels_must_be_distributions_everywhere(name):
    t = BAD_ONE_HOT[name]
    x, scores = np.ones((2, 4)), np.zeros((2, 3))
    net = small_net()
    calls = {
        "SoftmaxWithLoss.forward": lambda: SoftmaxWithLoss().forward(scores, t),
        "cross_entropy_error": lambda: cross_entropy_error(np.full((2, 3), 1 / 3), t),
        "net.loss": lambda: net.loss(x, t),
        "net.gradient": lambda: net.gradient(x, t),
        "accuracy": lambda: net.accuracy(x, t),
    }
    for what, call in calls.items():
        with pytest.raises(ValueError, match="labels: one-hot rows must be probability distributions") as info:
            call()
        row = 1 if name == "sums to 0" else 0
        assert f"row {row} is [" in str(info.value), what


def test_soft_and_float32_one_hot_labels_are_fine():
    smooth = np.full((2, 3), 0.1 / 3) + 0.9 * np.eye(3)[[0, 2]]
    loss = SoftmaxWithLoss().forward(np.zeros((2, 3)), smooth)
    assert loss == pytest.approx(math.log(3))
    half = np.full((2, 10), 0.1, dtype=np.float16)  # sums to 0.99976 in float16
    assert math.isfinite(SoftmaxWithLoss().forward(np.zeros((2, 10)), half))
    onehot32 = np.eye(3, dtype=np.float32)[[1, 2]]
    assert math.isfinite(cross_entropy_error(np.full((2, 3), 1 / 3, np.float32), onehot32))
    boolean = np.eye(3, dtype=bool)[[1, 2]]
    assert accuracy_of(np.eye(3)[[1, 0]], boolean) == 0.5


def test_an_empty_batch_says_so_instead_of_nan():
    net = small_net()
    deep = MultiLayerNet(4, [5, 5], 3, use_batchnorm=True, seed=0)
    x, t = np.zeros((0, 4)), np.zeros(0, dtype=int)
    calls = {
        "SoftmaxWithLoss.forward": lambda: SoftmaxWithLoss().forward(np.zeros((0, 3)), t),
        "cross_entropy_error": lambda: cross_entropy_error(np.zeros((0, 3)), t),
        "TwoLayerNet.loss": lambda: net.loss(x, t),
        "TwoLayerNet.gradient": lambda: net.gradient(x, t),
        "TwoLayerNet.accuracy": lambda: net.accuracy(x, t),
        "MultiLayerNet.gradient": lambda: deep.gradient(x, t),
        "MultiLayerNet.accuracy": lambda: deep.accuracy(x, t),
        "no classes": lambda: SoftmaxWithLoss().forward(np.zeros((2, 0)), np.zeros(2, int)),
        "evaluate": lambda: evaluate(net, x, t),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" on the way
        for call in calls.values():
            with pytest.raises(ValueError, match="empty"):
                call()


def test_trainer_refuses_an_empty_test_set():
    x, t = np.ones((20, 4)), np.zeros(20, dtype=int)
    with pytest.raises(ValueError, match="the test set is empty"):
        TrainingLoop(small_net(), SGD(0.1), x, t, x[:0], t[:0], batch_size=5)


def test_evaluate_counts_nan_rows_as_wrong_and_checks_labels():
    class Fixed:
        def predict(self, x):
            return np.array([[np.nan, 0, 0], [0, 1, 0], [0, 0, 1], [1, np.nan, 0]])

    result = evaluate(Fixed(), np.zeros((4, 1)), np.array([0, 1, 2, 0]))
    assert result.accuracy == 0.5
    assert result.confusion.sum() == 2 and result.counts.tolist() == [2, 1, 1]
    assert result.per_class.tolist() == [0.0, 1.0, 1.0]
    assert "2 with NaN scores predict nothing and count as wrong" in str(result)
    with pytest.raises(ValueError, match="evaluate: labels: expected shape"):
        evaluate(Fixed(), np.zeros((4, 1)), np.array([0]))
    with pytest.raises(ValueError, match="evaluate: labels: class indices must lie in 0..2"):
        evaluate(Fixed(), np.zeros((4, 1)), np.array([0, 1, 2, 5]))


labels = st.one_of(
    hnp.arrays(st.sampled_from([np.int64, np.float64, np.float32, np.bool_]),
               hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)),
    st.lists(st.integers(-3, 5), max_size=5).map(np.array),
)


@settings(max_examples=60, deadline=None)
@given(t=labels, n=st.integers(0, 3), c=st.integers(0, 4))
def test_any_labels_give_a_finite_loss_or_a_value_error(t, n, c):
    """Whatever the labels, the loss is a number computed from valid labels, or a
    ValueError: never NaN, a broadcast, or another exception."""
    x = np.linspace(-1, 1, n * c).reshape(n, c)
    try:
        valid = check_labels(x, t)
    except ValueError:
        with pytest.raises(ValueError):
            SoftmaxWithLoss().forward(x, t)
        with pytest.raises(ValueError):
            accuracy_of(x, t)
        return
    loss = SoftmaxWithLoss().forward(x, t)
    assert math.isfinite(loss) and n > 0 and c > 0
    assert valid.shape in (x.shape, x.shape[:-1])
    assert 0 <= accuracy_of(x, t) <= 1


def test_a_column_of_class_indices_is_one_label_per_sample():
    """The book's ch07/gradient_check.py passes ``T = np.array([1]).reshape((1, 1))``:
    a column of indices, one per sample, is accepted; a broadcast still is not."""
    y = np.full((3, 10), 0.1)
    np.testing.assert_array_equal(check_labels(y, np.array([[1], [2], [3]])), [1, 2, 3])
    layer = SoftmaxWithLoss()
    assert layer.forward(np.zeros((1, 10)), np.array([[1]])) == pytest.approx(np.log(10))
    with pytest.raises(ValueError, match="expected shape"):
        check_labels(y, np.array([[1]]))
    with pytest.raises(ValueError, match="integers|expected shape"):
        check_labels(y, np.array([[1.0], [2.0], [3.0]]))
