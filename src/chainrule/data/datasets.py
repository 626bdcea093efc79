"""MNIST, Fashion-MNIST and scikit-learn's digits, found, downloaded and verified.

``load_mnist`` is the book's loader with a loader's chores done properly:

* **Finding** the four ``*-ubyte.gz`` files, in this order: the ``data_dir``
  argument; ``$CHAINRULE_DATA`` (one or more folders, ``os.pathsep``-separated,
  holding ``mnist/`` and ``fashion-mnist/`` or the four files directly); the user
  cache ``$XDG_CACHE_HOME/chainrule/<dataset>`` (else ``~/.cache/chainrule``); for
  Fashion-MNIST Debian's ``/usr/share/datasets/fashion-mnist``; then the download.
  Gunzipped copies (the same names without ``.gz``) are accepted too.
* **Verifying** every file found by size and SHA-256 against the table below. A
  file that fails raises ``ChecksumError`` and is never used; a file that is another
  dataset's (MNIST and Fashion-MNIST share file names) is skipped; an unreadable
  one is reported as such. Hashes are remembered in ``<cache>/hashes.json`` by path,
  size, inode, modification and change time (``ctime``, which no program can set
  back: any write to the file forgets its hash).
* **Downloading** into the user cache, from several mirrors in turn, each file
  checked before it is renamed into place (see ``chainrule.data.download``).
  ``download=False`` or ``CHAINRULE_OFFLINE=1`` turns the network off;
  ``CHAINRULE_MIRRORS`` (whitespace- or comma-separated base URLs, ``{dataset}``
  replaced by the dataset's name) replaces the built-in mirror list.
* **Caching** the parsed arrays as ``<cache>/arrays/<sha256 of source>.npy``, loaded
  memory-mapped with ``allow_pickle=False``; the source folder may be read-only. A
  cached array is used only if its IDX encoding has the official SHA-256 of the
  uncompressed file (for ``verify=False`` files: the one recorded beside it, in
  ``<sha256>.json``), checked at every load while the arrays are being converted;
  otherwise the source is parsed again, and that parse is checked the same way before
  it is cached, so a file changed after it was verified is refused, not cached.

Nothing is pickled and nothing is written inside the installed package.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.typing import DTypeLike

from chainrule.data.download import (
    ChecksumError,
    DownloadError,
    fetch_file,
    sha256_file,
)
from chainrule.data.idx import IDXError, idx_sha256, read_idx
from chainrule.store.files import atomic_open, read_json

__all__ = [
    "load_mnist", "read_idx", "class_names", "dataset_status", "fetch_dataset", "locate",
    "cache_dir", "search_places", "mirror_urls",
    "DATASETS", "DATASET_NAMES", "DatasetInfo", "DataFile", "DatasetStatus", "FileStatus",
    "Place", "ChecksumError", "DatasetNotFoundError", "DownloadError", "IDXError",
]


@dataclass(frozen=True)
class DataFile:
    """One official file: its name, size and SHA-256, gzipped and gunzipped."""

    name: str
    size: int
    sha256: str
    raw_size: int
    raw_sha256: str

    @property
    def raw_name(self) -> str:
        return self.name.removesuffix(".gz")


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset of four IDX files: train images, train labels, test images, test labels."""

    name: str
    title: str
    files: tuple[DataFile, DataFile, DataFile, DataFile]
    mirrors: tuple[str, ...]
    class_names: tuple[str, ...]
    system_dirs: tuple[str, ...] = ()
    license: str = ""


DIGITS = tuple(str(d) for d in range(10))
FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        "mnist", "MNIST",
        (
            DataFile("train-images-idx3-ubyte.gz", 9912422,
                     "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                     47040016,
                     "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
            DataFile("train-labels-idx1-ubyte.gz", 28881,
                     "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                     60008,
                     "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
            DataFile("t10k-images-idx3-ubyte.gz", 1648877,
                     "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                     7840016,
                     "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
            DataFile("t10k-labels-idx1-ubyte.gz", 4542,
                     "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                     10008,
                     "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
        ),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        class_names=DIGITS,
        license="CC BY-SA 3.0, Yann LeCun, Corinna Cortes, Christopher J.C. Burges",
    ),
    "fashion-mnist": DatasetInfo(
        "fashion-mnist", "Fashion-MNIST",
        (
            DataFile("train-images-idx3-ubyte.gz", 26421880,
                     "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                     47040016,
                     "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
            DataFile("train-labels-idx1-ubyte.gz", 29515,
                     "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                     60008,
                     "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
            DataFile("t10k-images-idx3-ubyte.gz", 4422102,
                     "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                     7840016,
                     "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
            DataFile("t10k-labels-idx1-ubyte.gz", 5148,
                     "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                     10008,
                     "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
        ),
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        class_names=FASHION,
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        license="MIT, Copyright (c) 2017 Zalando SE",
    ),
}
"""The file-backed datasets. ``"digits"`` (scikit-learn's bundled 8x8 digits) is the third."""

DATASET_NAMES = (*DATASETS, "digits")
DIGITS_SEED = 0
DIGITS_TEST_FRACTION = 0.2

# every official SHA-256 -> (dataset, file name), to recognise another dataset's file
_KNOWN = {h: (d.name, f.name) for d in DATASETS.values() for f in d.files
          for h in (f.sha256, f.raw_sha256)}


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are nowhere on disk and could not be downloaded."""


def class_names(dataset: str = "mnist") -> tuple[str, ...]:
    """The names of the ten classes, indexed by label."""
    return DIGITS if dataset == "digits" else _info(dataset).class_names


def _info(name: str) -> DatasetInfo:
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")
    return DATASETS[name]


# ---------------------------------------------------------------- where to look


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/chainrule``, else ``~/.cache/chainrule`` (not created here)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: relative values are ignored
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "chainrule"


@dataclass(frozen=True)
class Place:
    """A folder searched for a dataset's files, and why it was searched."""

    label: str
    path: Path

    def __str__(self) -> str:
        return f"{self.path} ({self.label})"


def search_places(name: str, data_dir: str | os.PathLike | None = None) -> list[Place]:
    """The folders searched for ``name``'s files, in order."""
    info = _info(name)
    places: list[Place] = []
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(f"data_dir must be a folder path (str or os.PathLike), got "
                        f"{type(data_dir).__name__} {data_dir!r}")
    roots = [("data_dir argument", data_dir)] if data_dir is not None else []
    env = os.environ.get("CHAINRULE_DATA", "")
    roots += [("CHAINRULE_DATA", p) for p in env.split(os.pathsep) if p]
    for label, root in roots:
        root = Path(root).expanduser()
        places += [Place(label, root / name), Place(label, root)]
    places.append(Place("user cache", cache_dir() / name))
    places += [Place("Debian package", Path(d)) for d in info.system_dirs]
    return places


# ---------------------------------------------------------------- verifying


def _identity(st: os.stat_result) -> dict[str, int]:
    """What changes whenever a file's content may have: ``st_ctime_ns`` is set by the
    kernel on every write or ``utime``, and no program can set it back."""
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns,
            "ino": st.st_ino, "dev": st.st_dev}


class _HashMemo:
    """SHA-256 of files, remembered by resolved path and :func:`_identity` in a JSON file."""

    MAX_BYTES = 1 << 22

    def __init__(self) -> None:
        self.path = cache_dir() / "hashes.json"
        self.dirty = False
        try:
            self.entries = read_json(self.path, max_bytes=self.MAX_BYTES, max_depth=2,
                                     expect=dict)
        except (OSError, ValueError):
            self.entries = {}

    def sha256(self, file: Path) -> str:
        entry = self.entries.get(str(file.resolve()))
        now = _identity(file.stat())
        if (isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
                and all(entry.get(k) == v for k, v in now.items())):
            return entry["sha256"]
        return self.remember(file, sha256_file(file))

    def remember(self, file: Path, digest: str) -> str:
        key = str(file.resolve())
        self.entries[key] = {**_identity(file.stat()), "sha256": digest}
        self.dirty = True
        return digest

    def forget(self, file: Path) -> None:
        if self.entries.pop(str(file.resolve()), None) is not None:
            self.dirty = True

    def save(self) -> None:
        if self.dirty:
            live = {k: v for k, v in self.entries.items() if os.path.isfile(k)}
            data = json.dumps(live, indent=1).encode()
            _write_atomic(self.path, lambda f: f.write(data))


def _write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> bool:
    """Best effort: ``write(file)`` atomically onto ``path``; False if it cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path) as f:
            write(f)
        return True
    except OSError:
        return False


@dataclass
class FileStatus:
    """What the search found for one file. ``state``: verified, unverified, corrupt,
    unreadable (``error`` says why for these two), missing."""

    name: str
    state: str = "missing"
    path: Path | None = None
    sha256: str | None = None
    place: Place | None = None
    error: ChecksumError | OSError | None = None
    notes: list[str] = field(default_factory=list)


def _find_file(info: DatasetInfo, file: DataFile, places: Sequence[Place], verify: bool,
               memo: _HashMemo) -> FileStatus:
    """Search ``places`` in order; stop at the first usable or corrupt copy."""
    status = FileStatus(file.name)
    for place in places:
        for cand, size, sha in ((place.path / file.name, file.size, file.sha256),
                                (place.path / file.raw_name, file.raw_size, file.raw_sha256)):
            if not cand.is_file():
                continue
            status.path, status.place = cand, place
            try:
                actual = memo.sha256(cand)
            except OSError as exc:
                status.state = "unreadable"
                status.error = OSError(f"{cand}: cannot be read ({exc.strerror or exc}); "
                                       "fix its permissions or move it away")
                return status
            status.sha256 = actual
            if not verify:
                status.state = "unverified"
                return status
            if actual == sha:
                status.state = "verified"
                return status
            other = _KNOWN.get(actual)
            if other is not None and other[0] != info.name:
                status.notes.append(f"{cand} is {other[0]}'s {other[1]}, skipped")
                continue
            found_size = cand.stat().st_size
            status.state = "corrupt"
            status.error = ChecksumError(cand, sha, actual, hint=(
                f"  expected size:    {size} bytes\n  actual size:      {found_size} bytes\n"
                f"Delete or replace it (`chainrule data fetch {info.name}` downloads a good "
                f"copy into {cache_dir() / info.name}), or pass verify=False for custom files."))
            return status
    status.path = status.sha256 = status.place = None
    return status


@dataclass
class DatasetStatus:
    """Where a dataset's files were found and whether they verified."""

    name: str
    files: list[FileStatus]
    places: list[Place]
    detail: str = ""

    @property
    def found(self) -> bool:
        return bool(self.files) and all(f.state in ("verified", "unverified") for f in self.files)

    @property
    def verified(self) -> bool:
        return bool(self.files) and all(f.state == "verified" for f in self.files)

    @property
    def folders(self) -> list[Place]:
        """The distinct places the found files are in."""
        return list(dict.fromkeys(f.place for f in self.files if f.place is not None))


def dataset_status(name: str, data_dir: str | os.PathLike | None = None, *,
                   verify: bool = True) -> DatasetStatus:
    """Search for ``name``'s files without downloading or raising for corrupt files."""
    if name == "digits":
        return _digits_status()
    info = _info(name)
    places = search_places(name, data_dir)
    memo = _HashMemo()
    files = [_find_file(info, f, places, verify, memo) for f in info.files]
    memo.save()
    return DatasetStatus(name, files, places)


def _digits_status() -> DatasetStatus:
    from importlib.metadata import PackageNotFoundError, version
    from importlib.util import find_spec

    try:
        found = find_spec("sklearn") is not None
        ver = version("scikit-learn")
    except (ImportError, ValueError, PackageNotFoundError):
        found = False
    if not found:
        detail = "needs scikit-learn: pip install 'chainrule[digits]'"
        return DatasetStatus("digits", [], [], detail)
    return DatasetStatus("digits", [FileStatus("bundled", "verified")], [],
                         f"bundled with scikit-learn {ver}: 1797 8x8 images")


# ---------------------------------------------------------------- downloading


def _offline(download: bool) -> str | None:
    """Why the network is off, or None when downloading is allowed."""
    if not download:
        return "download=False"
    if os.environ.get("CHAINRULE_OFFLINE", "").strip().lower() not in ("", "0", "false", "no"):
        return f"CHAINRULE_OFFLINE={os.environ['CHAINRULE_OFFLINE']}"
    return None


def mirror_urls(name: str, filename: str, mirrors: Sequence[str] | None = None) -> list[str]:
    """The addresses tried for one file: ``mirrors``, else ``$CHAINRULE_MIRRORS``, else built-in."""
    if mirrors is None:
        env = os.environ.get("CHAINRULE_MIRRORS", "").strip()
        mirrors = re.split(r"[\s,]+", env) if env else _info(name).mirrors
    bases = [m.replace("{dataset}", name) for m in mirrors if m]
    return [b + ("" if b.endswith("/") else "/") + filename for b in bases]


def fetch_dataset(name: str, dest_dir: str | os.PathLike | None = None, *,
                  mirrors: Sequence[str] | None = None, progress: bool | None = None,
                  timeout: float | None = None, deadline: float | None = None) -> list[Path]:
    """Download ``name``'s four files into ``dest_dir`` (default: the user cache).

    ``timeout`` (per read) and ``deadline`` (per file and address): see ``fetch_file``.
    Files already there and verified are kept; anything else there is replaced, but
    only by a complete, verified download. Raises ``DownloadError`` when a file
    cannot be had from any mirror, and ``DatasetNotFoundError`` when offline.
    """
    info = _info(name)
    dest = Path(dest_dir) if dest_dir is not None else cache_dir() / name
    why = _offline(True)
    if why:
        raise DatasetNotFoundError(f"cannot download {info.title}: network off ({why})")
    memo = _HashMemo()
    paths = []
    for f in info.files:
        target = dest / f.name
        if not (target.is_file() and memo.sha256(target) == f.sha256):
            kwargs = {} if timeout is None else {"timeout": timeout}
            fetch_file(mirror_urls(name, f.name, mirrors), target, size=f.size,
                       sha256=f.sha256, progress=progress, deadline=deadline, **kwargs)
        paths.append(target)
    memo.save()
    return paths


def locate(name: str, data_dir: str | os.PathLike | None = None, *, download: bool = True,
           verify: bool = True, progress: bool | None = None,
           mirrors: Sequence[str] | None = None) -> list[FileStatus]:
    """Find (or download) ``name``'s four files; raise if any is corrupt or unobtainable."""
    info = _info(name)
    status = dataset_status(name, data_dir, verify=verify)
    for f in status.files:
        if f.error is not None:
            raise f.error
    missing = [f for f in status.files if f.state == "missing"]
    if not missing:
        return status.files
    why = _offline(download)
    failures: list[tuple[str, str]] = []
    failed = ""
    if why is None:
        memo = _HashMemo()
        for f, spec in zip(status.files, info.files, strict=True):
            if f.state != "missing":
                continue
            target = cache_dir() / name / spec.name
            try:
                fetch_file(mirror_urls(name, spec.name, mirrors), target, size=spec.size,
                           sha256=spec.sha256, progress=progress)
            except (DownloadError, OSError) as exc:
                failures = getattr(exc, "failures", None) or [(str(target), str(exc))]
                failed = spec.name
                break
            f.state, f.path, f.sha256 = "verified", target, spec.sha256
            f.place = Place("downloaded", target.parent)
            memo.remember(target, spec.sha256)
        memo.save()
        missing = [f for f in status.files if f.state == "missing"]
        if not missing:
            return status.files
    raise DatasetNotFoundError(_not_found_message(info, status, missing, why, failed, failures))


def _not_found_message(info: DatasetInfo, status: DatasetStatus, missing: list[FileStatus],
                       offline: str | None, failed: str,
                       failures: list[tuple[str, str]]) -> str:
    lines = [f"{info.title} not found: missing {', '.join(f.name for f in missing)}.",
             "Looked in:"]
    for place in status.places:
        present = [f.name for f in status.files if f.place == place]
        state = ("no such folder" if not place.path.is_dir() else
                 f"has {', '.join(present)}" if present else "none of the files")
        lines.append(f"  - {place}: {state}")
    lines += [f"  - {note}" for f in status.files for note in f.notes]
    if offline:
        lines.append(f"Download: off ({offline}).")
    else:
        lines.append(f"Download of {failed} failed at every address:")
        lines += [f"  - {url}: {why}" for url, why in failures]
    lines.append(
        f"To place the files by hand, download them from any of "
        f"{', '.join(info.mirrors)} and put them in {cache_dir() / info.name} "
        f"(or in a folder named by data_dir= or CHAINRULE_DATA):")
    lines += [f"    {f.name}  {f.size} bytes  sha256 {f.sha256}" for f in info.files]
    lines.append('No network and no files? load_mnist(dataset="digits") needs neither '
                 "(scikit-learn's 8x8 digits: pip install 'chainrule[digits]').")
    return "\n".join(lines)


# ---------------------------------------------------------------- arrays


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
            memo = _HashMemo()  # the remembered hash was stale: forget it
            memo.forget(path)
            memo.save()
            raise ChecksumError(path, self.official, digest, hint=(
                "  (SHA-256 of the uncompressed content) The file changed after it was "
                "verified and was not used; replace it with a good copy."))
        if _write_atomic(self.npy, lambda f: np.save(f, arr, allow_pickle=False)) \
                and self.official is None:
            data = json.dumps({"idx_sha256": digest}).encode()
            _write_atomic(self.sidecar, lambda f: f.write(data))
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


def pixel_max(dataset: str = "mnist") -> float:
    """The largest raw pixel value: what ``normalize=True`` divides by."""
    if dataset == "digits":
        return 16.0
    _info(dataset)  # raises for an unknown name
    return 255.0


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
    specs = _info(dataset).files
    return _checked_arrays([_Source(f, (spec.raw_sha256 or None) if f.state == "verified" else None,
                                    images=i % 2 == 0)
                            for i, (f, spec) in enumerate(zip(files, specs, strict=True))],
                           formatted)
