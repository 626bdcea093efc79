"""The datasets as arrays: the book's :func:`load_mnist`, and :func:`load_data` for training.

* **Caching** the parsed arrays as ``<cache>/arrays/<sha256 of source>.npy``, loaded
  memory-mapped with ``allow_pickle=False``; the source folder may be read-only. A
  cached array is used only if its IDX encoding has the official SHA-256 of the
  uncompressed file (for ``verify=False`` files: the one recorded beside it, in
  ``<sha256>.json``), checked at every load while the arrays are being converted;
  otherwise the source is parsed again, and that parse is checked the same way before
  it is cached, so a file changed after it was verified is refused, not cached.

Nothing is pickled. Where the files come from: :mod:`chainrule.data.locate`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import DTypeLike

from chainrule.data.catalog import DIGITS_SEED, DIGITS_TEST_FRACTION, class_names, pixel_max
from chainrule.data.download import ChecksumError
from chainrule.data.idx import IDXError, idx_sha256, read_idx
from chainrule.data.images import ScaledImages
from chainrule.data.locate import (
    FileStatus,
    HashMemo,
    cache_dir,
    file_dataset,
    locate,
    write_best_effort,
)
from chainrule.store.files import read_json


@dataclass
class _Source:
    """One found file and what its parsed array must hash to (see the module docstring)."""

    status: FileStatus
    official: str | None  # the table's SHA-256 of the uncompressed file, when verified
    images: bool

    @property
    def npy(self) -> Path:
        return cache_dir() / "arrays" / f"{self.status.sha256}.npy"

    @property
    def sidecar(self) -> Path:
        return self.npy.with_suffix(".json")

    def cached(self) -> tuple[np.ndarray, str] | None:
        """The cached array (memory-mapped, not yet checked) and the IDX SHA-256 it must
        have; None when there is no usable cache."""
        expected = self.official
        if expected is None:
            try:
                expected = read_json(self.sidecar, max_bytes=4096, max_depth=1,
                                     expect=dict).get("idx_sha256")
            except (OSError, ValueError):
                return None
            if not isinstance(expected, str):
                return None
        try:
            arr = np.load(self.npy, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if arr.dtype != np.uint8 or arr.ndim != (3 if self.images else 1):
            return None
        return arr, expected

    def parse(self) -> np.ndarray:
        """The source file parsed, checked against the official checksum, and cached."""
        path = self.status.path
        assert path is not None
        arr = read_idx(path)
        if arr.dtype != np.uint8 or arr.ndim != (3 if self.images else 1):
            kind = "images (N, rows, cols)" if self.images else "labels (N,)"
            raise IDXError(f"{path}: expected {kind} as uint8, got shape {arr.shape} "
                           f"of {arr.dtype}")
        digest = idx_sha256(arr)
        if self.official is not None and digest != self.official:
            memo = HashMemo()  # the remembered hash was stale: forget it
            memo.forget(path)
            memo.save()
            raise ChecksumError(path, self.official, digest, hint=(
                "  (SHA-256 of the uncompressed content) The file changed after it was "
                "verified and was not used; replace it with a good copy."))
        if write_best_effort(self.npy, lambda f: np.save(f, arr, allow_pickle=False)) \
                and self.official is None:
            data = json.dumps({"idx_sha256": digest}).encode()
            write_best_effort(self.sidecar, lambda f: f.write(data))
        return arr


def _checked_arrays(sources: list[_Source], use: Callable[[list[np.ndarray]], object]):
    """``use(arrays)`` on the four arrays, cached ones checked in a second thread while
    ``use`` runs; any that fails its check is parsed again and ``use`` repeated."""
    arrays, pending = [], {}
    for i, source in enumerate(sources):
        hit = source.cached()
        if hit is None:
            arrays.append(source.parse())
        else:
            arrays.append(hit[0])
            pending[i] = hit[1]
    digests: dict[int, str] = {}

    def check() -> None:
        for i in pending:
            digests[i] = idx_sha256(arrays[i])

    checker = threading.Thread(target=check, name="chainrule-cache-check", daemon=True)
    checker.start()
    try:
        result, error = use(arrays), None
    except ValueError as exc:  # e.g. a label out of range: from a bad cache?
        result, error = None, exc
    finally:
        checker.join()
    bad = [i for i, expected in pending.items() if digests.get(i) != expected]
    if not bad:
        if error is not None:
            raise error
        return result
    for i in bad:
        arrays[i] = sources[i].parse()
    return use(arrays)


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 1797 8x8 digits (0..16) split 80/20 with a fixed seed."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError("dataset='digits' needs scikit-learn: "
                          "pip install 'chainrule[digits]'") from exc
    bunch = load_digits()
    x = bunch.images.astype(np.uint8)
    t = bunch.target.astype(np.uint8)
    order = np.random.default_rng(DIGITS_SEED).permutation(len(t))
    n_test = round(len(t) * DIGITS_TEST_FRACTION)
    test, train = order[:n_test], order[n_test:]
    return x[train], t[train], x[test], t[test]


def _format(x: np.ndarray, t: np.ndarray, normalize: bool, flatten: bool, one_hot: bool,
            dtype: np.dtype, scale: float, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Fresh, writable arrays as the book returns them (plain ndarrays, never memmaps)."""
    x, t = np.asarray(x), np.asarray(t)  # a memmap's astype() would still be a memmap
    n = len(x)
    if len(t) != n:
        raise ValueError(f"{n} images but {len(t)} labels")
    if normalize:
        images = x.astype(dtype)
        images /= dtype.type(scale)
    else:
        images = np.array(x, dtype=np.uint8)
    images = images.reshape(n, -1) if flatten else images.reshape(n, 1, *x.shape[1:])
    labels = np.array(t, dtype=np.int64)
    if one_hot:
        if n and labels.max() >= num_classes:
            raise ValueError(f"label {labels.max()} out of range for {num_classes} classes")
        onehot = np.zeros((n, num_classes), dtype=dtype)
        onehot[np.arange(n), labels] = 1
        labels = onehot
    return images, labels


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    dataset: str = "mnist",
    data_dir: str | os.PathLike | None = None,
    dtype: DTypeLike = np.float32,
    download: bool = True,
    verify: bool = True,
    progress: bool | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST (or ``dataset="fashion-mnist"`` or ``"digits"``) the book's way.

    Returns ``((x_train, t_train), (x_test, t_test))``: 60000 and 10000 images for
    MNIST and Fashion-MNIST, 1438 and 359 for digits.

    ``normalize``: images as ``dtype`` in [0, 1], else uint8 0..255 (digits: 0..16).
    ``flatten``: images as ``(N, 784)``, else ``(N, 1, 28, 28)``.
    ``one_hot_label``: labels as ``(N, 10)`` in ``dtype``, else int64 class indices.
    ``data_dir`` is searched first; see the module docstring for the rest of the search,
    the download (``download``, ``progress``) and ``verify=False`` for custom IDX files.
    Raises ``DatasetNotFoundError`` (listing every place and address tried),
    ``ChecksumError`` for a bad file on disk, ``IDXError`` for a malformed one.
    """
    dtype = np.dtype(dtype)
    if normalize or one_hot_label:
        if not np.issubdtype(dtype, np.floating):
            raise ValueError(f"dtype must be a floating type, got {dtype}")
    scale = pixel_max(dataset)
    k = len(class_names(dataset))

    def formatted(arrays):
        x, t, xt, tt = arrays
        return (_format(x, t, normalize, flatten, one_hot_label, dtype, scale, k),
                _format(xt, tt, normalize, flatten, one_hot_label, dtype, scale, k))

    if dataset == "digits":
        return formatted(_digits())
    files = locate(dataset, data_dir, download=download, verify=verify, progress=progress)
    specs = file_dataset(dataset).files
    return _checked_arrays([_Source(f, (spec.raw_sha256 or None) if f.state == "verified" else None,
                                    images=i % 2 == 0)
                            for i, (f, spec) in enumerate(zip(files, specs, strict=True))],
                           formatted)


class Data(NamedTuple):
    """Training and test arrays: flat inputs, class-index (or one-hot) labels."""

    x_train: np.ndarray
    t_train: np.ndarray
    x_test: np.ndarray | None = None
    t_test: np.ndarray | None = None


def load_data(dataset: str = "mnist", data_dir=None, dtype="float32", *,
              download: bool = True) -> Data:
    """``load_mnist`` flat, with images normalized to ``dtype`` as they are read.

    The images stay uint8 in memory (:class:`ScaledImages`): 47 MB for MNIST's training
    set instead of 188 MB in float32, with bit-identical batches.
    """
    (x, t), (xt, tt) = load_mnist(normalize=False, flatten=True, dataset=dataset,
                                  data_dir=data_dir, download=download)
    scale = pixel_max(dataset)
    return Data(ScaledImages(x, dtype, scale), t, ScaledImages(xt, dtype, scale), tt)


def num_classes(*labels: np.ndarray | None) -> int:
    """Number of classes seen in one-hot or index label arrays."""
    sizes = [t.shape[1] if t.ndim == 2 else int(t.max()) + 1
             for t in labels if t is not None and len(t)]
    return max(sizes, default=0)
