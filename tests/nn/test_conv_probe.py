"""chainrule.nn.conv_probe: one picture through a SimpleConvNet's first layers, map by map,
checked against chainrule.nn.probe, the definitions of ReLU and max pooling, and the
numerical gradient."""

import numpy as np
import pytest

from chainrule.core.gradient import compare, numerical_gradient
from chainrule.nn.conv_probe import conv_probe, probeable
from chainrule.nn.convnets import DeepConvNet, SimpleConvNet
from chainrule.nn.probe import probe
from chainrule.nn.two_layer import TwoLayerNet


@pytest.fixture(scope="module")
def net():
    conv = {"filter_num": 4, "filter_size": 3, "pad": 0, "stride": 1}
    return SimpleConvNet((1, 10, 10), conv, hidden_size=12, weight_init_std=0.3, seed=1)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).random((10, 10))


def test_the_maps_are_the_layers_and_agree_with_probe(net, image):
    p, q = conv_probe(net, image, 3), probe(net, image, 3)
    assert p.conv.shape == (4, 8, 8) and p.pooled.shape == (4, 4, 4) and p.pool == (2, 2, 2)
    assert p.loss == q.loss and p.target == 3 and np.array_equal(p.probabilities, q.probabilities)
    assert np.array_equal(p.relu, np.maximum(p.conv, 0))
    assert np.array_equal(p.relu, q.hidden["Relu1"])
    assert np.array_equal(p.grad_pooled, q.layer_grads["Pool1"])
    assert np.array_equal(p.grad_relu, q.layer_grads["Relu1"])
    assert np.array_equal(p.grad_conv, q.layer_grads["Conv1"])
    assert np.array_equal(p.input_grad.ravel(), q.input_grad.ravel())
    assert np.array_equal(p.filters, net.params["W1"]) and np.array_equal(p.bias, net.params["b1"])
    assert np.array_equal(p.response, p.relu.sum(axis=(1, 2)))


def test_max_pooling_sends_the_gradient_to_each_windows_maximum_only(net, image):
    p = conv_probe(net, image)
    for f in range(4):
        for i in range(4):
            for j in range(4):
                window = p.relu[f, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
                a = p.pool_arg[f, i, j]
                assert p.pooled[f, i, j] == window.max() == window.ravel()[a]
                assert a == int(np.argmax(window))  # the first maximum, as the book's argmax
                sent = p.grad_relu[f, 2 * i:2 * i + 2, 2 * j:2 * j + 2].ravel()
                assert sent[a] == p.grad_pooled[f, i, j]
                assert not np.any(np.delete(sent, a))
    assert np.array_equal(p.grad_conv, p.grad_relu * (p.conv > 0))


def test_dl_dx_is_the_numerical_gradient(net, image):
    x = image.copy()
    p = conv_probe(net, x, 5)
    numerical = numerical_gradient(lambda _: conv_probe(net, x, 5).loss, x)
    check = compare("dx", p.input_grad.reshape(x.shape), numerical, 1e-5, 1e-7)
    assert check.passed, check


def test_only_a_net_that_starts_conv_relu_pool():
    assert probeable(SimpleConvNet(seed=0))
    for other in (TwoLayerNet(4, 3, 2, seed=0), DeepConvNet((1, 8, 8), seed=0)):
        assert not probeable(other)
        with pytest.raises(ValueError, match="does not start with Conv1 - Relu1 - Pool1"):
            conv_probe(other, np.zeros(4))
    net = SimpleConvNet((1, 8, 8), hidden_size=5, seed=0)
    with pytest.raises(ValueError, match="expected one image of 64 numbers"):
        conv_probe(net, np.zeros(63))
    with pytest.raises(ValueError, match="target must be a class in 0..9"):
        conv_probe(net, np.zeros(64), 10)
