"""probe and learn_step: backprop carried to the input, one SGD step on a copy."""

import numpy as np
import pytest

from chainrule import MultiLayerNet, TwoLayerNet
from chainrule.core.functions import softmax
from chainrule.core.gradient import numerical_gradient
from chainrule.nn.network import input_shape
from chainrule.nn.probe import learn_step, param_grads, probe


def _input_loss(net, x, target, predict):
    """The loss of class ``target`` as a function of ``x`` (perturbed in place)."""
    return lambda _x: net.lastLayer.forward(predict(x[None]), np.array([target]))


def test_two_layer_net_probe_matches_predict_and_numerical_input_gradient():
    net = TwoLayerNet(20, 6, 4, weight_init_std=0.5, seed=0)
    x = np.random.default_rng(1).random(20)
    p = probe(net, x)
    scores = net.predict(x[None])[0]
    np.testing.assert_allclose(p.scores, scores)
    np.testing.assert_allclose(p.probabilities, softmax(scores))
    assert p.predicted == p.target == int(np.argmax(scores))
    assert p.loss == pytest.approx(-np.log(p.probabilities[p.target]))
    assert list(p.hidden) == ["Relu1"] and p.hidden["Relu1"].shape == (6,)
    np.testing.assert_allclose(p.hidden["Relu1"], np.maximum(x @ net.params["W1"], 0))
    assert list(p.layer_grads) == ["Affine1", "Relu1", "Affine2"]
    y_minus_t = p.probabilities - np.eye(4)[p.target]
    np.testing.assert_allclose(p.dout, y_minus_t)
    np.testing.assert_allclose(p.layer_grads["Affine2"], y_minus_t)
    np.testing.assert_allclose(p.input_grad, p.layer_grads["Affine1"] @ net.params["W1"].T)
    for target in (0, 3):
        xx = x.copy()
        num = numerical_gradient(_input_loss(net, xx, target, net.predict), xx)
        np.testing.assert_allclose(probe(net, x, target).input_grad, num, atol=1e-8)


def test_input_gradient_of_a_deep_net_in_eval_mode():
    net = MultiLayerNet(12, [8, 7], 3, activation="tanh", use_batchnorm=True,
                        dropout_ratio=0.3, weight_decay_lambda=0.1, seed=2)
    rng = np.random.default_rng(3)
    net.gradient(rng.random((16, 12)), rng.integers(0, 3, 16))  # running statistics move
    x = rng.random((3, 4))  # any shape of the right size; the gradient comes back in it
    p = probe(net, x, 2)
    np.testing.assert_allclose(p.scores, net.predict(x.reshape(1, -1), False)[0])
    assert list(p.hidden) == ["Activation_function1", "Activation_function2"]
    assert p.input_grad.shape == (3, 4)
    xx = x.reshape(-1).copy()
    num = numerical_gradient(_input_loss(net, xx, 2, lambda b: net.predict(b, False)), xx)
    np.testing.assert_allclose(p.input_grad.reshape(-1), num, atol=1e-8)


def test_float32_net_gives_float32_gradients():
    net = TwoLayerNet(784, 50, 10, dtype=np.float32, seed=0)
    p = probe(net, np.zeros(784))  # a blank input is a valid input
    assert p.input_grad.dtype == np.float32 and np.all(np.isfinite(p.input_grad))
    assert p.probabilities.sum() == pytest.approx(1, abs=1e-6)


def test_probe_refuses_bad_input():
    net = TwoLayerNet(8, 4, 3, seed=0)
    with pytest.raises(ValueError, match="8 numbers"):
        probe(net, np.zeros(7))
    with pytest.raises(ValueError, match="0..2"):
        probe(net, np.zeros(8), 3)
    with pytest.raises(ValueError, match="0..2"):
        probe(net, np.zeros(8), True)
    assert input_shape(net) == (8,)


def test_learn_step_is_the_book_gradient_and_leaves_the_net_alone():
    net = TwoLayerNet(20, 6, 4, weight_init_std=0.5, seed=0)
    saved = {k: p.copy() for k, p in net.params.items()}
    x = np.random.default_rng(1).random(20)
    step = learn_step(net, x, 2, lr=0.5, top=5)
    for k, g in net.gradient(x[None], np.array([2])).items():
        np.testing.assert_array_equal(step.grads[k], g)
    for k, p in net.params.items():
        np.testing.assert_array_equal(p, saved[k])
        np.testing.assert_allclose(step.net.params[k], p - 0.5 * step.grads[k])
    assert step.after.probabilities[2] > step.before.probabilities[2]
    assert step.after.loss < step.before.loss
    np.testing.assert_allclose(step.dout, step.before.probabilities - np.eye(4)[2])
    deltas = np.concatenate([(step.net.params[k] - saved[k]).ravel() for k in saved])
    assert len(step.changes) == 5
    assert [abs(c.delta) for c in step.changes] == sorted(np.abs(deltas))[::-1][:5]
    c = step.changes[0]
    assert c.before == saved[c.param][c.index]
    assert c.after == step.net.params[c.param][c.index]
    assert step.param_change["W2"] == pytest.approx(
        np.linalg.norm(step.net.params["W2"] - saved["W2"]))


def test_learn_step_on_a_deep_net_covers_every_parameter_with_weight_decay():
    net = MultiLayerNet(10, [6], 3, use_batchnorm=True, weight_decay_lambda=0.5, seed=0)
    x = np.random.default_rng(0).random(10)
    step = learn_step(net, x, 1, lr=0.1)
    assert set(step.grads) == set(net.params)
    probe(net, x, 1)
    plain = param_grads(net)
    np.testing.assert_allclose(plain["W1"], step.grads["W1"])
    assert not np.allclose(plain["W1"], net.layers["Affine1"].dW)  # 0.5 * W1 added
    assert step.after.loss < step.before.loss
    with pytest.raises(ValueError, match="lr"):
        learn_step(net, x, 1, lr=0)
    with pytest.raises(ValueError, match="lr"):
        learn_step(net, x, 1, lr=float("nan"))


def test_learn_step_among_others_is_the_book_gradient_of_the_batch_mean():
    """The sample among k others: the book's loss (the batch mean), so the sample's own
    (y - t) leaves Softmax-with-Loss divided by N, and the step is net.gradient's."""
    net = TwoLayerNet(20, 6, 4, weight_init_std=0.5, seed=0)
    rng = np.random.default_rng(1)
    x, others, labels = rng.random(20), rng.random((9, 20)), rng.integers(0, 4, 9)
    step = learn_step(net, x, 2, lr=0.5, among=(others, labels))
    batch, targets = np.vstack([x, others]), np.concatenate([[2], labels])
    assert step.n == 10
    for k, g in net.gradient(batch, targets).items():
        np.testing.assert_allclose(step.grads[k], g, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(step.net.params[k], net.params[k] - 0.5 * g)
    alone = learn_step(net, x, 2, lr=0.5)
    np.testing.assert_allclose(step.dout, alone.dout / 10)  # (y - t) / N
    np.testing.assert_allclose(step.before.probabilities, alone.before.probabilities)
    assert step.before.loss == pytest.approx(alone.before.loss)
    assert step.batch_loss[0] == pytest.approx(net.loss(batch, targets))
    assert step.batch_loss[1] == pytest.approx(step.net.loss(batch, targets))
    assert step.batch_loss[1] < step.batch_loss[0]
    # a tenth of the push: the sample's own probability moves less than alone
    moved = step.after.probabilities[2] - step.before.probabilities[2]
    assert 0 < moved < alone.after.probabilities[2] - alone.before.probabilities[2]
    empty = learn_step(net, x, 2, lr=0.5, among=(np.zeros((0, 20)), []))
    assert empty.n == 1 and alone.n == 1
    np.testing.assert_array_equal(empty.dout, alone.dout)
    with pytest.raises(ValueError, match="rows of 20 numbers"):
        learn_step(net, x, 2, among=(np.zeros((3, 7)), [0, 1, 2]))
    with pytest.raises(ValueError, match="among"):
        learn_step(net, x, 2, among=(np.zeros((3, 20)), [0, 1, 9]))
    with pytest.raises(ValueError, match="label"):
        learn_step(net, x, 4)


def test_the_loss_is_the_number_it_is_never_minus_zero():
    """A class far ahead: float32 rounds its probability to 1 and its loss to -0.0; the
    probe says the loss it is (log(1 + e^-gap)), as float64 can hold it."""
    from chainrule.nn.probe import exact_loss

    for gap in (1.0, 17.0, 40.0, 300.0):
        scores = np.array([0.0, gap, -3.0], dtype=np.float32)
        loss = exact_loss(scores, 1)
        assert loss > 0 and str(loss) != "-0.0"
        expected = np.log1p(np.exp(-gap) + np.exp(-gap - 3.0))
        assert loss == pytest.approx(expected, rel=1e-12)
    assert exact_loss([0.0, 0.0], 0) == pytest.approx(np.log(2))
    assert exact_loss([0.0, 800.0], 0) == pytest.approx(800.0)  # no overflow
    net = TwoLayerNet(4, 3, 2, dtype=np.float32, seed=0)
    net.params["W2"][:] = [[40, -40]] * 3
    net.params["b2"][:] = [40, -40]
    p = probe(net, np.ones(4, dtype=np.float32), 0)
    assert p.probabilities[0] == 1.0  # float32: exactly one
    assert 0 < p.loss < 1e-30
