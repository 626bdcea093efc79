import numpy as np
import pytest

from chainrule import SGD, Affine, Relu, SoftmaxWithLoss, TwoLayerNet


def test_book_attributes_and_shapes():
    net = TwoLayerNet(input_size=784, hidden_size=50, output_size=10)
    assert list(net.params) == ["W1", "b1", "W2", "b2"]
    assert net.params["W1"].shape == (784, 50) and net.params["b2"].shape == (10,)
    assert list(net.layers) == ["Affine1", "Relu1", "Affine2"]
    assert [type(v) for v in net.layers.values()] == [Affine, Relu, Affine]
    assert isinstance(net.lastLayer, SoftmaxWithLoss)
    assert net.params["W1"].std() == pytest.approx(0.01, rel=0.05)
    assert np.all(net.params["b1"] == 0)


def test_seed_and_rng_are_reproducible_and_global_state_untouched():
    state = np.random.get_state()[1].copy()
    a = TwoLayerNet(20, 5, 3, seed=42)
    b = TwoLayerNet(20, 5, 3, rng=np.random.default_rng(42))
    np.testing.assert_array_equal(a.params["W1"], b.params["W1"])
    assert not np.array_equal(a.params["W1"], TwoLayerNet(20, 5, 3, seed=43).params["W1"])
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    with pytest.raises(ValueError, match="either seed or rng"):
        TwoLayerNet(2, 2, 2, seed=1, rng=np.random.default_rng(1))


def test_dtype_is_kept_through_gradient():
    net = TwoLayerNet(8, 4, 3, dtype=np.float32, seed=0)
    x = np.random.default_rng(0).random((6, 8), dtype=np.float32)
    t = np.array([0, 1, 2, 0, 1, 2])
    assert net.predict(x).dtype == np.float32
    assert all(g.dtype == np.float32 for g in net.gradient(x, t).values())
    assert net.astype(np.float64).dtype == np.float64


def test_in_place_update_reaches_layers_and_lowers_loss():
    rng = np.random.default_rng(1)
    net = TwoLayerNet(10, 8, 3, weight_init_std=0.3, seed=1)
    x, t = rng.standard_normal((30, 10)), rng.integers(0, 3, 30)
    loss0 = net.loss(x, t)
    for _ in range(50):
        grad = net.gradient(x, t)
        for key in ("W1", "b1", "W2", "b2"):
            net.params[key] -= 0.1 * grad[key]  # the book's update
    assert net.loss(x, t) < loss0 - 0.1
    assert net.layers["Affine1"].W is net.params["W1"]


def test_sgd_update_matches_book_loop():
    net_a, net_b = TwoLayerNet(6, 4, 2, seed=3), TwoLayerNet(6, 4, 2, seed=3)
    x, t = np.random.default_rng(3).standard_normal((4, 6)), np.array([0, 1, 1, 0])
    grads = net_a.gradient(x, t)
    SGD(lr=0.1).update(net_a.params, grads)
    for key in grads:
        net_b.params[key] -= 0.1 * grads[key]
        np.testing.assert_array_equal(net_a.params[key], net_b.params[key])
    with pytest.raises(ValueError, match="a finite number > 0"):
        SGD(lr=-1)


def test_numerical_gradient_method_agrees_with_gradient():
    rng = np.random.default_rng(4)
    net = TwoLayerNet(5, 4, 3, weight_init_std=0.5, seed=4)
    x, t = rng.standard_normal((3, 5)), np.eye(3)[[0, 2, 1]]
    numeric, backprop = net.numerical_gradient(x, t), net.gradient(x, t)
    for key in backprop:
        np.testing.assert_allclose(backprop[key], numeric[key], rtol=1e-5, atol=1e-9)


def test_accuracy_index_and_one_hot_labels_and_chunks():
    net = TwoLayerNet(4, 3, 3, seed=5)
    x = np.random.default_rng(5).standard_normal((25, 4))
    t = net.predict(x).argmax(axis=1)
    t[:5] = (t[:5] + 1) % 3
    assert net.accuracy(x, t) == pytest.approx(0.8)
    assert net.accuracy(x, np.eye(3)[t]) == pytest.approx(0.8)
    assert net.accuracy(x, t, batch_size=7) == pytest.approx(0.8)


def test_config_round_trip():
    net = TwoLayerNet(7, 5, 3, seed=6)
    again = TwoLayerNet.from_config(net.config(), net.params)
    assert again.config() == {"class": "TwoLayerNet", "input_size": 7, "hidden_size": 5,
                              "output_size": 3}
    with pytest.raises(ValueError, match="do not match"):
        TwoLayerNet.from_config({**net.config(), "hidden_size": 9}, net.params)

