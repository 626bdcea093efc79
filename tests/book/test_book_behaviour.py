"""The book's behaviours, from its text and code's documented results: ``np.random.seed``
decides unseeded networks, the book's dropout, ``MultiLayerNetExtend``, the chapter-4
functions, ``common/util.py``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainrule.book.util import shuffle_dataset, smooth_curve
from chainrule.core.functions import (
    cross_entropy_error,
    relu_grad,
    softmax,
    softmax_loss,
    sum_squared_error,
)
from chainrule.core.gradient import numerical_gradient_2d
from chainrule.core.layers import Dropout
from chainrule.nn.multilayer import MultiLayerNet, MultiLayerNetExtend
from chainrule.nn.two_layer import TwoLayerNet
from chainrule.training import checkpoint


def relu(a):
    return np.maximum(a, 0)


# ---------------------------------------------------------------- np.random.seed


def test_np_random_seed_decides_unseeded_networks_with_the_books_draws():
    np.random.seed(3)
    net = MultiLayerNet(6, [5, 4], 3)
    np.random.seed(3)  # the book: scale * np.random.randn(n_in, n_out), layer by layer
    for i, (n_in, n_out) in enumerate([(6, 5), (5, 4), (4, 3)], start=1):
        np.testing.assert_array_equal(net.params[f"W{i}"],
                                      math.sqrt(2 / n_in) * np.random.randn(n_in, n_out))
        np.testing.assert_array_equal(net.params[f"b{i}"], np.zeros(n_out))
    np.random.seed(3)
    two = TwoLayerNet(6, 5, 3)
    np.random.seed(3)
    np.testing.assert_array_equal(two.params["W1"], 0.01 * np.random.randn(6, 5))
    np.testing.assert_array_equal(two.params["W2"], 0.01 * np.random.randn(5, 3))
    np.random.seed(3)
    ext = MultiLayerNetExtend(6, [5, 4], 3, weight_init_std="sigmoid")
    np.random.seed(3)
    np.testing.assert_array_equal(ext.params["W1"], math.sqrt(1 / 6) * np.random.randn(6, 5))


def test_dropout_masks_come_from_np_random_rand_without_seed_or_rng():
    x = np.ones((7, 9))
    np.random.seed(5)
    layer = Dropout(0.3)
    out = layer.forward(x)
    np.random.seed(5)
    np.testing.assert_array_equal(layer.mask, np.random.rand(7, 9) > 0.3)
    np.testing.assert_array_equal(out, x * layer.mask)


def test_an_explicit_seed_or_rng_wins_and_leaves_the_global_state_alone():
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    a = MultiLayerNetExtend(6, [5], 3, use_dropout=True, seed=1)
    b = MultiLayerNetExtend(6, [5], 3, use_dropout=True, rng=np.random.default_rng(1))
    x, t = np.ones((4, 6)), np.array([0, 1, 2, 0])
    np.testing.assert_array_equal(a.gradient(x, t)["W1"], b.gradient(x, t)["W1"])
    shuffle_dataset(x, t, seed=2)
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    c = MultiLayerNet(6, [5], 3)  # neither: the global state moves
    assert not np.array_equal(np.random.get_state()[1], before)
    assert not np.array_equal(c.params["W1"], a.params["W1"])


def test_deterministic_and_copies_of_an_unseeded_net_keep_to_the_global_state():
    np.random.seed(0)
    net = MultiLayerNetExtend(6, [5], 3, use_dropout=True, dropout_ration=0.4)
    x, t = np.random.rand(4, 6), np.array([0, 1, 2, 0])
    state = np.random.get_state(legacy=False)
    with net.deterministic():
        net.gradient(x, t)
    np.testing.assert_array_equal(np.random.get_state()[1], state["state"]["key"])  # put back
    copy = net.astype(np.float32)
    assert copy.rng is net.rng and copy.layers["Dropout1"].inverted is False


# ---------------------------------------------------------------- dropout and the nets


def test_extend_is_a_class_with_the_books_dropout():
    net = MultiLayerNetExtend(input_size=6, hidden_size_list=[5], output_size=3,
                              use_dropout=True, dropout_ration=0.25, seed=0)
    assert isinstance(net, MultiLayerNetExtend) and isinstance(net, MultiLayerNet)
    x = np.random.default_rng(1).standard_normal((4, 6))
    W1, b1, W2, b2 = (net.params[k] for k in ("W1", "b1", "W2", "b2"))
    np.testing.assert_allclose(net.predict(x), (relu(x @ W1 + b1) * 0.75) @ W2 + b2)
    train = net.predict(x, train_flg=True)
    mask = net.layers["Dropout1"].mask
    np.testing.assert_allclose(train, (relu(x @ W1 + b1) * mask) @ W2 + b2)
    assert MultiLayerNetExtend(6, [5], 3, dropout_ration=0.25, seed=0).layers.keys() == {
        "Affine1", "Activation_function1", "Affine2"}  # use_dropout=False: no dropout


def test_multilayernet_keeps_inverted_dropout_and_old_configs_load_as_before():
    net = MultiLayerNet(6, [5], 3, dropout_ratio=0.25, seed=0)
    x = np.random.default_rng(1).standard_normal((4, 6))
    W1, b1, W2, b2 = (net.params[k] for k in ("W1", "b1", "W2", "b2"))
    np.testing.assert_allclose(net.predict(x), relu(x @ W1 + b1) @ W2 + b2)
    train = net.predict(x, train_flg=True)
    mask = net.layers["Dropout1"].mask
    np.testing.assert_allclose(train, (relu(x @ W1 + b1) * mask / 0.75) @ W2 + b2)
    config = net.config()
    assert "inverted_dropout" not in config  # what runs saved before the option had
    again = MultiLayerNet.from_config(config, net.params)
    assert again.layers["Dropout1"].inverted and again.config() == config
    book = MultiLayerNet(6, [5], 3, dropout_ratio=0.25, inverted_dropout=False, seed=0)
    assert book.config()["inverted_dropout"] is False
    assert not MultiLayerNet.from_config(book.config(), book.params).layers["Dropout1"].inverted
    with pytest.raises(ValueError, match="inverted_dropout must be true or false"):
        MultiLayerNet.from_config({**config, "inverted_dropout": "no"}, net.params)


def test_extend_saves_and_loads_as_itself(tmp_path):
    net = MultiLayerNetExtend(6, [5], 3, use_dropout=True, dropout_ration=0.3,
                              use_batchnorm=True, seed=0)
    net.gradient(np.random.default_rng(0).standard_normal((4, 6)), np.array([0, 1, 2, 0]))
    checkpoint.save_model(tmp_path / "m.npz", net)
    loaded = checkpoint.load_model(tmp_path / "m.npz")
    assert type(loaded) is MultiLayerNetExtend and loaded.config() == net.config()
    x = np.random.default_rng(2).standard_normal((3, 6))
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


# ---------------------------------------------------------------- functions


def test_the_books_chapter_4_losses():
    t = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
    y2 = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])
    assert sum_squared_error(y, t) == pytest.approx(0.0975)
    assert sum_squared_error(y2, t) == pytest.approx(0.5975)
    assert cross_entropy_error(y, t) == pytest.approx(0.510825457099338, rel=1e-12)
    assert cross_entropy_error(y2, t) == pytest.approx(2.302584092994546, rel=1e-12)
    X = np.array([[0.3, 2.9, 4.0], [1.0, -1.0, 0.5]])
    labels = np.array([2, 0])
    assert softmax_loss(X, labels) == pytest.approx(cross_entropy_error(softmax(X), labels))
    by_hand = -np.mean([math.log(math.exp(r[c]) / sum(map(math.exp, r)) + 1e-7)
                        for r, c in zip(X, labels, strict=True)])
    assert softmax_loss(X, labels) == pytest.approx(by_hand, rel=1e-12)  # with the book's 1e-7


def test_relu_grad_is_one_at_zero_as_the_books():
    np.testing.assert_array_equal(relu_grad(np.array([-1.0, 0.0, 2.0])), [0.0, 1.0, 1.0])
    assert relu_grad(np.array([0.0], dtype=np.float32)).dtype == np.float32


def test_numerical_gradient_2d_on_the_books_function_2():
    def function_2(x):
        return np.sum(x ** 2)

    for point, grad in [((3.0, 4.0), (6.0, 8.0)), ((0.0, 2.0), (0.0, 4.0)),
                        ((3.0, 0.0), (6.0, 0.0))]:
        np.testing.assert_allclose(numerical_gradient_2d(function_2, np.array(point)), grad,
                                   atol=1e-6)
    X = np.array([[3.0, 4.0], [0.0, 2.0], [-1.5, 0.5]])
    before = X.copy()
    np.testing.assert_allclose(numerical_gradient_2d(function_2, X), 2 * X, atol=1e-6)  # per row
    np.testing.assert_array_equal(X, before)  # restored
    with pytest.raises(ValueError, match="1-D or 2-D"):
        numerical_gradient_2d(function_2, np.zeros((2, 2, 2)))


# ---------------------------------------------------------------- util


@pytest.mark.parametrize("n", [11, 12, 30, 257])
def test_smooth_curve_is_a_kaiser_weighted_window_mean(n):
    x = np.random.default_rng(n).standard_normal(n)
    w = np.kaiser(11, 2)
    padded = np.concatenate([x[10:0:-1], x, x[:-11:-1]])  # mirrored ends, as documented
    expected = [np.dot(w, padded[i + 5:i + 16]) / w.sum() for i in range(n)]  # centred on x[i]
    np.testing.assert_allclose(smooth_curve(list(x)), expected, rtol=1e-12)
    line = np.arange(n, dtype=float)
    np.testing.assert_allclose(smooth_curve(line)[5:-5], line[5:-5])  # a line stays a line
    np.testing.assert_allclose(smooth_curve(np.full(n, 2.5)), 2.5)


def test_smooth_curve_of_short_curves_gives_what_the_books_gives():
    assert [len(smooth_curve(np.ones(n))) for n in range(1, 12)] == [0] * 7 + [3, 6, 9, 11]
    with pytest.raises(ValueError, match="non-empty 1-D"):
        smooth_curve([])


@pytest.mark.parametrize("shape", [(10, 3), (10, 1, 2, 2), (10,)])
def test_shuffle_dataset_permutes_pairs_with_np_random_permutation(shape):
    x = np.arange(math.prod(shape), dtype=float).reshape(shape)
    t = np.arange(10)
    np.random.seed(4)
    xs, ts = shuffle_dataset(x, t)
    np.random.seed(4)
    order = np.random.permutation(10)
    np.testing.assert_array_equal(ts, order)
    np.testing.assert_array_equal(xs, x[order])
    with pytest.raises(ValueError, match="10 inputs but 9 labels"):
        shuffle_dataset(x, t[:9])


def test_extend_batchnorm_running_variance_starts_at_zero_as_the_books():
    net = MultiLayerNetExtend(6, [5], 3, weight_init_std=0.01, use_batchnorm=True, seed=0)
    np.testing.assert_array_equal(net.buffers()["running_var1"], 0.0)
    assert np.all(MultiLayerNet(6, [5], 3, use_batchnorm=True, seed=0).buffers()["running_var1"] == 1)
    x = np.random.default_rng(0).standard_normal((8, 6))
    net.gradient(x, np.arange(8) % 3)
    h = x @ net.params["W1"] + net.params["b1"]
    np.testing.assert_allclose(net.buffers()["running_var1"], 0.1 * h.var(axis=0), rtol=1e-10)
