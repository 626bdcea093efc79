"""PyTorch modules for the book's layers that PyTorch lacks, and the network around them.

This file needs torch only (never chainrule): :func:`chainrule.export.save_torch` copies
it, whole, into the module definition it writes beside the weights. Everything else is
PyTorch's own: ``nn.Linear`` (its weight is the book's ``W`` transposed), ``nn.Conv2d``,
``nn.MaxPool2d``, ``nn.ReLU``, ``nn.Sigmoid``, ``nn.Tanh``, ``nn.Flatten`` and, for
chainrule's inverted dropout, ``nn.Dropout``.
"""

from collections import OrderedDict

import torch
from torch import nn


class BookDropout(nn.Module):
    """The book's dropout: in training ``x * mask`` (each unit kept with probability
    ``1 - ratio``, NOT scaled up), in eval ``x * (1 - ratio)``. PyTorch's ``nn.Dropout``
    scales in training instead and is the identity in eval."""

    def __init__(self, ratio: float):
        super().__init__()
        self.ratio = float(ratio)

    def forward(self, x):
        if self.training:
            return x * (torch.rand_like(x) > self.ratio).to(x.dtype)
        return x * (1.0 - self.ratio)

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}, scaled at test time"


class BookBatchNorm(nn.Module):
    """The book's batch normalization: over the batch, one mean and variance per
    activation (an image's ``C*H*W`` values each have their own; ``BatchNorm2d`` has one
    per channel), ``eps`` 1e-6 under the square root, the biased batch variance in the
    running statistics too, and ``momentum`` the weight of the OLD value:
    ``running = momentum * running + (1 - momentum) * batch`` (PyTorch's ``momentum`` is
    ``1 -`` this). ``weight`` and ``bias`` are the book's ``gamma`` and ``beta``."""

    def __init__(self, features: int, eps: float = 1e-6, momentum: float = 0.9):
        super().__init__()
        self.eps, self.momentum = float(eps), float(momentum)
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))
        self.register_buffer("running_mean", torch.zeros(features))
        self.register_buffer("running_var", torch.ones(features))

    def forward(self, x):
        flat = x.reshape(x.shape[0], -1)
        if self.training:
            mean = flat.mean(dim=0)
            var = ((flat - mean) ** 2).mean(dim=0)
            with torch.no_grad():
                m = self.momentum
                self.running_mean.mul_(m).add_((1 - m) * mean)
                self.running_var.mul_(m).add_((1 - m) * var)
        else:
            mean, var = self.running_mean, self.running_var
        out = (flat - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias
        return out.reshape(x.shape)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}, momentum={self.momentum} (the book's)"


class ChainruleNet(nn.Module):
    """A chainrule network in PyTorch: its layers in order, under their book names.

    ``forward(image)`` gives the logits (chainrule's ``predict``; train it with
    ``nn.CrossEntropyLoss``, the book's Softmax-with-Loss), :meth:`probabilities` their
    softmax. ``chainrule`` holds what ``chainrule.export.from_torch`` needs to rebuild
    the chainrule network: its config, where each of its arrays is in the
    ``state_dict``, and the run's metadata."""

    def __init__(self, layers: "OrderedDict[str, nn.Module]", chainrule: dict):
        super().__init__()
        self.layers = nn.Sequential(layers)
        self.chainrule = chainrule

    def forward(self, image):
        return self.layers(image)

    def probabilities(self, image):
        return torch.softmax(self.forward(image), dim=-1)
