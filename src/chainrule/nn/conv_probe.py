"""One picture through a SimpleConvNet's first layers, forward and backward, map by map.

:func:`conv_probe` runs one image through the network's own layers in the book's order
(``Conv1`` - ``Relu1`` - ``Pool1`` - the rest) and back from the loss of one class, and
keeps what the lab's convolution page draws for each filter: its weights, its feature
map before and after ReLU, the pooled map and which cell of each pooling window was its
maximum; backward, the gradient arriving at the pooling layer's output, what max pooling
sends back (all of it to the window's maximum, nothing to the other cells), the gradient
at the feature map (after ReLU's backward) and ``dL/dx`` at the pixels.

(Training runs ReLU after pooling, which gives the same numbers faster:
:func:`chainrule.nn.convnets` explains why. Here the book's order is kept, so that the
24x24 maps after ReLU exist to be seen. Where a pooling window holds no positive value,
ReLU has made it all zeros: its "maximum" is then the first cell, as the book's
``argmax`` picks, and ReLU's backward passes nothing to it.)

Evaluation mode; not thread-safe (the layers keep their caches): share a network
between threads only under a lock, as for ``predict``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from chainrule.core.conv import Convolution, Pooling
from chainrule.core.layers import BatchNormalization, Dropout, Relu
from chainrule.nn.network import input_shape, loss_layer
from chainrule.nn.probe import exact_loss

_MODED = (Dropout, BatchNormalization)  # forward(x, train_flg): run in evaluation mode
FIRST = ("Conv1", "Relu1", "Pool1")
"""The first layers a network must have, in this order, to be probed."""


@dataclass
class ConvProbe:
    """What :func:`conv_probe` saw, for one image (no batch axis)."""

    filters: np.ndarray  # W1: (FN, C, FH, FW)
    bias: np.ndarray  # b1: (FN,)
    conv: np.ndarray  # Conv1's output: (FN, OH, OW)
    relu: np.ndarray  # after ReLU: (FN, OH, OW)
    pooled: np.ndarray  # after max pooling: (FN, PH, PW)
    pool_arg: np.ndarray  # each pooling window's maximum, row-major in the window: (FN, PH, PW)
    pool: tuple[int, int, int]  # the pooling window (height, width) and its stride
    probabilities: np.ndarray
    target: int  # the class whose loss is differentiated
    loss: float  # -log softmax(scores)[target] in float64, as probe says it (exact_loss)
    grad_pooled: np.ndarray  # dL/d(pooled), arriving at the pooling layer: (FN, PH, PW)
    grad_relu: np.ndarray  # what pooling sends back, dL/d(relu): (FN, OH, OW)
    grad_conv: np.ndarray  # after ReLU's backward, dL/d(conv): (FN, OH, OW)
    input_grad: np.ndarray  # dL/dx: (C, H, W)

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def response(self) -> np.ndarray:
        """How strongly each filter responded: the sum of its map after ReLU."""
        return self.relu.reshape(len(self.relu), -1).sum(axis=1)


def probeable(net) -> bool:
    """Whether ``net`` starts with a convolution, a ReLU and max pooling (the book's
    SimpleConvNet), named as :data:`FIRST`."""
    layers = getattr(net, "layers", None)
    if not isinstance(layers, dict) or list(layers)[:3] != list(FIRST):
        return False
    kinds = (Convolution, Relu, Pooling)
    return all(isinstance(layers[k], kind) for k, kind in zip(FIRST, kinds, strict=True))


def conv_probe(net, x, target: int | None = None) -> ConvProbe:
    """``x`` (one image, any shape of the right size) forward through ``net`` and back
    from the loss of class ``target`` (default: the predicted one)."""
    if not probeable(net):
        raise ValueError(f"conv_probe: {type(net).__name__} does not start with "
                         f"{' - '.join(FIRST)}")
    shape = input_shape(net)
    x = np.asarray(x)
    if x.size != math.prod(shape) or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"conv_probe: expected one image of {math.prod(shape)} numbers "
                         f"(shape {shape}), got {x.dtype} {x.shape}")
    layers = list(net.layers.values())
    conv_layer, relu_layer, pool_layer = layers[:3]
    conv = conv_layer.forward(x.astype(net.dtype).reshape(1, *shape))
    relu = relu_layer.forward(conv)
    pooled = pool_layer.forward(relu)
    h = pooled
    for layer in layers[3:]:
        h = layer.forward(h, False) if isinstance(layer, _MODED) else layer.forward(h)
    k = h.shape[-1]
    if target is None:
        target = int(np.argmax(h[0]))
    if isinstance(target, bool) or not (isinstance(target, (int, np.integer))
                                        and 0 <= target < k):
        raise ValueError(f"conv_probe: target must be a class in 0..{k - 1}, got {target!r}")
    last = loss_layer(net)
    last.forward(h, np.array([target]))  # its softmax and its backward's (y - t)
    loss = exact_loss(h[0], target)  # the one loss the lab quotes, as nn.probe computes it
    d = last.backward(1)
    for layer in reversed(layers[3:]):
        d = layer.backward(d)
    grad_pooled = d
    grad_relu = pool_layer.backward(grad_pooled)
    grad_conv = relu_layer.backward(grad_relu)
    input_grad = conv_layer.backward(grad_conv)
    return ConvProbe(
        conv_layer.W.copy(), np.broadcast_to(conv_layer.b, (len(conv_layer.W),)).copy(),
        conv[0].copy(), relu[0].copy(), pooled[0].copy(), pool_layer.arg_max[0].astype(np.int64),
        (pool_layer.pool_h, pool_layer.pool_w, pool_layer.stride), last.y[0].copy(),
        int(target), loss, np.array(grad_pooled[0]), np.array(grad_relu[0]),
        np.array(grad_conv[0]), np.array(input_grad[0]))

