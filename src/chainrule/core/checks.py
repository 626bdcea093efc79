"""What a value must be to count as a number here: the checks every floor's validation
shares."""

from __future__ import annotations

import math

import numpy as np


def is_int(v) -> bool:
    """An integer (Python or NumPy), and not a bool."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def is_finite(v) -> bool:
    """A real number (Python or NumPy) that is neither NaN nor infinite."""
    return isinstance(v, (int, float, np.number)) and math.isfinite(v)


def finite_or_none(v: float | None) -> float | None:
    """``v`` as a float, or None for NaN, infinity or None (JSON has no NaN)."""
    return float(v) if v is not None and math.isfinite(v) else None
