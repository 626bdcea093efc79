"""Numerical gradients, and the gradient check that proves backprop right."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from chainrule.core.messages import Catalog, Said, said

H, RTOL, FLOOR = 1e-4, 1e-5, 1e-7
"""The step of a central difference (relative, see :func:`step_for`) and the "agree" rule:
``|a - b| <= RTOL * max(|a|, |b|, FLOOR)`` (:func:`compare`)."""
EPS = float(np.finfo(np.float64).eps)

REASONS = Catalog("grad", {
    # where a value that is not a finite number came from (``line``: the node's rule)
    "grad.log_domain": "{line}: log is defined only for numbers above 0",
    "grad.division_by_zero": "{line}: division by 0",
    "grad.overflow": "{line}: too large for a float (beyond ±1.8e308), it overflows",
    "grad.domain": "{line}: outside the function's domain",
    "grad.from_input": "the input {name} is {value}",
    "grad.value": "the value is {value} here: no derivative to compare with",
    "grad.backward": "backprop's {value} comes from the {node} node: {line}",
    "grad.backprop": "backprop gives {value} here: no derivative to compare with",
    # why a central difference is no derivative here
    "grad.kink": "a kink: the {node} node's input is {input}, where the slope jumps from "
                 "{left} to {right}; there is no derivative to compare with",
    "grad.kink_here": "a kink: the slope jumps from {left} to {right} here; there is no "
                      "derivative to compare with",
    "grad.cancellation": "cancellation: a step of {step} changes the output ({value}) by "
                         "less than its rounding error, so the difference kept no digits",
    # a gradient check's parameter
    "grad.not_finite": "{count} of the numbers compared are not finite",
    "grad.loss": "the loss is {value}: no derivative to check",
})
"""Why a numerical derivative cannot be compared with backprop, by code (see
:mod:`chainrule.core.messages`). :func:`check_function` and :func:`gradient_check` say
them; the graph (``Graph.check``) fills in which node a value came from."""


def step_for(x, h: float = H):
    """The step of a central difference at ``x``: ``h · max(|x|, 1)``, in float64.

    Relative to the value, so 1e9 and 1e40 are moved by a step that changes them (next
    to 1e40 a step of 1e-4 vanishes: ``1e40 + 1e-4 == 1e40``); ``h`` itself where
    ``|x| <= 1``, which is the book's step for the weights of a network.
    """
    return h * np.maximum(np.abs(np.asarray(x, dtype=np.float64)), 1.0)


def numerical_gradient(f: Callable, x: np.ndarray, h: float = 1e-4, *,
                       relative: bool = False) -> np.ndarray:
    """Central difference ``(f(x + h) - f(x - h)) / 2h`` for every element of ``x``.

    ``x`` is a floating array of any shape, perturbed in place one element at a time
    (so ``f`` may ignore its argument and read ``x`` through a layer, as in the book)
    and restored exactly afterwards, also when ``f`` raises. ``relative=True`` steps
    each element by :func:`step_for` (``h · max(|x_i|, 1)``) instead of ``h``.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"numerical_gradient: x must be a floating-point numpy array, got {type(x).__name__}"
            + (f" of dtype {x.dtype}" if isinstance(x, np.ndarray) else "")
        )
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        grad[i] = central_difference(lambda: f(x), x, i, h, relative)
    return grad


def numerical_gradient_2d(f: Callable, X: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """The book's per-row gradient: for a 1-D ``X`` the gradient of ``f`` at ``X``; for
    a 2-D ``X`` row ``i`` holds the gradient of ``f`` at ``X[i]`` (``f`` gets one row)."""
    if np.ndim(X) == 1:
        return numerical_gradient(f, X, h)
    if np.ndim(X) != 2:
        raise ValueError(f"numerical_gradient_2d: X must be 1-D or 2-D, got shape {np.shape(X)}")
    grad = np.zeros_like(X)
    for i, row in enumerate(X):
        grad[i] = numerical_gradient(f, row, h)
    return grad


@dataclass
class ParamCheck:
    """How far backprop and the numerical gradient of one parameter are apart."""

    name: str
    mean_abs_diff: float  # the book's figure: mean |backprop - numerical|
    max_abs_diff: float
    max_rel_error: float  # max |a - b| / max(|a|, |b|, floor)
    checked: int  # how many coordinates (or directions) were compared
    passed: bool
    kinks: int = 0  # coordinates left out: their difference straddles a kink
    reason: Said | None = None  # why numbers could not be compared (REASONS), if any


@dataclass
class Kink:
    """A coordinate whose central difference changes with the step: between ``p - h``
    and ``p + h`` the loss has a kink (a ReLU input crossing 0), so the difference
    quotient is no derivative there. ``numerical`` is the difference with step ``h``,
    ``smaller`` the one with ``smaller_step``; ``agrees``: that one matches backprop."""

    name: str
    index: tuple[int, ...]  # the coordinate in the parameter; (k,) for direction k
    backprop: float
    numerical: float
    smaller: float
    smaller_step: float
    agrees: bool

    def __str__(self) -> str:
        where = self.name + f"[{', '.join(map(str, self.index))}]"
        return (f"{where:<14} backprop {self.backprop:11.4e}, numerical {self.numerical:11.4e}"
                f" with step h, {self.smaller:11.4e} with step {self.smaller_step:.0e}"
                + (" (agrees)" if self.agrees else ""))


KINK_STEPS = (10, 100)
"""A coordinate that fails is differenced again with steps ``h / 10`` and ``h / 100``."""
ROUNDOFF = 10
"""Rounding noise of a central difference with step ``s``, in float64:
``ROUNDOFF * eps * |L| / s`` (measured: about ``0.5 * eps * |L| / s`` for TwoLayerNet)."""


@dataclass
class GradientCheckReport:
    """The result of :func:`gradient_check`; true when every parameter passed.

    ``floor`` is the floor used (the one asked for, raised to the rounding noise of the
    differences); ``kinks`` lists the coordinates left out because their difference
    straddles a kink: counted per parameter and shown, they do not fail the check.
    """

    params: dict[str, ParamCheck] = field(default_factory=dict)
    rtol: float = 1e-5
    floor: float = 1e-7
    h: float = 1e-4
    kinks: list[Kink] = field(default_factory=list)
    hint: str = ""  # why it may fail other than a wrong backprop, and what to do

    @property
    def passed(self) -> bool:
        return bool(self.params) and all(p.passed for p in self.params.values())

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        lines = [f"{'param':<10} {'mean |diff|':>12} {'max rel err':>12} {'checked':>8}  result"]
        for p in self.params.values():
            verdict = "ok" if p.passed else "FAIL" if p.checked else "FAIL (nothing checked)"
            lines.append(
                f"{p.name:<10} {p.mean_abs_diff:12.3e} {p.max_rel_error:12.3e} "
                f"{p.checked:8d}  {verdict}" + (f": {p.reason}" if p.reason else "")
            )
        lines.append(f"gradient check {'passed' if self.passed else 'FAILED'} "
                     f"(max rel err <= {self.rtol:g}, floor {self.floor:.2g})")
        if self.kinks:
            n = len(self.kinks)
            per = ", ".join(f"{p.kinks} in {p.name}" for p in self.params.values() if p.kinks)
            lines.append(f"{n} coordinate{'s' if n > 1 else ''} left out ({per}): the step "
                         f"h = {self.h:g} straddles a kink (a ReLU input crossing 0), so the "
                         "difference changes when the step shrinks:")
            lines += [f"  {k}" for k in self.kinks[:5]]
            if n > 5:
                lines.append(f"  ... and {n - 5} more")
        if self.hint and not self.passed:
            lines.append(self.hint)
        return "\n".join(lines)


def relative_error(a, b, floor) -> np.ndarray:
    """``|a - b| / max(|a|, |b|, floor)`` elementwise (NaN where either is NaN)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)


def compare(name, backprop, numerical, rtol=RTOL, floor=FLOOR,
            kinks: list[Kink] = ()) -> ParamCheck:
    """How far ``backprop`` is from ``numerical`` (any shapes of the same size): the
    check passes when every relative error ``|a - b| / max(|a|, |b|, floor)`` is at
    most ``rtol``. The one rule that says "agree", for gradient checks, ``Graph.check``
    and the lab. Numbers that are not finite never agree (``reason`` counts them)."""
    a = np.asarray(backprop, dtype=np.float64).ravel()
    b = np.asarray(numerical, dtype=np.float64).ravel()
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(a - b)
        rel = relative_error(a, b, floor)
    max_rel = float(rel.max()) if rel.size else 0.0
    bad = int(np.count_nonzero(~(np.isfinite(a) & np.isfinite(b))))
    return ParamCheck(
        name=name,
        mean_abs_diff=float(diff.mean()) if diff.size else 0.0,
        max_abs_diff=float(diff.max()) if diff.size else 0.0,
        max_rel_error=max_rel,
        checked=int(a.size),
        passed=(a.size > 0 or any(k.agrees for k in kinks))
        and bool(np.all(np.isfinite(rel))) and max_rel <= rtol,
        kinks=len(kinks),
        reason=said("grad.not_finite", count=bad) if bad else None,
    )


def look_again(a, b, difference, *, h, rtol, floor, rounding):
    """One coordinate that fails, looked at again (see :func:`_judge`): ``("refined",
    value)`` when Richardson extrapolation agrees with backprop ``a``, ``("kink",
    (smaller, step, agrees))`` when a smaller step moves the difference ``b``, else
    ``(None, None)``."""
    refined = (4 * difference(h / 2) - b) / 3
    if relative_error(a, refined, floor) <= rtol:
        return "refined", refined
    gap = abs(a - b)
    for divisor in KINK_STEPS:
        step = h / divisor
        smaller = difference(step)
        if abs(b - smaller) - rounding(step) >= 0.5 * gap:
            agrees = abs(a - smaller) <= rtol * max(abs(a), abs(smaller), floor) \
                + rounding(step)
            return "kink", (float(smaller), step, bool(agrees))
    return None, None


def _judge(name, backprop, numerical, difference, index, *, h, rtol, floor, rounding,
           kinks: list[Kink]) -> ParamCheck:
    """Compare ``backprop`` with ``numerical`` (central differences with step ``h``),
    looking again at the coordinates that fail.

    ``difference(j, s)`` is the central difference of coordinate ``j`` with step ``s``,
    ``rounding(s)`` its rounding noise. A failing coordinate is first refined by
    Richardson extrapolation, ``(4 D(h/2) - D(h)) / 3``, which cancels the ``h**2``
    error of ``D(h)`` where the loss is smooth; if that agrees with backprop it
    replaces ``D(h)``. Otherwise the coordinate is a kink when a smaller step
    (``h / 10``, ``h / 100``) moves its difference, beyond rounding noise, by at least
    half the gap to backprop: near a kink the difference quotient depends on the step,
    while for a wrong backprop it stays, step after step, the same distance away.
    Kinks are left out of the comparison and appended to ``kinks``.
    """
    a = np.asarray(backprop, dtype=np.float64).ravel()
    b = np.array(numerical, dtype=np.float64).ravel()
    with np.errstate(invalid="ignore"):
        failing = np.flatnonzero(~(relative_error(a, b, floor) <= rtol))
    kept, found = np.ones(a.size, dtype=bool), []
    for j in failing:
        what, it = look_again(a[j], b[j], lambda s, j=j: difference(j, s), h=h, rtol=rtol,
                               floor=floor, rounding=rounding)
        if what == "refined":
            b[j] = it
        elif what == "kink":
            found.append(Kink(name, index(j), float(a[j]), float(b[j]), *it))
            kept[j] = False
    kinks += found
    return compare(name, a[kept], b[kept], rtol, floor, found)


def _check_options(samples, directions, h, rtol, floor) -> None:
    def positive(v) -> bool:
        return (isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
                and v > 0)

    def integer(v) -> bool:
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)

    checks = [
        (samples is None or (integer(samples) and samples >= 1),
         f"samples must be None (every coordinate) or an integer >= 1, got {samples!r}"),
        (integer(directions) and directions >= 0,
         f"directions must be an integer >= 0, got {directions!r}"),
        (positive(h), f"h must be a positive finite step, got {h!r}"),
        (positive(rtol) and rtol < 1, f"rtol must be in (0, 1), got {rtol!r}"),
        (positive(floor), f"floor must be a positive finite number, got {floor!r}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(f"gradient_check: {message}")


def gradient_check(
    net,
    x,
    t,
    *,
    samples: int | None = None,
    directions: int = 0,
    h: float = 1e-4,
    rtol: float = 1e-5,
    floor: float = 1e-7,
    seed=None,
) -> GradientCheckReport:
    """Compare ``net.gradient(x, t)`` with numerical gradients of ``net.loss(x, t)``.

    ``net`` is any network with ``params`` (a dict of arrays its layers use by
    reference), ``loss(x, t)`` and ``gradient(x, t)``; a network that is not float64
    is checked on a float64 copy made with ``net.astype(np.float64)``.

    By default every coordinate of every parameter is checked, as the book does.
    ``samples=k`` checks ``k`` random coordinates per parameter instead, and
    ``directions=d`` adds ``d`` random directional derivatives over all parameters at
    once (reported as ``"direction"``): ``<grad, v>`` against
    ``(L(p + h v) - L(p - h v)) / 2h``. A coordinate ``p`` is moved by
    :func:`step_for`'s relative step, ``h · max(|p|, 1)`` (``h`` for weights up to 1 in
    size). A coordinate passes when
    ``|a - b| <= rtol * max(|a|, |b|, floor)``; ``floor`` is raised to the rounding
    noise of a difference, ``ROUNDOFF * eps * |L| / (h * rtol)`` (below it a relative
    error means nothing), and the report shows the floor used.

    A coordinate that fails is looked at again (see :func:`_judge`): where the loss is
    smooth, Richardson extrapolation removes the ``h**2`` error of the central
    difference (tiny gradients of many-image losses need it); where a smaller step
    (``h / 10``, ``h / 100``) moves the difference by at least half its distance to
    backprop, the step straddles a kink (a ReLU input crossing 0) and the coordinate
    is left out, counted in ``ParamCheck.kinks`` and listed in ``report.kinks``. A
    wrong backprop is moved by neither and fails. A parameter passes only if it had
    a coordinate compared (or a kink that agrees with a smaller step).

    Options that would check nothing (``samples=0``, a step, ``rtol`` or ``floor``
    that is not a positive finite number, ``rtol >= 1``) raise ``ValueError``.
    """
    _check_options(samples, directions, h, rtol, floor)
    if not net.params:
        raise ValueError("gradient_check: the network has no parameters to check")
    rng = np.random.default_rng(seed)
    if any(p.dtype != np.float64 for p in net.params.values()):
        net = net.astype(np.float64)
    x = np.asarray(x)
    x = x.astype(np.float64) if np.issubdtype(x.dtype, np.floating) else x
    t = np.asarray(t)
    t = t.astype(np.float64) if np.issubdtype(t.dtype, np.floating) else t

    def loss() -> float:
        return float(net.loss(x, t))

    grads = {k: np.array(g, dtype=np.float64) for k, g in net.gradient(x, t).items()}
    hint = _mode_hint(net, x, t)
    scale = ROUNDOFF * np.finfo(np.float64).eps * abs(loss())

    if not math.isfinite(scale):  # the loss overflowed (a weight scale too large?)
        return _no_loss(net, loss(), rtol, floor, h)

    def rounding(step: float) -> float:
        return scale / step

    floor = max(floor, rounding(h) / rtol)
    report = GradientCheckReport(rtol=rtol, floor=floor, h=h, hint=hint)
    options = {"h": h, "rtol": rtol, "floor": floor, "rounding": rounding,
               "kinks": report.kinks}
    for name, p in net.params.items():
        flat = p.reshape(-1)  # a view: params are contiguous arrays
        if samples is None:
            picks = np.arange(flat.size)
            numerical = numerical_gradient(lambda _: loss(), p, h, relative=True).reshape(-1)
        else:
            picks = rng.choice(flat.size, size=min(samples, flat.size), replace=False)
            numerical = np.array([central_difference(loss, flat, i, h) for i in picks])
        report.params[name] = _judge(
            name, grads[name].reshape(-1)[picks], numerical,
            lambda j, step, flat=flat, picks=picks: central_difference(
                loss, flat, picks[j], step),
            lambda j, shape=p.shape, picks=picks: tuple(
                int(i) for i in np.unravel_index(picks[j], shape)),
            **options)
    if directions:
        backprop, numerical, vectors = [], [], []
        for _ in range(directions):
            v = {k: rng.standard_normal(p.shape) for k, p in net.params.items()}
            norm = np.sqrt(sum(float((d * d).sum()) for d in v.values()))
            vectors.append((v, norm))
            backprop.append(sum(float((grads[k] * d).sum()) for k, d in v.items()) / norm)
            numerical.append(_directional(loss, net.params, v, h / norm) / norm)

        def along(j: int, step: float) -> float:
            v, norm = vectors[j]
            return _directional(loss, net.params, v, step / norm) / norm

        report.params["direction"] = _judge("direction", backprop, numerical, along,
                                            lambda j: (int(j),), **options)
    return report


def _mode_hint(net, x, t) -> str:
    """Why every parameter fails although backprop may be right: right after
    ``net.gradient(x, t)``, its last layer's loss is not what ``net.predict`` then gives
    (batch norm on running statistics against the batch's, dropout off against on):
    ``net.loss`` is not the function ``net.gradient`` differentiates."""
    last = getattr(net, "last_layer", getattr(net, "lastLayer", None))
    if not (callable(getattr(last, "forward", None)) and callable(getattr(net, "predict", None))):
        return ""
    try:
        trained = float(last.loss)
    except (TypeError, ValueError, AttributeError):
        return ""
    now = float(last.forward(net.predict(x), t))
    if not (math.isfinite(trained) and math.isfinite(now)) or \
            abs(trained - now) <= 1e-9 * max(1.0, abs(now)):
        return ""
    how = ("inside `with net.deterministic():` (training mode, one dropout mask)"
           if callable(getattr(net, "deterministic", None)) else
           "in training mode with one fixed dropout mask")
    return (f"hint: net.gradient's forward pass gave the loss {trained:.6g}, net.predict "
            f"then gives {now:.6g}: batch norm or dropout run in training mode for the "
            f"gradient only, so the numerical gradient is of another function and every "
            f"parameter fails. Run the check {how}.")


def _no_loss(net, value: float, rtol: float, floor: float, h: float) -> GradientCheckReport:
    """The report where the loss itself is not a number: nothing checked, and why."""
    report = GradientCheckReport(rtol=rtol, floor=floor, h=h)
    for name in net.params:
        report.params[name] = ParamCheck(name, math.nan, math.nan, math.nan, 0, False,
                                         reason=said("grad.loss", value=value))
    return report


def central_difference(loss: Callable[[], float], x: np.ndarray, i, h: float,
                       relative: bool = True):
    """``(loss() at x[i] + s  -  loss() at x[i] - s) / 2s``, ``s = step_for(x[i], h)``
    (``s = h`` unless ``relative``); ``x[i]`` restored exactly."""
    original = x[i]
    s = float(step_for(original, h)) if relative else h
    try:
        x[i] = original + s
        f_plus = loss()
        x[i] = original - s
        f_minus = loss()
    finally:
        x[i] = original
    return (f_plus - f_minus) / (2 * s)


def _directional(loss: Callable[[], float], params: dict, v: dict, h: float) -> float:
    """``(L(p + h v) - L(p - h v)) / 2h``; ``params`` are restored exactly afterwards."""
    saved = {k: p.copy() for k, p in params.items()}
    try:
        for k, p in params.items():
            p += h * v[k]
        f_plus = loss()
        for k, p in params.items():
            np.copyto(p, saved[k])
            p -= h * v[k]
        f_minus = loss()
    finally:
        for k, p in params.items():
            np.copyto(p, saved[k])
    return (f_plus - f_minus) / (2 * h)
