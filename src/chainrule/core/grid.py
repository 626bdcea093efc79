"""Stride-1 convolutions computed on the padded grid: the patches copied in long runs.

A ``FH x FW`` window moved by one over an image padded to ``Hp x Wp`` reads, for filter
tap ``(dy, dx)``, the pixels at ``(y + dy) * Wp + (x + dx)`` of the flat padded image.
Numbered by ``j = y * Wp + x`` instead of ``y * OW + x``, the positions of one tap are
one contiguous run of the flat image, ``[dy * Wp + dx, dy * Wp + dx + L)`` with
``L = (OH - 1) * Wp + OW``: the patches of a channel are ``FH * FW`` copies of one run
each, instead of ``FH * FW * OH`` copies of ``OW`` pixels (what made the patch copy
take three times the product in ``DeepConvNet``). The ``Wp - OW`` positions at the end
of each row but the last (windows that wrap into the next row) are computed and
dropped: ``(Wp - OW) / OW`` more columns in the product (7% on 28x28 images padded by
1, 25% on 8x8).

Images go a few at a time (:func:`per_piece`: their patches stay in a core's cache),
the patches of a piece laid side by side, ``(C * FH * FW, m, L)``, so that one product
with the ``(F, C * FH * FW)`` filters covers the whole piece. The pieces are fixed by
the shapes alone, never by the number of threads, so that each product, and each
partial sum of ``dW``, is the same on any number of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

CACHE_BYTES = 2 << 20
"""Bytes of patches per piece: what stays in a core's cache (1 to 2 MB on current x86)
between the copy that writes them and the product that reads them."""


@dataclass(frozen=True)
class Grid:
    """A stride-1 correlation of ``(C, H, W)`` images, padded by ``ph`` rows and ``pw``
    columns of zeros on each side, with ``FH x FW`` filters."""

    c: int
    h: int
    w: int
    fh: int
    fw: int
    ph: int
    pw: int

    @property
    def hp(self) -> int:
        return self.h + 2 * self.ph

    @property
    def wp(self) -> int:
        return self.w + 2 * self.pw

    @property
    def oh(self) -> int:
        return self.hp - self.fh + 1

    @property
    def ow(self) -> int:
        return self.wp - self.fw + 1

    @property
    def length(self) -> int:
        """``L``: the grid positions computed per image (the last row's tail left out)."""
        return (self.oh - 1) * self.wp + self.ow

    @property
    def k(self) -> int:
        """Terms per output: ``C * FH * FW``."""
        return self.c * self.fh * self.fw

    @property
    def padded(self) -> bool:
        return bool(self.ph or self.pw)

    def per_piece(self, rows: int, outputs: int, itemsize: int) -> int:
        """Images per piece when their patches have ``rows`` rows (``k``, or ``k + 1``
        with a row of ones) and the product ``outputs`` rows, of ``itemsize`` bytes."""
        return max(1, CACHE_BYTES // ((rows + outputs) * self.length * itemsize))


def pad_into(x: np.ndarray, flat: np.ndarray, g: Grid) -> None:
    """``flat`` ``(m, C, Hp * Wp)``: the images ``x`` ``(m, C, H, W)`` padded with zeros."""
    v = flat.reshape(len(x), g.c, g.hp, g.wp)
    ph, pw = g.ph, g.pw
    if ph:
        v[:, :, :ph] = 0
        v[:, :, g.hp - ph:] = 0
    if pw:
        v[:, :, ph:g.hp - ph, :pw] = 0
        v[:, :, ph:g.hp - ph, g.wp - pw:] = 0
    v[:, :, ph:ph + g.h, pw:pw + g.w] = x


def patches_into(flat: np.ndarray, g: Grid, cols: np.ndarray) -> None:
    """The first ``k`` rows of ``cols`` ``(rows, m, L)``: the patches of the padded images
    ``flat`` ``(m, C, Hp * Wp)``, row ``(c, dy, dx)``, column ``(image, grid position)``."""
    m, length, taps = len(flat), g.length, g.fh * g.fw
    by_tap = cols[:g.k].reshape(g.c, taps, m, length)
    for dy in range(g.fh):
        for dx in range(g.fw):
            start = dy * g.wp + dx
            np.copyto(by_tap[:, dy * g.fw + dx],
                      flat[:, :, start:start + length].transpose(1, 0, 2))


def product(weights: np.ndarray, cols: np.ndarray, g: Grid, out: np.ndarray) -> None:
    """``out`` ``(m, F, OH, OW)``: ``weights`` ``(F, rows)`` times the piece's patches
    ``cols`` ``(rows, m, L)``, the dropped grid positions left out."""
    rows, m, length = cols.shape
    f = len(weights)
    grid_out = np.empty(f * m * length, dtype=out.dtype)
    np.matmul(weights, cols.reshape(rows, m * length), out=grid_out.reshape(f, m * length))
    size = grid_out.itemsize
    np.copyto(out, as_strided(grid_out, (m, f, g.oh, g.ow),
                              (length * size, m * length * size, g.wp * size, size),
                              writeable=False))


def on_grid(d: np.ndarray, g: Grid) -> np.ndarray:
    """``(F, m * L)``: the gradient ``d`` ``(m, F, OH, OW)`` of a piece's outputs laid
    out as :func:`product` computes them, zeros at the dropped positions."""
    m, f = d.shape[:2]
    length = g.length
    grid = np.zeros((f, m * length), dtype=d.dtype)
    size = grid.itemsize
    np.copyto(as_strided(grid, (m, f, g.oh, g.ow),
                         (length * size, m * length * size, g.wp * size, size)), d)
    return grid
