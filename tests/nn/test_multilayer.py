"""MultiLayerNet: every variant passes gradient_check; configs, modes, dtypes, seeds."""

import json

import numpy as np
import pytest

from chainrule.core.gradient import gradient_check
from chainrule.core.layers import (
    Affine,
    BatchNormalization,
    Dropout,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
)
from chainrule.nn.multilayer import MultiLayerNet, MultiLayerNetExtend

VARIANTS = {
    "relu": {},
    "sigmoid": {"activation": "sigmoid", "weight_init_std": "xavier"},
    "tanh": {"activation": "tanh", "weight_init_std": "xavier"},
    "batchnorm": {"use_batchnorm": True, "activation": "tanh"},
    "batchnorm-relu": {"use_batchnorm": True},
    "dropout": {"dropout_ratio": 0.3},
    "weight-decay": {"weight_decay_lambda": 0.1},
    "everything": {"activation": "tanh", "use_batchnorm": True, "dropout_ratio": 0.2,
                   "weight_decay_lambda": 0.05, "weight_init_std": 0.5},
}


def batch(seed=0, n=7, d=6, classes=3):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, classes, n)


def away_from_kinks(net, seed=0):
    """Move every parameter off its initial value: with all biases 0, a row whose inputs
    dropout zeroed lands exactly on ReLU's kink, where no numerical gradient agrees."""
    rng = np.random.default_rng(seed)
    for p in net.params.values():
        p += (0.2 * rng.standard_normal(p.shape)).astype(p.dtype)
    return net


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradient_check_passes_for_every_variant(name, dtype):
    x, t = batch()
    net = away_from_kinks(MultiLayerNet(6, [5, 4], 3, dtype=dtype, seed=1, **VARIANTS[name]))
    # Batch norm over a 7-row batch curves the loss sharply: the central difference's
    # error (h**2 / 6 times the third derivative) reaches 7e-8 with the default h = 1e-4
    # and shrinks 100-fold per 10-fold smaller h (so backprop is right); these nets are
    # checked with h = 1e-5. A bias just before a batch norm has an exactly zero gradient
    # (the normalisation removes any shift), whose numerical value is rounding noise of
    # about 1e-11 at that h: hence floor 1e-5 (rtol * floor = 1e-10 absolute near zero).
    options = {"h": 1e-5, "floor": 1e-5} if net.use_batchnorm else {}
    with net.deterministic():
        report = gradient_check(net, x.astype(dtype), t, **options)
    assert report.passed, str(report)
    assert set(report.params) == set(net.params)
    if net.use_batchnorm:
        assert report.params["b1"].max_abs_diff < 1e-10


def test_without_fixed_masks_or_training_mode_the_check_fails():
    """The deterministic() block is what makes the check meaningful."""
    x, t = batch()
    assert not gradient_check(MultiLayerNet(6, [5, 4], 3, dropout_ratio=0.3, seed=1), x, t)
    assert not gradient_check(MultiLayerNet(6, [5, 4], 3, use_batchnorm=True, seed=1), x, t)


def test_book_names_layers_and_params():
    net = MultiLayerNet(784, [100, 50], 10, use_batchnorm=True, dropout_ratio=0.2, seed=0)
    assert list(net.params) == ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2",
                                "W3", "b3"]
    assert list(net.layers) == ["Affine1", "BatchNorm1", "Activation_function1", "Dropout1",
                                "Affine2", "BatchNorm2", "Activation_function2", "Dropout2",
                                "Affine3"]
    kinds = [Affine, BatchNormalization, Relu, Dropout] * 2 + [Affine]
    assert [type(v) for v in net.layers.values()] == kinds
    assert isinstance(net.lastLayer, SoftmaxWithLoss) and net.last_layer is net.lastLayer
    assert net.layers["Affine2"].W is net.params["W2"]
    assert net.layers["BatchNorm1"].gamma is net.params["gamma1"]
    assert net.hidden_layer_num == 2 and net.use_dropout and net.use_batchnorm
    assert list(net.buffers()) == ["running_mean1", "running_var1", "running_mean2",
                                   "running_var2"]
    assert isinstance(MultiLayerNet(4, [3], 2, activation="sigmoid").layers[
        "Activation_function1"], Sigmoid)
    assert isinstance(MultiLayerNet(4, [3], 2, activation="tanh").layers[
        "Activation_function1"], Tanh)


@pytest.mark.parametrize("init, std", [("he", np.sqrt(2 / 784)), ("relu", np.sqrt(2 / 784)),
                                       ("xavier", np.sqrt(1 / 784)),
                                       ("sigmoid", np.sqrt(1 / 784)), (0.01, 0.01)])
def test_weight_init_std(init, std):
    net = MultiLayerNet(784, [400], 10, weight_init_std=init, seed=0)
    assert net.params["W1"].std() == pytest.approx(std, rel=0.02)
    assert np.all(net.params["b1"] == 0)


def test_bad_arguments_say_what_was_expected():
    with pytest.raises(ValueError, match="activation must be one of relu, sigmoid, tanh"):
        MultiLayerNet(4, [3], 2, activation="gelu")
    with pytest.raises(ValueError, match="weight_init_std must be 'he', 'xavier'"):
        MultiLayerNet(4, [3], 2, weight_init_std="lecun")
    with pytest.raises(ValueError, match=r"dropout_ratio must be in \[0, 1\)"):
        MultiLayerNet(4, [3], 2, dropout_ratio=1.0)
    with pytest.raises(ValueError, match="weight_decay_lambda must be >= 0"):
        MultiLayerNet(4, [3], 2, weight_decay_lambda=-1)
    with pytest.raises(ValueError, match="hidden sizes must be positive integers"):
        MultiLayerNet(4, [3, 0], 2)
    with pytest.raises(ValueError, match="either seed or rng"):
        MultiLayerNet(4, [3], 2, seed=1, rng=np.random.default_rng(1))


def test_loss_includes_the_l2_term_and_gradient_adds_lambda_w():
    x, t = batch()
    plain = MultiLayerNet(6, [5, 4], 3, seed=2)
    decayed = MultiLayerNet(6, [5, 4], 3, weight_decay_lambda=0.3, seed=2)
    l2 = sum(float(np.sum(decayed.params[f"W{i}"] ** 2)) for i in (1, 2, 3))
    assert decayed.loss(x, t) == pytest.approx(plain.loss(x, t) + 0.15 * l2, rel=1e-12)
    g0, g1 = plain.gradient(x, t), decayed.gradient(x, t)
    np.testing.assert_allclose(g1["W2"], g0["W2"] + 0.3 * decayed.params["W2"])
    np.testing.assert_array_equal(g1["b2"], g0["b2"])  # biases are not decayed


def test_modes_gradient_trains_accuracy_evaluates():
    x, t = batch(n=20)
    net = MultiLayerNet(6, [5], 3, dropout_ratio=0.5, seed=3)
    eval_scores = net.predict(x)
    np.testing.assert_array_equal(net.predict(x, train_flg=False), eval_scores)
    assert not np.allclose(net.predict(x, train_flg=True), eval_scores)  # dropout is on
    net.gradient(x, t)
    assert net.layers["Dropout1"].mask is not None and not net.layers["Dropout1"].mask.all()
    expected = float(np.mean(eval_scores.argmax(1) == t))
    assert net.accuracy(x, t) == expected and net.accuracy(x, t, batch_size=3) == expected


def test_batchnorm_running_statistics_are_buffers_updated_by_gradient_only():
    x, t = batch(n=30)
    net = MultiLayerNet(6, [5], 3, use_batchnorm=True, seed=4)
    mean = net.buffers()["running_mean1"]
    net.predict(x)
    net.accuracy(x, t)
    assert not mean.any()  # eval passes leave the statistics alone
    net.gradient(x, t)
    assert mean.any() and net.layers["BatchNorm1"].running_mean is mean
    with net.deterministic():  # ... and a deterministic block puts them back
        snapshot = mean.copy()
        net.gradient(x, t)
        assert not np.array_equal(mean, snapshot)
    np.testing.assert_array_equal(mean, snapshot)


def test_deterministic_fixes_masks_and_leaves_no_trace():
    x, t = batch(n=10)
    net = MultiLayerNet(6, [5, 5], 3, dropout_ratio=0.4, seed=5)
    state = net.rng.bit_generator.state
    with net.deterministic():
        assert net.train_flg
        a = net.loss(x, t)
        b = net.gradient(x, t) and net.lastLayer.loss
        assert a == b == net.loss(x, t)
        with net.deterministic():  # nesting keeps the outer block's masks
            assert net.loss(x, t) == a
    assert not net.train_flg
    assert net.rng.bit_generator.state == state
    assert not net.layers["Dropout1"].fix_mask
    assert net.loss(x, t, train_flg=True) != net.loss(x, t, train_flg=True)


def test_numerical_gradient_method_matches_gradient_under_the_same_masks():
    x, t = batch()
    net = MultiLayerNet(6, [4], 3, dropout_ratio=0.3, use_batchnorm=True,
                        weight_decay_lambda=0.1, activation="tanh", seed=6)
    with net.deterministic():
        numeric, backprop = net.numerical_gradient(x, t), net.gradient(x, t)
    for key in backprop:
        np.testing.assert_allclose(backprop[key], numeric[key], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", VARIANTS)
def test_config_round_trip_rebuilds_the_same_net(name):
    x, t = batch(n=12)
    net = MultiLayerNet(6, [5, 4], 3, dtype=np.float32, seed=7, **VARIANTS[name])
    net.gradient(x.astype(np.float32), t)  # moves the running statistics
    config = json.loads(json.dumps(net.config()))
    assert config["class"] == "MultiLayerNet"
    params = {k: v.copy() for k, v in net.params.items()}
    buffers = {k: v.copy() for k, v in net.buffers().items()}
    again = MultiLayerNet.from_config(config, params, buffers)
    assert again.config() == net.config() and again.dtype == np.float32
    np.testing.assert_array_equal(again.predict(x.astype(np.float32)),
                                  net.predict(x.astype(np.float32)))
    assert again.params["W1"] is params["W1"]  # used by reference, like TwoLayerNet
    kwargs = {k: config[k] for k in ("activation", "weight_decay_lambda", "dropout_ratio")}
    assert MultiLayerNet.from_params(params, buffers=buffers, **kwargs).config() == config


def test_from_config_rejects_mismatches():
    net = MultiLayerNet(6, [5], 3, use_batchnorm=True, seed=0)
    params = dict(net.params)
    with pytest.raises(ValueError, match=r"parameter W1: expected shape \(6, 5\), got \(6, 4\)"):
        MultiLayerNet.from_config(net.config(), {**params, "W1": np.zeros((6, 4))})
    with pytest.raises(ValueError, match="expected parameters"):
        MultiLayerNet.from_config({**net.config(), "use_batchnorm": False}, params)
    with pytest.raises(ValueError, match="expected buffers"):
        net.load_buffers({"running_mean1": np.zeros(5)})
    with pytest.raises(ValueError, match="bad config"):
        MultiLayerNet.from_config({**net.config(), "colour": "red"}, params)


def test_same_seed_same_training_and_global_state_untouched():
    state = np.random.get_state()[1].copy()
    x, t = batch(n=16)

    def train(**kw):
        net = MultiLayerNet(6, [5, 5], 3, dropout_ratio=0.3, use_batchnorm=True, **kw)
        for _ in range(3):
            grads = net.gradient(x, t)
            for k, g in grads.items():
                net.params[k] -= 0.1 * g
        return net

    a, b, c = train(seed=8), train(rng=np.random.default_rng(8)), train(seed=9)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert not np.array_equal(a.params["W1"], c.params["W1"])
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_astype_keeps_buffers_mode_masks_and_generator():
    x, t = batch(n=8)
    net = MultiLayerNet(6, [5], 3, dtype=np.float32, use_batchnorm=True, dropout_ratio=0.5,
                        seed=10)
    net.gradient(x.astype(np.float32), t)
    with net.deterministic():
        net.loss(x.astype(np.float32), t)
        copy = net.astype(np.float64)
        for k, b in net.buffers().items():
            np.testing.assert_array_equal(copy.buffers()[k], b.astype(np.float64))
        assert copy.rng is not net.rng
        assert copy.rng.bit_generator.state == net.rng.bit_generator.state
        assert copy.dtype == np.float64 and copy.train_flg
        assert copy.layers["Dropout1"].fix_mask
        np.testing.assert_array_equal(copy.layers["Dropout1"].mask, net.layers["Dropout1"].mask)
        np.testing.assert_allclose(copy.loss(x, t), net.loss(x.astype(np.float32), t), rtol=1e-5)


def test_float32_in_float32_out():
    x, t = batch()
    x = x.astype(np.float32)
    net = MultiLayerNet(6, [5, 4], 3, dtype=np.float32, seed=11, **VARIANTS["everything"])
    assert net.predict(x).dtype == np.float32
    assert net.predict(x, train_flg=True).dtype == np.float32
    assert all(g.dtype == np.float32 for g in net.gradient(x, t).values())
    assert all(b.dtype == np.float32 for b in net.buffers().values())


def test_the_book_extend_call_and_a_single_affine():
    net = MultiLayerNetExtend(input_size=8, hidden_size_list=[4, 4], output_size=3,
                              use_dropout=True, dropout_ration=0.2, use_batchnorm=True, seed=0)
    assert net.dropout_ratio == 0.2 and net.use_batchnorm
    assert MultiLayerNetExtend(8, [4], 3, seed=0).dropout_ratio == 0.0
    x, t = batch(d=6)
    softmax_regression = MultiLayerNet(6, [], 3, seed=0)
    assert list(softmax_regression.layers) == ["Affine1"]
    assert gradient_check(softmax_regression, x, t)


def test_training_lowers_the_loss():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((60, 6))
    t = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    net = MultiLayerNet(6, [16, 16], 2, use_batchnorm=True, dropout_ratio=0.1, seed=12)
    before = net.loss(x, t)
    for _ in range(100):
        grads = net.gradient(x, t)
        for k, g in grads.items():
            net.params[k] -= 0.1 * g
    assert net.loss(x, t) < before / 2 and net.accuracy(x, t) > 0.9
