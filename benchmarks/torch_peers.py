"""The book's three networks written with PyTorch (CPU): one training step each, to time
chainrule's against, on the same data, with the same shapes, initialisation and optimizer.

- ``mlp``: chapter 5's 784-50-10 (Affine - ReLU - Affine, softmax cross-entropy), weights
  0.01 * N(0, 1), SGD lr 0.1 (``../shared/bench/torch_seed_protocol.py``'s network);
- ``simple-conv``: chapter 7's SimpleConvNet, conv 30 5x5 - ReLU - pool 2x2 - Affine 100 -
  ReLU - Affine 10, weights 0.01 * N(0, 1), Adam 0.001
  (``../shared/bench/torch_convnet_protocol.py``'s network);
- ``deep-conv``: chapter 8's DeepConvNet, six 3x3 convolutions (16, 16, 32, 32, 64, 64
  filters; paddings 1, 1, 1, 2, 1, 1) with ReLU and 2x2 max pooling after every second,
  Affine 50 - ReLU - dropout 0.5 - Affine 10 - dropout 0.5, He initialisation, Adam 0.001
  (``torch_deep_convnet.py``'s network).

``step(network, x_train, t_train, seed=0)`` returns ``step(batch)``: one forward,
backward and update on the rows ``batch`` (an int array) of the uint8 training images,
scaled to [0, 1) in float32 as chainrule does per batch.
"""

from __future__ import annotations

import math

import numpy as np

DEEP_CONVS = ((16, 1), (16, 1), (32, 1), (32, 2), (64, 1), (64, 1))
"""DeepConvNet's convolutions: (filters, padding), all 3x3, stride 1."""


def deep_conv_params(torch, channels: int = 1, size: int = 28, hidden: int = 50,
                     classes: int = 10) -> list:
    """DeepConvNet's parameters, He-initialised (``sqrt(2 / fan_in) * N(0, 1)``), biases 0."""
    params, c, s = [], channels, size
    for i, (f, pad) in enumerate(DEEP_CONVS):
        params += [torch.randn(f, c, 3, 3) * math.sqrt(2 / (c * 9)), torch.zeros(f)]
        c, s = f, s + 2 * pad - 2
        if i % 2 == 1:
            s //= 2
    flat = c * s * s
    params += [torch.randn(flat, hidden) * math.sqrt(2 / flat), torch.zeros(hidden),
               torch.randn(hidden, classes) * math.sqrt(2 / hidden), torch.zeros(classes)]
    return [p.requires_grad_() for p in params]


def deep_conv_predict(F, params, x, train: bool):
    """DeepConvNet's scores for images ``x`` ``(N, 1, 28, 28)``; dropout when ``train``."""
    h = x
    for i, (_, pad) in enumerate(DEEP_CONVS):
        h = F.relu(F.conv2d(h, params[2 * i], params[2 * i + 1], padding=pad))
        if i % 2 == 1:
            h = F.max_pool2d(h, 2, 2)
    w7, b7, w8, b8 = params[12:]
    h = F.dropout(F.relu(h.flatten(1) @ w7 + b7), 0.5, train)
    return F.dropout(h @ w8 + b8, 0.5, train)


def step(network: str, x_train, t_train, seed: int = 0):
    """One training step of the PyTorch ``network`` (see the module), taking a batch of
    indices into ``x_train`` (uint8 rows or images) and ``t_train``."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    images = network != "mlp"
    x = torch.from_numpy(np.asarray(x_train))
    x = x.reshape(-1, 1, 28, 28) if images else x.reshape(len(x), -1)
    t = torch.from_numpy(np.asarray(t_train, dtype=np.int64))
    if network == "mlp":
        params = [(0.01 * torch.randn(784, 50)).requires_grad_(),
                  torch.zeros(50, requires_grad=True),
                  (0.01 * torch.randn(50, 10)).requires_grad_(),
                  torch.zeros(10, requires_grad=True)]
        w1, b1, w2, b2 = params
        opt = torch.optim.SGD(params, lr=0.1)

        def predict(h):
            return torch.relu(h @ w1 + b1) @ w2 + b2
    elif network == "simple-conv":
        params = []
        for shape in ((30, 1, 5, 5), (4320, 100), (100, 10)):
            params += [(0.01 * torch.randn(*shape)).requires_grad_(),
                       torch.zeros(shape[0] if len(shape) == 4 else shape[1], requires_grad=True)]
        w1, b1, w2, b2, w3, b3 = params
        opt = torch.optim.Adam(params, lr=0.001)

        def predict(h):
            h = F.max_pool2d(torch.relu(F.conv2d(h, w1, b1)), 2, 2)
            return torch.relu(h.flatten(1) @ w2 + b2) @ w3 + b3
    elif network == "deep-conv":
        params = deep_conv_params(torch)
        opt = torch.optim.Adam(params, lr=0.001)

        def predict(h):
            return deep_conv_predict(F, params, h, True)
    else:
        raise ValueError(f"unknown network {network!r}")

    def one(batch):
        k = torch.from_numpy(np.asarray(batch))
        loss = F.cross_entropy(predict(x[k].float() / 255), t[k])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return one
