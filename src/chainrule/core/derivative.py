"""One derivative checked at a point, or told why it cannot be.

:func:`check_function` is what ``Graph.check`` and the graph lab use: backprop's
gradient against central differences with :mod:`chainrule.core.gradient`'s relative step
and its "agree" rule (:func:`~chainrule.core.gradient.compare`), and where a difference
cannot be a derivative, the reason as a message (:data:`~chainrule.core.gradient.REASONS`):
a value that is not finite, a domain's edge or an overflow, cancellation, a kink.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from chainrule.core.gradient import (
    EPS,
    FLOOR,
    ROUNDOFF,
    RTOL,
    H,
    ParamCheck,
    central_difference,
    compare,
    look_again,
    relative_error,
    step_for,
)
from chainrule.core.messages import Said, said


class Explainer:
    """What :func:`check_function` asks where a reason needs details only the caller
    knows (a graph knows which node made a value infinite); each method returns a
    message (:data:`REASONS`, ``said(...)``) or None for the generic one."""

    def value(self) -> Said | None:
        """Why the value the last ``loss()`` call computed is not finite."""
        return None

    def grad(self, index: int) -> Said | None:
        """Why backprop's gradient of coordinate ``index`` is not finite."""
        return None

    def kink(self, index: int, left: float, right: float) -> Said | None:
        """Where the kink of coordinate ``index`` is (slopes ``left`` and ``right``)."""
        return None


@dataclass
class FunctionCheck:
    """A derivative checked at one point (:func:`check_function`): ``numerical`` the
    differences (float64, the shape of ``x``), ``result`` :func:`compare`'s verdict on
    the coordinates that could be compared, ``reason`` why the others could not be
    (None: every coordinate was compared) and ``left_out`` how many they are."""

    numerical: np.ndarray
    result: ParamCheck
    reason: Said | None = None
    left_out: int = 0

    @property
    def agree(self) -> bool | None:
        """:func:`compare`'s verdict; None when no coordinate could be compared."""
        return None if self.result.checked == 0 else self.result.passed


def check_function(loss: Callable[[], float], x: np.ndarray, backprop, *, h: float = H,
                   rtol: float = RTOL, floor: float = FLOOR,
                   explain: Explainer | None = None) -> FunctionCheck:
    """Check backprop's gradient of ``loss()`` with respect to ``x`` (a float64 array that
    ``loss`` reads; perturbed in place, restored exactly) against central differences,
    and say why where a difference cannot be a derivative.

    Each coordinate is moved by :func:`step_for`'s relative step. It agrees by
    :func:`compare`; one that does not is looked at again as :func:`gradient_check`
    does (Richardson extrapolation, smaller steps that cross a nearby kink). A
    coordinate is left out, with a reason (:data:`REASONS`), where the value or
    backprop's gradient is not finite (``explain`` says where it came from), where the
    steps leave the function's domain or overflow even when shrunk a millionfold,
    where the rounding error of the difference is as large as what it measures
    (cancellation), and at a kink (the slopes left and right of the point differ
    however small the step: ReLU at 0).
    """
    why = explain or Explainer()
    flat, a = x.reshape(-1), np.asarray(backprop, dtype=np.float64).ravel()
    if not np.shares_memory(flat, x):
        raise ValueError("check_function: x must be a contiguous array")
    f0 = loss()
    numerical, kept = np.full(flat.size, np.nan), np.zeros(flat.size, dtype=bool)
    reasons: list[Said] = []
    if not math.isfinite(f0):
        reasons.append(why.value() or said("grad.value", value=f0))
    for j in range(flat.size) if not reasons else ():
        if not math.isfinite(a[j]):
            reasons.append(why.grad(j) or said("grad.backprop", value=float(a[j])))
            continue
        with np.errstate(all="ignore"):  # infinities and NaN are values here, told as reasons
            numerical[j], reason, kept[j] = _one_coordinate(loss, flat, j, a[j], f0, why, h=h,
                                                            rtol=rtol, floor=floor)
        if reason is not None:
            reasons.append(reason)
    result = compare("", a[kept], numerical[kept], rtol, floor)
    return FunctionCheck(numerical.reshape(x.shape), result,
                         reasons[0] if reasons else result.reason, flat.size - int(kept.sum()))


def _one_coordinate(loss, flat, j, a, f0, why: Explainer, *, h, rtol, floor):
    """``(numerical, reason, compared)`` of coordinate ``j`` (see :func:`check_function`)."""
    scale = float(step_for(flat[j], 1.0))

    def rounding(step: float) -> float:
        return ROUNDOFF * EPS * abs(f0) / (step * scale)

    def difference(step: float) -> float:
        return central_difference(loss, flat, j, step)

    for shrink in range(7):  # a step that leaves the domain or overflows: a smaller one
        step = h / 10**shrink
        b = difference(step)
        if math.isfinite(b):
            break
    else:
        return math.nan, _outside(loss, flat, j, step * scale, why), False
    if relative_error(a, b, floor) <= rtol:
        return b, None, True
    what, it = look_again(a, b, difference, h=step, rtol=rtol, floor=floor,
                           rounding=rounding)
    if what == "refined" or (what == "kink" and it[2]):
        return (it if what == "refined" else it[0]), None, True
    if rounding(step) >= rtol * max(abs(a), abs(b), floor):
        return b, said("grad.cancellation", step=_short(step * scale), value=_short(f0)), False
    left, right = _slopes(loss, flat, j, f0, step * scale)
    if what == "kink" or abs(left - right) > rtol * max(abs(left), abs(right), floor) \
            + 2 * rounding(step):
        small = _slopes(loss, flat, j, f0, step * scale / 100)
        if what == "kink" or abs(small[0] - small[1]) >= 0.5 * abs(left - right):
            return b, why.kink(j, left, right) or said("grad.kink_here", left=left,
                                                       right=right), False
    return b, None, True


def _short(x: float) -> float:
    """``x`` to 4 significant digits, for a message."""
    return float(f"{x:.4g}")


def _slopes(loss, flat, j, f0, s) -> tuple[float, float]:
    """The one-sided differences ``(f0 - f(x - s)) / s`` and ``(f(x + s) - f0) / s``."""
    original = flat[j]
    try:
        flat[j] = original - s
        left = (f0 - loss()) / s
        flat[j] = original + s
        right = (loss() - f0) / s
    finally:
        flat[j] = original
    return float(left), float(right)


def _outside(loss, flat, j, s, why: Explainer) -> Said:
    """Why a step of ``s`` either side of coordinate ``j`` gives no finite value."""
    original = flat[j]
    try:
        for point in (original + s, original - s):
            flat[j] = point
            value = loss()
            if not math.isfinite(value):
                return why.value() or said("grad.value", value=value)
    finally:
        flat[j] = original
    return said("grad.value", value=math.nan)  # finite either side: the difference overflowed
