"""Numerical gradients, and the gradient check that proves backprop right."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


def numerical_gradient(f: Callable, x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Central difference ``(f(x + h) - f(x - h)) / 2h`` for every element of ``x``.

    ``x`` is a floating array of any shape, perturbed in place one element at a time
    (so ``f`` may ignore its argument and read ``x`` through a layer, as in the book)
    and restored exactly afterwards, also when ``f`` raises.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"numerical_gradient: x must be a floating-point numpy array, got {type(x).__name__}"
            + (f" of dtype {x.dtype}" if isinstance(x, np.ndarray) else "")
        )
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        grad[i] = _central_difference(lambda: f(x), x, i, h)
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


@dataclass
class GradientCheckReport:
    """The result of :func:`gradient_check`; true when every parameter passed."""

    params: dict[str, ParamCheck] = field(default_factory=dict)
    rtol: float = 1e-5
    floor: float = 1e-7

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.params.values())

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        lines = [f"{'param':<10} {'mean |diff|':>12} {'max rel err':>12} {'checked':>8}  result"]
        for p in self.params.values():
            verdict = "ok" if p.passed else "FAIL"
            lines.append(
                f"{p.name:<10} {p.mean_abs_diff:12.3e} {p.max_rel_error:12.3e} "
                f"{p.checked:8d}  {verdict}"
            )
        lines.append(f"gradient check {'passed' if self.passed else 'FAILED'} "
                     f"(max rel err <= {self.rtol:g}, floor {self.floor:g})")
        return "\n".join(lines)


def _compare(name, backprop, numerical, rtol, floor) -> ParamCheck:
    a = np.asarray(backprop, dtype=np.float64).ravel()
    b = np.asarray(numerical, dtype=np.float64).ravel()
    diff = np.abs(a - b)
    rel = diff / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)
    max_rel = float(rel.max()) if rel.size else 0.0
    return ParamCheck(
        name=name,
        mean_abs_diff=float(diff.mean()) if diff.size else 0.0,
        max_abs_diff=float(diff.max()) if diff.size else 0.0,
        max_rel_error=max_rel,
        checked=int(a.size),
        passed=bool(np.all(np.isfinite(rel))) and max_rel <= rtol,
    )


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
    ``(L(p + h v) - L(p - h v)) / 2h``. A coordinate passes when
    ``|a - b| <= rtol * max(|a|, |b|, floor)``.
    """
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
    report = GradientCheckReport(rtol=rtol, floor=floor)
    for name, p in net.params.items():
        if samples is None:
            numerical = numerical_gradient(lambda _: loss(), p, h)
            report.params[name] = _compare(name, grads[name], numerical, rtol, floor)
            continue
        flat = p.reshape(-1)  # a view: params are contiguous arrays
        picks = rng.choice(flat.size, size=min(samples, flat.size), replace=False)
        numerical = np.empty(picks.size)
        for j, i in enumerate(picks):
            numerical[j] = _central_difference(loss, flat, i, h)
        report.params[name] = _compare(name, grads[name].reshape(-1)[picks], numerical,
                                       rtol, floor)
    if directions:
        backprop, numerical = [], []
        for _ in range(directions):
            v = {k: rng.standard_normal(p.shape) for k, p in net.params.items()}
            norm = np.sqrt(sum(float((d * d).sum()) for d in v.values()))
            backprop.append(sum(float((grads[k] * d).sum()) for k, d in v.items()) / norm)
            numerical.append(_directional(loss, net.params, v, h / norm) / norm)
        report.params["direction"] = _compare("direction", backprop, numerical, rtol, floor)
    return report


def _central_difference(loss: Callable[[], float], x: np.ndarray, i, h: float):
    """``(loss() at x[i] + h  -  loss() at x[i] - h) / 2h``; ``x[i]`` restored exactly."""
    original = x[i]
    try:
        x[i] = original + h
        f_plus = loss()
        x[i] = original - h
        f_minus = loss()
    finally:
        x[i] = original
    return (f_plus - f_minus) / (2 * h)


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
