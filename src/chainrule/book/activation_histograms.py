"""Figures 6-10 to 6-14: the activations of five layers, and the gradients coming back.

The book's ``weight_init_activation_histogram.py`` sends 1000 random inputs of 100
numbers (``np.random.randn(1000, 100)``) through 5 layers of 100 units, each drawing
its weights ``np.random.randn(100, 100) * scale`` as it comes, without biases, and
draws a histogram of each layer's activations (30 bins over ``(0, 1)``).
:func:`activation_histograms` does the same with chainrule's layers (``Affine`` with a
zero bias, then ``Sigmoid``, ``Tanh`` or ``Relu``), its numbers drawn from
``np.random.RandomState(seed)``: what the book's script draws after
``np.random.seed(seed)``, so the same seed gives the same histograms. Then what the
book does not show: a 10-class output layer and ``SoftmaxWithLoss`` on labels drawn
after everything else, and every layer's own ``backward`` from that loss, so the
gradients reaching each layer can be seen vanish or explode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chainrule.core.checks import finite_or_none
from chainrule.core.layers import Affine, SoftmaxWithLoss
from chainrule.nn.init import init_std
from chainrule.nn.multilayer import ACTIVATIONS

BOOK_RANGES = {"sigmoid": (0.0, 1.0), "relu": (0.0, 1.0), "tanh": (-1.0, 1.0)}
"""The histograms' range per activation: the book's ``(0, 1)``; ``(-1, 1)`` for tanh,
whose values are as often negative."""


@dataclass
class Histogram:
    """``counts[i]`` values fell in ``[edges[i], edges[i + 1])`` (the last bin closed);
    ``below`` and ``above`` counts fell outside the range; ``mean``, ``std`` of all."""

    counts: list[int]
    edges: list[float]
    below: int
    above: int
    mean: float
    std: float

    @classmethod
    def of(cls, values: np.ndarray, bins: int, value_range: tuple[float, float]) -> Histogram:
        values = np.asarray(values, dtype=np.float64).ravel()
        counts, edges = np.histogram(values, bins, range=value_range)
        lo, hi = value_range
        return cls(counts.tolist(), edges.tolist(), int(np.sum(values < lo)),
                   int(np.sum(values > hi)), float(values.mean()), float(values.std()))

    def as_json(self) -> dict:
        """The histogram for a JSON answer: a mean, std or edge that is not finite (values
        that overflowed) is None."""
        return {"counts": self.counts, "edges": [finite_or_none(e) for e in self.edges],
                "below": self.below, "above": self.above,
                "mean": finite_or_none(self.mean), "std": finite_or_none(self.std)}


def around(values: np.ndarray, width: float = 4.0) -> tuple[float, float]:
    """A histogram's range for ``values``: their mean plus and minus ``width`` standard
    deviations (the finite ones; ``(-1, 1)`` around the mean when they are all equal)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if not v.size:
        return -1.0, 1.0
    mean, std = float(v.mean()), float(v.std())
    half = width * std if std > 0 else max(abs(mean), 1.0)
    return mean - half, mean + half


@dataclass
class LayerHistograms:
    """What :func:`activation_histograms` found: per hidden layer (first to last) its
    activations' histogram, the gradient of the loss with respect to its activations
    (``dL/dz``, what its ``backward`` received) and its weights' gradient's root mean
    square; the arrays themselves in ``activations`` and ``grads``."""

    activation: str
    scale: float
    seed: int
    loss: float
    values: list[Histogram] = field(default_factory=list)
    gradients: list[Histogram] = field(default_factory=list)
    weight_grad_rms: list[float] = field(default_factory=list)
    activations: list[np.ndarray] = field(default_factory=list)
    grads: list[np.ndarray] = field(default_factory=list)


def activation_histograms(activation: str = "sigmoid", weight_init_std: str | float = 1.0, *,
                          seed: int = 0, samples: int = 1000, nodes: int = 100,
                          layers: int = 5, classes: int = 10, bins: int = 30,
                          value_range: tuple[float, float] | None = None
                          ) -> LayerHistograms:
    """The book's experiment for ``activation`` (sigmoid, tanh or relu) and weights of
    std ``weight_init_std`` (a number, ``"xavier"``: ``sqrt(1 / nodes)``, or ``"he"``:
    ``sqrt(2 / nodes)``), with the book's draws from ``RandomState(seed)``: the inputs,
    then each layer's weights. After them: the output layer's weights (the same std)
    and ``samples`` labels, for the loss the gradients come back from. The gradients'
    histograms share one range, symmetric around 0, the largest gradient of any layer."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got "
                         f"{activation!r}")
    for name, value in (("samples", samples), ("nodes", nodes), ("layers", layers),
                        ("classes", classes), ("bins", bins)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    scale = init_std(weight_init_std, nodes)
    rng = np.random.RandomState(seed)  # the book's np.random.seed(seed); np.random.randn
    x = rng.standard_normal((samples, nodes))
    pairs = [(Affine(rng.standard_normal((nodes, nodes)) * scale, np.zeros(nodes)),
              ACTIVATIONS[activation]()) for _ in range(layers)]  # drawn in the book's order
    out = Affine(rng.standard_normal((nodes, classes)) * scale, np.zeros(classes))
    labels = rng.randint(0, classes, samples)
    found = LayerHistograms(activation, scale, seed, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        for affine, act in pairs:
            x = act.forward(affine.forward(x))
            found.activations.append(x)
        last = SoftmaxWithLoss()
        found.loss = float(last.forward(out.forward(x), labels))
        dout = out.backward(last.backward(1))
        for affine, act in reversed(pairs):
            found.grads.insert(0, dout)
            dout = affine.backward(act.backward(dout))
    value_range = value_range or BOOK_RANGES[activation]
    found.values = [Histogram.of(a, bins, value_range) for a in found.activations]
    top = max((float(np.max(np.abs(g))) for g in found.grads), default=0.0)
    top = top if np.isfinite(top) and top > 0 else 1.0
    found.gradients = [Histogram.of(g, bins, (-top, top)) for g in found.grads]
    found.weight_grad_rms = [float(np.sqrt(np.mean(a.dW * a.dW))) for a, _ in pairs]
    return found
