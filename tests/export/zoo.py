"""Every kind of network chainrule trains, trained a few hundred steps on real MNIST
(float32, as ``chainrule train`` trains) or with random weights (float64), and
chainrule's own probabilities for the first 1000 test images: what the exports are
compared with. Each network is made once per test session."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from chainrule import (
    Adam,
    DeepConvNet,
    MultiLayerNet,
    MultiLayerNetExtend,
    SimpleConvNet,
    TwoLayerNet,
    load_mnist,
)
from chainrule.core.functions import softmax
from chainrule.nn.network import accuracy_of, predict_in_chunks

STEPS = 300
"""Training steps of every trained network."""
TEST_IMAGES = 1000

KINDS = {
    # name: (make(dtype, seed, trained), batch size)
    "two-layer": (lambda d, s, t: TwoLayerNet(784, 50, 10, 0.01 if t else 0.1, dtype=d,
                                                seed=s), 100),
    "sigmoid": (lambda d, s, t: MultiLayerNet(784, [100, 50], 10, "sigmoid", "xavier",
                                              dtype=d, seed=s), 100),
    "tanh-batchnorm-inverted-dropout": (lambda d, s, t: MultiLayerNet(
        784, [100, 50], 10, "tanh", "xavier", dropout_ratio=0.3, use_batchnorm=True,
        dtype=d, seed=s), 100),
    "relu-book-dropout-decay": (lambda d, s, t: MultiLayerNet(
        784, [100, 100], 10, "relu", "he", weight_decay_lambda=1e-4, dropout_ratio=0.2,
        inverted_dropout=False, dtype=d, seed=s), 100),
    "extend-batchnorm-book-dropout": (lambda d, s, t: MultiLayerNetExtend(
        784, [100, 100], 10, "relu", "relu", use_dropout=True, dropout_ration=0.2,
        use_batchnorm=True, dtype=d, seed=s), 100),
    "simple-conv": (lambda d, s, t: SimpleConvNet(weight_init_std=0.01 if t else "he",
                                                  dtype=d, seed=s), 50),
    "deep-conv": (lambda d, s, t: DeepConvNet(dtype=d, seed=s), 20),
}


@functools.lru_cache(maxsize=1)
def mnist(root: Path):
    (x, t), (xt, tt) = load_mnist(data_dir=root / "mnist", download=False)
    return x, t, xt[:TEST_IMAGES], tt[:TEST_IMAGES]


def images_for(net, x: np.ndarray) -> np.ndarray:
    """Flat rows as the network's input: images ``(N, C, H, W)`` for a convnet."""
    return x if net.input_dim is None else x.reshape(-1, *net.input_dim)


@functools.cache
def network(kind: str, trained: bool, root: Path):
    """``(net, test inputs in the network's layout (float32), chainrule's probabilities
    (float64), test labels)``. BLAS on one thread, as ``chainrule train`` steps (chainrule
    splits a convnet's batch between the cores itself; on a busy machine the two
    fighting make DeepConvNet's steps several times slower)."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _network(kind, trained, root)


def _network(kind: str, trained: bool, root: Path):
    make, batch = KINDS[kind]
    x, t, xt, tt = mnist(root)
    seed = sorted(KINDS).index(kind)
    if trained:
        net = make(np.float32, seed, True)
        opt, rng = Adam(lr=0.001) if kind != "two-layer" else None, np.random.default_rng(seed)
        for _ in range(STEPS):
            i = rng.integers(0, len(x), batch)
            grads = net.gradient(images_for(net, x[i]), t[i])
            if opt is None:
                for k in net.params:
                    net.params[k] -= np.float32(0.1) * grads[k]
            else:
                opt.update(net.params, grads)
    else:
        net = randomized(make(np.float64, seed, False), seed)
    inputs = images_for(net, xt)
    scores = predict_in_chunks(lambda a: net.predict(a.astype(net.dtype)), inputs, 100)
    probabilities = softmax(np.asarray(scores, dtype=np.float64))
    if trained:
        assert accuracy_of(scores, tt) > 0.75, f"{kind}: not trained"
    return net, inputs, probabilities, tt


def randomized(net, seed: int):
    """Random biases, batch-norm parameters and running statistics too (the weights are
    random already): nothing that an export could get wrong stays 0 or 1."""
    rng = np.random.default_rng(1000 + seed)
    for k, p in net.params.items():
        if k.startswith(("b", "beta")):
            p[...] = rng.normal(0, 0.1, p.shape)
        elif k.startswith("gamma"):
            p[...] = rng.normal(1, 0.1, p.shape)
    for k, b in net.buffers().items():
        b[...] = rng.normal(0, 0.1, b.shape) if "mean" in k else rng.uniform(0.5, 1.5, b.shape)
    return net
