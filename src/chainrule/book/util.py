"""The book's ``common/util.py``: smoothing a loss curve, shuffling a dataset, and the
convolution helpers (``conv_output_size``, ``im2col``, ``col2im``, from :mod:`chainrule.core.conv`).
"""

from __future__ import annotations

import numpy as np

from chainrule.core.conv import col2im, conv_output_size, im2col
from chainrule.core.rng import Random, make_rng

__all__ = ["np", "smooth_curve", "shuffle_dataset", "conv_output_size", "im2col", "col2im"]

_WINDOW = 11  # the book's window length


def smooth_curve(x) -> np.ndarray:
    """``x`` smoothed by a moving average with Kaiser weights (11 points, beta 2), for
    plotting a noisy loss curve, as the book's.

    The ends are padded with mirror images of ``x``: ``x[10], ..., x[1]`` before it and
    ``x[-1], ..., x[-10]`` after it, so ``n >= 11`` points give ``n`` smoothed points.
    Shorter curves give what the book's gives: nothing for 1 to 7 points,
    ``3 * (n - 7)`` points for 8 to 10.
    """
    x = np.asarray(x)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"smooth_curve: expected a non-empty 1-D sequence, got shape {x.shape}")
    before = x[1:_WINDOW][::-1]  # x[10], ..., x[1]
    after = x[::-1][:_WINDOW - 1]  # x[-1], ..., x[-10]
    padded = np.concatenate([before, x, after])
    weights = np.kaiser(_WINDOW, 2)
    smoothed = np.convolve(weights / weights.sum(), padded, mode="valid")
    half = _WINDOW // 2
    return smoothed[half:len(smoothed) - half]


def shuffle_dataset(x, t, *, seed=None, rng: Random | None = None):
    """``x`` and ``t`` in one random order of their first axis (copies).

    The order is ``permutation(len(x))`` drawn from ``rng``, a generator made from
    ``seed``, or, with neither, NumPy's global state (``np.random.permutation``, as the
    book's). ``x`` may have any number of axes (the book's takes 2 or 4).
    """
    x, t = np.asarray(x), np.asarray(t)
    if len(x) != len(t):
        raise ValueError(f"shuffle_dataset: {len(x)} inputs but {len(t)} labels")
    order = make_rng(seed, rng).permutation(len(x))
    return x[order], t[order]
