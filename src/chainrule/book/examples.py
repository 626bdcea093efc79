"""The computational graphs of chapter 5, computed by the library's own layers.

Each function runs the book's code inside a :class:`~chainrule.graph.record.Graph` and
returns it, back-propagated from ``dout = 1`` unless ``backward=False``; its number
inputs are keyword arguments (:data:`INPUTS`). The ``chainrule demo`` and
``chainrule graph`` commands and the browser lab all start here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.core.layers import Sigmoid
from chainrule.core.messages import Catalog, Said, said
from chainrule.core.operations import AddLayer, ExpLayer, MulLayer, PowLayer, ReciprocalLayer
from chainrule.graph.expression import InputError, real_number
from chainrule.graph.layout import format_value
from chainrule.graph.record import Graph
from chainrule.nn.two_layer import TwoLayerNet


def apple(apple: float = 100, apple_num: float = 2, tax: float = 1.1, *,
          backward: bool = True) -> Graph:
    """Two apples at 100 with 10% tax: price 220; dapple 2.2, dapple_num 110, dtax 200."""
    mul_apple_layer = MulLayer()
    mul_tax_layer = MulLayer()
    with Graph() as g:
        apple, apple_num, tax = g.inputs(apple=apple, apple_num=apple_num, tax=tax)
        apple_price = mul_apple_layer.forward(apple, apple_num)
        price = mul_tax_layer.forward(apple_price, tax)
        g.name("price", price)
    if backward:
        g.backward(1)
    return g


def apple_orange(apple: float = 100, apple_num: float = 2, orange: float = 150,
                 orange_num: float = 3, tax: float = 1.1, *, backward: bool = True) -> Graph:
    """Two apples and three oranges with tax: price 715; gradients 110, 2.2, 3.3, 165, 650."""
    mul_apple_layer = MulLayer()
    mul_orange_layer = MulLayer()
    add_apple_orange_layer = AddLayer()
    mul_tax_layer = MulLayer()
    with Graph() as g:
        apple, apple_num, orange, orange_num, tax = g.inputs(
            apple=apple, apple_num=apple_num, orange=orange, orange_num=orange_num, tax=tax)
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


def chain(x: float = 1.0, y: float = 2.0, *, backward: bool = True) -> Graph:
    """The chain rule's ``z = t ** 2`` with ``t = x + y`` (figure 5-7): at (1, 2),
    ``z = 9`` and ``dz/dx = dz/dy = dz/dt * dt/dx = 2t * 1 = 6``."""
    with Graph() as g:
        x, y = g.inputs(x=x, y=y)
        t = g.name("t", AddLayer().forward(x, y))
        g.name("z", PowLayer(2).forward(t))
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
    Softmax-with-Loss, with the shapes of every value and gradient. Its inputs ``x``
    (``batch`` random images) and ``t`` (one-hot labels) are arrays."""
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
    "chain": chain,
    "two-layer-net": two_layer_net,
}
"""``EXAMPLES[name](**inputs, backward=True)`` records the example ``name``."""


def _defaults(function: Callable) -> dict[str, float]:
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD}


INPUTS: dict[str, dict[str, float]] = {
    name: _defaults(function) if name != "two-layer-net" else {}
    for name, function in EXAMPLES.items()
}
"""The number inputs of each example and their defaults (the book's values); each is
a named input of the graph, so ``g.rerun(apple=150)`` changes it. ``two-layer-net``
has none: its inputs are arrays (its ``batch`` and ``seed`` are settings)."""

LOWEST: dict[str, dict[str, float]] = {
    "apple": {"apple": 0, "apple_num": 0, "tax": 0},
    "apple-orange": {"apple": 0, "apple_num": 0, "orange": 0, "orange_num": 0, "tax": 0},
}
"""Where each example's number inputs begin: a price, a count and the tax rate are never
below 0 (the lab's sliders start there); an input not named here (the sigmoid's ``x``,
the chain rule's ``x`` and ``y``) is any real number."""
COUNTS = frozenset({"apple_num", "orange_num"})
"""The inputs that count things: their sliders move in whole steps."""


def check_inputs(name: str, inputs: dict[str, Any]) -> dict[str, float]:
    """The inputs for ``EXAMPLES[name]``, checked: each a name of ``INPUTS[name]`` and
    a finite real number (as float64), or an :class:`~chainrule.graph.record.InputError`
    naming it. An unknown example name is a ``KeyError``."""
    if name not in EXAMPLES:
        raise KeyError(f"no example {name!r} (known: {', '.join(EXAMPLES)})")
    known = INPUTS[name]
    for key in inputs:
        if key not in known:
            raise InputError(f"{name} has no input {key!r} (its inputs: "
                             f"{', '.join(known) or 'none'})", key)
    return {key: float(real_number(key, value)) for key, value in inputs.items()}


TITLES = Catalog("example", {
    "example.apple": "Buying apples: {apple_num} at {apple} each, with {tax_percent}% tax",
    "example.apple_orange": "Buying apples and oranges: {apple_num} at {apple} and "
                            "{orange_num} at {orange}, with {tax_percent}% tax",
    "example.sigmoid": "The sigmoid built from ×, exp, + and / nodes, at x = {x}",
    "example.chain": "The chain rule: z = (x + y)², at x = {x} and y = {y}",
    "example.two_layer_net": "TwoLayerNet(784, 50, 10) on a batch of {batch} images",
})
"""Each example's title, a message made from the graph's own inputs (:func:`title`), so
that it follows them: "Buying apples: 5 at 100 each" once ``apple_num`` is 5."""


def title(name: str, g: Graph) -> Said:
    """The title of example ``name`` drawn as ``g`` (:data:`TITLES`), from its inputs."""
    if name == "two-layer-net":
        return said("example.two_layer_net", batch=int(np.shape(g.value("x"))[0]))
    values = {k: format_value(g.value(k)) for k in INPUTS[name]}
    if "tax" in values:  # the rate 1.1 is 10% tax
        del values["tax"]
        values["tax_percent"] = format_value((float(g.value("tax")) - 1) * 100)
    return said("example." + name.replace("-", "_"), **values)


def figure(name: str, *, backward: bool = True, **inputs: float) -> tuple[Graph, dict[str, str]]:
    """The example ``name`` (with any of its ``INPUTS`` given) and the drawing options
    (title, caption) that go with it."""
    g = EXAMPLES[name](**inputs, backward=backward)
    options = {"title": str(title(name, g))}
    if name == "sigmoid" and backward:
        y, dx = sigmoid_layer(g.value("x"))
        options["caption"] = (f"dx = dout · y · (1 − y) = {dx:.4g}, "
                              f"as the fused Sigmoid layer gives (y = {y:.4g})")
    elif name == "two-layer-net":
        options["caption"] = "x: 2 inputs of 784 pixels, t: one-hot labels, L: the loss"
    return g, options
