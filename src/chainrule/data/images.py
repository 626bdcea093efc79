"""Images kept as uint8 and normalized on access: a quarter of the memory of float32."""

from __future__ import annotations

import numpy as np


class ScaledImages:
    """``raw`` (uint8) read as ``dtype`` values in [0, 1]: ``images[key]`` converts just
    the rows asked for, with the same operations as ``load_mnist(normalize=True)``
    (``astype(dtype)`` then ``/= scale``), so the numbers are bit-identical.

    Supports what training and evaluation use: ``len``, ``shape``, ``dtype``,
    indexing by rows (integers, slices, index arrays) and ``np.asarray`` (everything).
    """

    def __init__(self, raw: np.ndarray, dtype=np.float32, scale: float = 255.0):
        self.raw = np.asarray(raw)
        self.dtype = np.dtype(dtype)
        self.scale = self.dtype.type(scale)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.raw.shape

    @property
    def ndim(self) -> int:
        return self.raw.ndim

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, key) -> np.ndarray:
        out = np.array(self.raw[key], dtype=self.dtype)
        out /= self.scale
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[...]
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"ScaledImages(shape={self.shape}, dtype={self.dtype}, scale={self.scale})"
