"""Finding a dataset's files, verifying them, downloading what is missing.

* **Finding** the four ``*-ubyte.gz`` files, in this order: the ``data_dir``
  argument; ``$CHAINRULE_DATA`` (one or more folders, ``os.pathsep``-separated,
  holding ``mnist/`` and ``fashion-mnist/`` or the four files directly); the user
  cache ``$XDG_CACHE_HOME/chainrule/<dataset>`` (else ``~/.cache/chainrule``); for
  Fashion-MNIST Debian's ``/usr/share/datasets/fashion-mnist``; then the download.
  Gunzipped copies (the same names without ``.gz``) are accepted too.
* **Verifying** every file found by size and SHA-256 against the catalog
  (:mod:`chainrule.data.catalog`). A file that fails raises ``ChecksumError`` and is
  never used; a file that is another dataset's (MNIST and Fashion-MNIST share file
  names) is skipped; an unreadable one is reported as such. Hashes are remembered in
  ``<cache>/hashes.json`` by path, size, inode, modification and change time
  (``ctime``, which no program can set back: any write to the file forgets its hash).
* **Downloading** into the user cache, from several mirrors in turn, each file
  checked before it is renamed into place (see :mod:`chainrule.data.download`).
  ``download=False`` or ``CHAINRULE_OFFLINE=1`` turns the network off;
  ``CHAINRULE_MIRRORS`` (whitespace- or comma-separated base URLs, ``{dataset}``
  replaced by the dataset's name) replaces the built-in mirror list.

Nothing is written inside the installed package.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from chainrule.data.catalog import DATASETS, DataFile, DatasetInfo, dataset_info
from chainrule.data.download import ChecksumError, DownloadError, fetch_file, sha256_file
from chainrule.store.files import atomic_open, read_json

# every official SHA-256 -> (dataset, file name), to recognise another dataset's file
_KNOWN = {h: (d.name, f.name) for d in DATASETS.values() for f in d.files
          for h in (f.sha256, f.raw_sha256)}


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are nowhere on disk and could not be downloaded."""


def file_dataset(name: str) -> DatasetInfo:
    """The dataset called ``name``, which must be one of files (not ``digits``)."""
    info = dataset_info(name)
    if not info.files:
        files = ", ".join(n for n, d in DATASETS.items() if d.files)
        raise ValueError(f"{name} is bundled with {info.source} and has no files to find or "
                         f"download (the datasets of files: {files})")
    return info


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
    info = file_dataset(name)
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


class HashMemo:
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
            write_best_effort(self.path, lambda f: f.write(data))


def write_best_effort(path: Path, write: Callable[[BinaryIO], object]) -> bool:
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
               memo: HashMemo) -> FileStatus:
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
    info = file_dataset(name)
    places = search_places(name, data_dir)
    memo = HashMemo()
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


def offline_reason(download: bool = True) -> str | None:
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
        mirrors = re.split(r"[\s,]+", env) if env else file_dataset(name).mirrors
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
    info = file_dataset(name)
    dest = Path(dest_dir) if dest_dir is not None else cache_dir() / name
    why = offline_reason(True)
    if why:
        raise DatasetNotFoundError(f"cannot download {info.title}: network off ({why})")
    memo = HashMemo()
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
    info = file_dataset(name)
    status = dataset_status(name, data_dir, verify=verify)
    for f in status.files:
        if f.error is not None:
            raise f.error
    missing = [f for f in status.files if f.state == "missing"]
    if not missing:
        return status.files
    why = offline_reason(download)
    failures: list[tuple[str, str]] = []
    failed = ""
    if why is None:
        memo = HashMemo()
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
