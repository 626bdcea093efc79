"""SimpleConvNet and DeepConvNet: the book's calls, gradient checks, files, training."""

import pickle

import numpy as np
import pytest

from chainrule import gradient_check
from chainrule.core.conv import Convolution, Pooling
from chainrule.core.layers import Affine, Dropout, Relu
from chainrule.nn.convnets import DeepConvNet, SimpleConvNet
from chainrule.nn.network import input_shape
from chainrule.training.checkpoint import CheckpointError, load_model, save_model

SMALL_CONV = {"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 1}


def conv(n, pad=1):
    return {"filter_num": n, "filter_size": 3, "pad": pad, "stride": 1}


def small_deep(dropout_ratio=0.5, **kw):
    """DeepConvNet's layout, shrunk: 8x8 images, 2-3 filters per convolution."""
    return DeepConvNet((1, 8, 8), conv(2), conv(2), conv(3), conv(3, 2), conv(2), conv(2),
                       hidden_size=8, output_size=4, dropout_ratio=dropout_ratio, **kw)


def random_biases(net, seed=0):
    """Non-zero biases: with b = 0, outputs that see only padding sit exactly on ReLU's
    kink, where the numerical gradient is meaningless."""
    rng = np.random.default_rng(seed)
    for k, p in net.params.items():
        if k.startswith("b"):
            p[...] = 0.1 * rng.standard_normal(p.shape)
    return net


def test_simple_convnet_is_the_books():
    net = SimpleConvNet(input_dim=(1, 28, 28),
                        conv_param={"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},
                        hidden_size=100, output_size=10, weight_init_std=0.01, seed=0)
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {"W1": (30, 1, 5, 5), "b1": (30,), "W2": (4320, 100), "b2": (100,),
                      "W3": (100, 10), "b3": (10,)}
    assert list(net.layers) == ["Conv1", "Relu1", "Pool1", "Affine1", "Relu2", "Affine2"]
    assert [type(v) for v in net.layers.values()] == [Convolution, Relu, Pooling, Affine, Relu,
                                                      Affine]
    assert net.layers["Pool1"].stride == 2 and net.last_layer is net.lastLayer
    assert net.params["W1"].std() == pytest.approx(0.01, rel=0.2)
    assert net.dtype == np.float64 and input_shape(net) == (1, 28, 28)
    assert SimpleConvNet(seed=0).config() == net.config()  # the book's defaults


def test_deep_convnet_is_the_books():
    net = DeepConvNet(seed=0)
    shapes = [net.params[f"W{i}"].shape for i in range(1, 9)]
    assert shapes == [(16, 1, 3, 3), (16, 16, 3, 3), (32, 16, 3, 3), (32, 32, 3, 3),
                      (64, 32, 3, 3), (64, 64, 3, 3), (1024, 50), (50, 10)]
    assert isinstance(net.layers, list) and len(net.layers) == 20
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds[:5] == ["Convolution", "Relu", "Convolution", "Relu", "Pooling"]
    assert kinds[15:] == ["Affine", "Relu", "Dropout", "Affine", "Dropout"]
    for i, fan_in in enumerate([9, 144, 144, 288, 288, 576, 1024, 50], 1):  # He
        assert net.params[f"W{i}"].std() == pytest.approx(np.sqrt(2 / fan_in), rel=0.35)
    assert all(layer.rng is net.rng for layer in net.layers if isinstance(layer, Dropout))


def test_odd_image_sizes_get_the_right_affine_size():
    net = SimpleConvNet((1, 27, 27), seed=0)  # conv 23x23, pooled 11x11 (the book: 11.5)
    assert net.params["W2"].shape == (30 * 11 * 11, 100)
    assert net.predict(np.zeros((2, 729))).shape == (2, 10)


def test_inputs_flat_images_and_single_samples_agree():
    net = SimpleConvNet((1, 9, 9), SMALL_CONV, hidden_size=5, output_size=3, seed=1)
    x = np.random.default_rng(0).random((4, 1, 9, 9))
    scores = net.predict(x)
    np.testing.assert_allclose(net.predict(x.reshape(4, 81)), scores)
    np.testing.assert_allclose(net.predict(x[:, 0]), scores)  # (N, H, W): one channel
    np.testing.assert_allclose(net.predict(x[2]), scores[2])
    np.testing.assert_allclose(net.predict(x[2].ravel()), scores[2])
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 1, 9, 9\) or rows "
                                         r"\(N, 81\), got \(4, 80\)"):
        net.predict(np.zeros((4, 80)))


def test_simple_convnet_gradient_check():
    net = random_biases(SimpleConvNet((1, 7, 6), SMALL_CONV, hidden_size=6, output_size=4,
                                      weight_init_std=0.3, seed=2))
    x = np.random.default_rng(3).standard_normal((3, 1, 7, 6))
    report = gradient_check(net, x, np.array([0, 3, 1]))
    assert report.passed, report


def test_simple_convnet_gradient_check_from_float32_and_two_channels():
    net = random_biases(SimpleConvNet((2, 6, 6), {"filter_num": 2, "filter_size": 2, "pad": 0,
                                                  "stride": 2}, hidden_size=5, output_size=3,
                                      weight_init_std="he", dtype=np.float32, seed=4))
    x = np.random.default_rng(5).standard_normal((2, 2, 6, 6)).astype(np.float32)
    assert gradient_check(net, x, np.eye(3)[[0, 2]]).passed  # checked on a float64 copy


@pytest.mark.parametrize("ratio", [0.0, 0.5])
def test_deep_convnet_gradient_check(ratio):
    net = random_biases(small_deep(ratio, seed=3))
    x = np.random.default_rng(6).standard_normal((3, 1, 8, 8))
    t = np.array([0, 2, 3])
    with net.deterministic():  # one dropout mask for every loss the check computes
        grads = net.gradient(x, t)
        # h = 1e-6: two values of a pooling window 1e-4 apart would swap under the
        # default step, and the central difference would straddle the kink
        report = gradient_check(net, x, t, h=1e-6)
    assert report.passed, report
    assert all(np.any(g != 0) for g in grads.values())  # a check of something


def test_deep_convnet_gradient_check_on_the_grid(monkeypatch):
    """The book's DeepConvNet runs its convolutions 2 to 6 on the padded grid
    (chainrule.core.grid); here the small one does too, in pieces of one image."""
    from chainrule.core import conv, grid

    monkeypatch.setattr(conv, "SMALL_K", 0)
    monkeypatch.setattr(grid, "CACHE_BYTES", 1)
    net = random_biases(small_deep(0.5, seed=4))
    x = np.random.default_rng(7).standard_normal((3, 1, 8, 8))
    t = np.array([1, 0, 3])
    with net.deterministic():
        report = gradient_check(net, x, t, h=1e-6)
    assert report.passed, report
    assert all(layer._grid is not None for layer in net._weighted()[:6])


def test_book_deep_convnet_takes_the_grid_but_for_its_first_layer():
    net = DeepConvNet(seed=0, dtype=np.float32)
    net.predict(np.zeros((2, 784), np.float32))
    assert [layer._grid is not None for layer in net._weighted()[:6]] == [False] + [True] * 5


def test_deterministic_leaves_no_trace():
    net = small_deep(seed=7)
    x, t = np.random.default_rng(8).standard_normal((2, 1, 8, 8)), np.array([1, 2])
    state = net.rng.bit_generator.state
    with net.deterministic():
        a, b = net.loss(x, t), net.loss(x, t)
    assert a == b and net.rng.bit_generator.state == state
    assert net.loss(x, t) != net.loss(x, t)  # outside: a new mask each time


def test_numerical_gradient_matches_gradient():
    net = random_biases(small_deep(0.2, seed=9))
    x, t = np.random.default_rng(10).standard_normal((2, 1, 8, 8)), np.array([0, 1])
    with net.deterministic():
        grads = net.gradient(x, t)
        numerical = net.numerical_gradient(x, t)
    for k in ("W1", "b8"):
        np.testing.assert_allclose(grads[k], numerical[k], rtol=1e-4, atol=1e-7)


def test_float32_stays_float32_and_nothing_is_modified():
    net = small_deep(seed=11, dtype=np.float32)
    x = np.random.default_rng(12).random((3, 1, 8, 8)).astype(np.float32)
    t = np.array([0, 1, 2])
    x_copy, params = x.copy(), {k: v.copy() for k, v in net.params.items()}
    assert net.predict(x).dtype == np.float32
    grads = net.gradient(x, t)
    assert all(g.dtype == np.float32 for g in grads.values())
    np.testing.assert_array_equal(x, x_copy)
    for k, p in net.params.items():
        np.testing.assert_array_equal(p, params[k])
    assert net.astype(np.float64).dtype == np.float64


def test_seed_and_rng_decide_the_weights():
    a, b = SimpleConvNet(seed=5), SimpleConvNet(rng=np.random.default_rng(5))
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not np.array_equal(a.params["W1"], SimpleConvNet(seed=6).params["W1"])


def test_accuracy_counts_every_sample():
    net = SimpleConvNet((1, 6, 6), SMALL_CONV, hidden_size=4, output_size=2, seed=13)
    x = np.random.default_rng(14).random((7, 36))
    predicted = net.predict(x).argmax(axis=1)
    assert net.accuracy(x, predicted, batch_size=3) == 1.0  # 3 + 3 + 1: the last one too
    t = predicted.copy()
    t[6] = 1 - t[6]
    assert net.accuracy(x, t, batch_size=3) == pytest.approx(6 / 7)


def test_save_and_load_params_without_pickle(tmp_path):
    net, other = SimpleConvNet(seed=1), SimpleConvNet(seed=2)
    net.save_params(tmp_path / "params.pkl")  # the book's file name: an npz all the same
    with np.load(tmp_path / "params.pkl", allow_pickle=False) as f:
        assert sorted(f.files) == sorted(net.params)
    w1 = other.params["W1"]
    other.load_params(tmp_path / "params.pkl")
    assert other.params["W1"] is w1  # copied in place: the layers see the new weights
    x = np.random.default_rng(0).random((2, 784))
    np.testing.assert_array_equal(other.predict(x), net.predict(x))

    with open(tmp_path / "book.pkl", "wb") as f:  # what the book's own save_params writes
        pickle.dump({k: v for k, v in net.params.items()}, f)
    with pytest.raises(ValueError, match="never loads pickle"):
        other.load_params(tmp_path / "book.pkl")
    small = SimpleConvNet((1, 9, 9), SMALL_CONV, hidden_size=5, output_size=3)
    with pytest.raises(ValueError, match=r"W1 in .* is float64 \(30, 1, 5, 5\), expected "
                                         r"\(3, 1, 3, 3\)"):
        small.load_params(tmp_path / "params.pkl")


@pytest.mark.parametrize("make", [lambda: SimpleConvNet((1, 9, 9), SMALL_CONV, 5, 3, seed=1),
                                  lambda: small_deep(seed=1)])
def test_model_files_round_trip(make, tmp_path):
    net = make()
    save_model(tmp_path / "model.npz", net, meta={"dataset": "x"})
    loaded = load_model(tmp_path / "model.npz")
    assert type(loaded) is type(net) and loaded.config() == net.config()
    x = np.random.default_rng(1).random((2, 1, 9, 9) if isinstance(net, SimpleConvNet)
                                        else (2, 1, 8, 8))
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


@pytest.mark.parametrize("change, message", [
    ({"input_dim": [1, 28]}, "input_dim must be"),
    ({"conv_param": {"filter_num": 3}}, "conv_param must have the keys"),
    ({"conv_param": {**SMALL_CONV, "filter_size": 40}}, "does not fit a 28x28 input"),
    ({"hidden_size": 0}, "hidden_size must be an integer >= 1"),
    ({"class": "DeepConvNet"}, "bad config"),
    ({"extra": 1}, r"unknown \['extra'\]"),
])
def test_from_config_rejects_bad_configs(change, message):
    net = SimpleConvNet(seed=0)
    with pytest.raises(ValueError, match=message):
        SimpleConvNet.from_config({**net.config(), **change}, net.params)


def test_model_file_with_wrong_params_is_one_clear_error(tmp_path):
    net = SimpleConvNet(seed=0)
    save_model(tmp_path / "model.npz", net)
    with np.load(tmp_path / "model.npz", allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["params/W2"] = arrays["params/W2"][:10]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(CheckpointError, match=r"parameter W2: expected shape \(4320, 100\)"):
        load_model(tmp_path / "bad.npz")
    arrays["net"] = np.array('{"class": "_ConvNet"}')
    np.savez(tmp_path / "private.npz", **arrays)
    with pytest.raises(CheckpointError, match="unknown network class '_ConvNet'"):
        load_model(tmp_path / "private.npz")

