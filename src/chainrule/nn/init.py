"""Weight initialisation by name: He (the book's ``"relu"``), Xavier (``"sigmoid"``) or a
number, for every network."""

from __future__ import annotations

import math

INIT_NAMES = {"he": "he", "relu": "he", "xavier": "xavier", "sigmoid": "xavier"}
"""Weight-initialisation names, to the one each means (the book spells He ``relu`` and
Xavier ``sigmoid``)."""


def init_name(value) -> str | None:
    """``"he"`` or ``"xavier"`` for a name of either (any case), else None."""
    return INIT_NAMES.get(value.lower()) if isinstance(value, str) else None


def init_std(weight_init_std: str | float, n_in: int) -> float:
    """The standard deviation of a layer's weights with ``n_in`` inputs.

    ``"he"`` (or the book's ``"relu"``): ``sqrt(2 / n_in)``; ``"xavier"`` (or
    ``"sigmoid"``): ``sqrt(1 / n_in)``; a positive number: itself.
    """
    if isinstance(weight_init_std, str):
        name = init_name(weight_init_std)
        if name == "he":
            return math.sqrt(2.0 / n_in)
        if name == "xavier":
            return math.sqrt(1.0 / n_in)
        raise ValueError(f"MultiLayerNet: weight_init_std must be 'he', 'xavier' or a positive "
                         f"number, got {weight_init_std!r}")
    std = float(weight_init_std)
    if not (math.isfinite(std) and std > 0):
        raise ValueError(f"MultiLayerNet: weight_init_std must be positive, got {weight_init_std}")
    return std
