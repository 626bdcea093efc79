"""Figures 6-3 to 6-8: the paths of the optimizers on a function of two numbers.

The book's ``optimizer_compare_naive.py`` starts at ``(-7, 2)`` on
``f(x, y) = x**2 / 20 + y**2`` and runs each optimizer (``SGD(lr=0.95)``,
``Momentum(lr=0.1)``, ``AdaGrad(lr=1.5)``, ``Adam(lr=0.3)``) for 30 iterations, each of
which records the point and then updates it: the path drawn is those 30 points.
:func:`optimizer_path` does the same with chainrule's optimizers on the book's function
or on another :class:`Surface` (:data:`SURFACES`), and keeps every update's numbers
(the gradient, the optimizer's state after it, Adam's bias-corrected rate), so the
update can be written out with them. :func:`contour_lines` gives the lines of equal
height to draw under the paths. Nothing here draws.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from chainrule.nn.optim import Adam, make_optimizer

OPTIMIZER_NAMES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
"""The optimizers a path can be drawn for, in the order the book introduces them."""

SETTINGS = {"sgd": ("lr",), "momentum": ("lr", "momentum"), "nesterov": ("lr", "momentum"),
            "adagrad": ("lr",), "rmsprop": ("lr", "decay_rate"),
            "adam": ("lr", "beta1", "beta2")}
"""Each optimizer's constructor arguments (the constants a learner may change)."""

DEFAULTS = {"momentum": 0.9, "decay_rate": 0.99, "beta1": 0.9, "beta2": 0.999}
"""The constants' defaults, the book's (``common/optimizer.py``)."""

BOOK_RATES = {"sgd": 0.95, "momentum": 0.1, "adagrad": 1.5, "adam": 0.3}
"""The learning rates of ``optimizer_compare_naive.py``."""

ESCAPE = 1e6
"""A path whose point leaves the view by more than this many view widths stops there."""


@dataclass(frozen=True)
class Surface:
    """A function of two numbers with its gradient, the part of the plane to look at,
    where a path starts by default, the heights of its contour lines and a preset: the
    learning rates (and iterations) that show each optimizer's character on it."""

    name: str
    formula: str  # as a learner would write it
    f: Callable[[float, float], float]
    grad: Callable[[float, float], tuple[float, float]]
    view: tuple[float, float, float, float]  # x_min, x_max, y_min, y_max
    start: tuple[float, float]
    levels: tuple[float, ...]
    rates: Mapping[str, float]
    iters: int = 30
    minimum: tuple[float, float] | None = (0.0, 0.0)


def _book(x, y):
    return x * x / 20.0 + y * y


def _book_grad(x, y):
    return x / 10.0, 2.0 * y  # the book's df


_C, _S = math.cos(math.pi / 6), math.sin(math.pi / 6)  # the rotated bowl: 30 degrees


def _rotated(x, y):
    u, v = _C * x + _S * y, -_S * x + _C * y
    return u * u / 20.0 + v * v


def _rotated_grad(x, y):
    u, v = _C * x + _S * y, -_S * x + _C * y
    du, dv = u / 10.0, 2.0 * v
    return _C * du - _S * dv, _S * du + _C * dv


def _saddle(x, y):
    return x * x / 2.0 + y * y * y * y / 4.0 - y * y / 2.0


def _saddle_grad(x, y):
    return x, y * y * y - y


def _rosenbrock(x, y):
    a, b = 1.0 - x, y - x * x
    return a * a + 100.0 * b * b


def _rosenbrock_grad(x, y):
    b = y - x * x
    return -2.0 * (1.0 - x) - 400.0 * x * b, 200.0 * b


SURFACES: dict[str, Surface] = {s.name: s for s in (
    Surface("book", "x²/20 + y²", _book, _book_grad, (-10.0, 10.0, -5.0, 5.0), (-7.0, 2.0),
            (0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0),
            {**BOOK_RATES, "nesterov": 0.1, "rmsprop": 0.3}),
    Surface("rotated", "u²/20 + v², (u, v) = (x, y) turned by 30°", _rotated, _rotated_grad,
            (-10.0, 10.0, -5.0, 5.0), (-7.0, 2.0),
            (0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0),
            {**BOOK_RATES, "nesterov": 0.1, "rmsprop": 0.3}),
    Surface("saddle", "x²/2 + y⁴/4 − y²/2", _saddle, _saddle_grad, (-4.0, 4.0, -2.0, 2.0),
            (-3.5, 0.01), (-0.2, -0.1, 0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0),
            {"sgd": 0.2, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.5, "rmsprop": 0.1,
             "adam": 0.2}, iters=40, minimum=None),
    Surface("rosenbrock", "(1 − x)² + 100·(y − x²)²", _rosenbrock, _rosenbrock_grad,
            (-2.0, 2.0, -1.0, 3.0), (-1.5, 2.0), (0.5, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0,
                                                   200.0, 400.0, 800.0),
            {"sgd": 0.001, "momentum": 0.0005, "nesterov": 0.0005, "adagrad": 0.3,
             "rmsprop": 0.03, "adam": 0.1}, iters=200, minimum=(1.0, 1.0)),
)}
"""The functions a path can run on, by name: the book's, a rotated elongated bowl (the
per-coordinate optimizers lose their edge when the valley is not along an axis), a
saddle at the origin (from near the ridge, which optimizers get away, and how fast) and
Rosenbrock's curved valley (minimum at (1, 1))."""


def surface(name: str) -> Surface:
    try:
        return SURFACES[name]
    except KeyError:
        raise ValueError(f"unknown function {name!r}; choose one of "
                         f"{', '.join(SURFACES)}") from None


def preset(name: str, surface_name: str = "book") -> dict[str, float]:
    """The settings of optimizer ``name`` in ``surface_name``'s preset: its learning rate
    (the book's, on the book's function) and the book's defaults for its constants."""
    return {"lr": SURFACES[surface_name].rates[name],
            **{k: DEFAULTS[k] for k in SETTINGS[name][1:]}}


@dataclass
class OptimizerPath:
    """One optimizer's path: ``points[i]`` is the point at the start of iteration ``i``
    (the book's ``x_history``, ``y_history``); update ``i`` (``0 <= i < len(points) - 1``)
    used ``grads[i]``, the gradient at ``points[i]``, and left the optimizer's state
    ``states[i]`` (``slot -> (x, y)``, e.g. ``{"v": (vx, vy)}``; Adam's also ``t``) and,
    for Adam, used the rate ``rates[i]``. ``escaped``: the update after which the path
    left the plane (a non-finite point, or farther than :data:`ESCAPE` views away) and
    stopped, else None."""

    name: str
    settings: dict[str, float]
    points: list[tuple[float, float]] = field(default_factory=list)
    heights: list[float] = field(default_factory=list)
    grads: list[tuple[float, float]] = field(default_factory=list)
    states: list[dict] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    escaped: int | None = None


def optimizer_path(surface_name: str, name: str, start: tuple[float, float] | None = None,
                   iters: int | None = None, **settings: float) -> OptimizerPath:
    """The path of optimizer ``name`` (one of :data:`OPTIMIZER_NAMES`) with ``settings``
    (its ``lr`` and constants; left out: the surface's preset) on the surface called
    ``surface_name``, from ``start`` (default: the surface's), for ``iters`` iterations
    (default: the surface's, 30 on the book's) as the book's loop runs them: ``iters``
    points, ``iters - 1`` updates drawn. The parameters are Python floats in a dict, as
    in the book's script, so the numbers are its numbers."""
    s = surface(surface_name)
    if name not in SETTINGS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of "
                         f"{', '.join(OPTIMIZER_NAMES)}")
    unknown = sorted(set(settings) - set(SETTINGS[name]))
    if unknown:
        raise ValueError(f"{name} has no setting {unknown[0]!r}; it takes "
                         f"{', '.join(SETTINGS[name])}")
    iters = s.iters if iters is None else int(iters)
    if iters < 1:
        raise ValueError(f"iters must be at least 1, got {iters}")
    chosen = {**preset(name, surface_name), **{k: float(v) for k, v in settings.items()}}
    optimizer = make_optimizer(name, **chosen)
    x, y = (float(v) for v in (s.start if start is None else start))
    path = OptimizerPath(name, chosen, [(x, y)], [s.f(x, y)])
    params = {"x": x, "y": y}
    reach = ESCAPE * max(s.view[1] - s.view[0], s.view[3] - s.view[2])
    with np.errstate(all="ignore"):
        for i in range(iters - 1):
            gx, gy = s.grad(params["x"], params["y"])
            if isinstance(optimizer, Adam):
                path.rates.append(optimizer.lr_t(optimizer.t + 1))
            optimizer.update(params, {"x": gx, "y": gy})
            x, y = float(params["x"]), float(params["y"])
            path.grads.append((gx, gy))
            path.states.append(_state(optimizer))
            path.points.append((x, y))
            path.heights.append(s.f(x, y) if max(abs(x), abs(y)) < reach else math.inf)
            if not (math.isfinite(x) and math.isfinite(y)) or max(abs(x), abs(y)) > reach:
                path.escaped = i
                break
    return path


def _state(optimizer) -> dict:
    """The optimizer's state after an update, read through ``state_dict``: ``slot ->
    (x, y)``, and ``t`` for Adam."""
    state: dict = {}
    for key, value in optimizer.state_dict().items():
        if key == "t":
            state["t"] = int(value)
            continue
        slot, _, param = key.partition("/")
        state.setdefault(slot, {})[param] = float(value)
    return {k: v if k == "t" else (v["x"], v["y"]) for k, v in state.items()}


def contour_lines(surface_name: str, *, resolution: int = 161) -> list[dict]:
    """The surface's lines of equal height over its view: ``[{"level": h, "lines":
    [[(x, y), ...], ...]}, ...]``, one entry per level of :attr:`Surface.levels`, from a
    ``resolution`` x ``resolution`` grid (contourpy, as matplotlib's ``contour``)."""
    import contourpy

    s = surface(surface_name)
    x0, x1, y0, y1 = s.view
    X, Y = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    Z = s.f(X, Y)
    gen = contourpy.contour_generator(X, Y, Z, line_type=contourpy.LineType.Separate)
    return [{"level": level, "lines": [line.tolist() for line in gen.lines(level)]}
            for level in s.levels]
