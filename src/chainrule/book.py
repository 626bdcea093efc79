"""The computational graphs of chapter 5, computed by the library's own layers.

Each function runs the book's code inside a :class:`~chainrule.graph.Graph` and
returns it, back-propagated from ``dout = 1`` unless ``backward=False``. The
``chainrule demo`` and ``chainrule graph`` commands both start here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from chainrule.graph import Graph
from chainrule.layers import Sigmoid
from chainrule.nets import TwoLayerNet
from chainrule.nodes import AddLayer, ExpLayer, MulLayer, ReciprocalLayer


def apple(*, backward: bool = True) -> Graph:
    """Two apples at 100 with 10% tax: price 220; dapple 2.2, dapple_num 110, dtax 200."""
    mul_apple_layer = MulLayer()
    mul_tax_layer = MulLayer()
    with Graph() as g:
        apple, apple_num, tax = g.inputs(apple=100, apple_num=2, tax=1.1)
        apple_price = mul_apple_layer.forward(apple, apple_num)
        price = mul_tax_layer.forward(apple_price, tax)
        g.name("price", price)
    if backward:
        g.backward(1)
    return g


def apple_orange(*, backward: bool = True) -> Graph:
    """Two apples and three oranges with tax: price 715; gradients 110, 2.2, 3.3, 165, 650."""
    mul_apple_layer = MulLayer()
    mul_orange_layer = MulLayer()
    add_apple_orange_layer = AddLayer()
    mul_tax_layer = MulLayer()
    with Graph() as g:
        apple, apple_num, orange, orange_num, tax = g.inputs(
            apple=100, apple_num=2, orange=150, orange_num=3, tax=1.1)
        apple_price = mul_apple_layer.forward(apple, apple_num)
        orange_price = mul_orange_layer.forward(orange, orange_num)
        all_price = add_apple_orange_layer.forward(apple_price, orange_price)
        price = mul_tax_layer.forward(all_price, tax)
        g.name("price", price)
    if backward:
        g.backward(1)
    return g


def sigmoid(x: float = 1.0, *, backward: bool = True) -> Graph:
    """``y = 1 / (1 + exp(-x))`` from primitive nodes: ``×(-1) -> exp -> +1 -> /``.

    Backward, right to left: ``/`` gives ``-dout * y**2``, ``+`` passes it on, ``exp``
    multiplies by ``exp(-x)``, ``×`` by ``-1``; in all ``dout * y * (1 - y)``.
    """
    with Graph() as g:
        x = g.input("x", x)
        y = ReciprocalLayer().forward(
            AddLayer().forward(ExpLayer().forward(MulLayer().forward(x, -1)), 1))
        g.name("y", y)
    if backward:
        g.backward(1)
    return g


def sigmoid_layer(x: float = 1.0, dout: float = 1.0) -> tuple[float, float]:
    """``(y, dx)`` of the fused ``Sigmoid`` layer, for comparison with :func:`sigmoid`."""
    layer = Sigmoid()
    y = layer.forward(np.float64(x))
    return float(y), float(layer.backward(np.float64(dout)))


def two_layer_net(batch: int = 2, *, seed: int = 0, backward: bool = True) -> Graph:
    """``TwoLayerNet(784, 50, 10)``'s loss on a random batch: Affine -> ReLU -> Affine ->
    Softmax-with-Loss, with the shapes of every value and gradient."""
    net = TwoLayerNet(784, 50, 10, seed=seed)
    rng = np.random.default_rng(seed + 1)
    with Graph() as g:
        x = g.input("x", rng.random((batch, 784)))
        t = g.input("t", np.eye(10)[rng.integers(0, 10, batch)])
        g.name("L", net.loss(x, t))
    if backward:
        g.backward(1)
    return g


EXAMPLES: dict[str, Callable[..., Graph]] = {
    "apple": apple,
    "apple-orange": apple_orange,
    "sigmoid": sigmoid,
    "two-layer-net": two_layer_net,
}

TITLES = {
    "apple": "Buying 2 apples with 10% tax",
    "apple-orange": "Buying 2 apples and 3 oranges with 10% tax",
    "sigmoid": "The sigmoid from primitive nodes (x = 1)",
    "two-layer-net": "TwoLayerNet(784, 50, 10) on a batch of 2",
}


def figure(name: str, *, backward: bool = True) -> tuple[Graph, dict[str, str]]:
    """The example ``name`` and the drawing options (title, caption) that go with it."""
    g = EXAMPLES[name](backward=backward)
    options = {"title": TITLES[name]}
    if name == "sigmoid" and backward:
        y, dx = sigmoid_layer(g.value("x"))
        options["caption"] = (f"dx = dout · y · (1 − y) = {dx:.4g}, "
                              f"as the fused Sigmoid layer gives (y = {y:.4g})")
    elif name == "two-layer-net":
        options["caption"] = "x: 2 inputs of 784 pixels, t: one-hot labels, L: the loss"
    return g, options
