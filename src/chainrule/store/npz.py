"""``.npz`` files without pickle: :func:`write_npz` writes one atomically; :func:`read_npz`
reads one from a stranger, sizes checked before anything is allocated.

``np.load`` trusts the file: an entry that inflates to gigabytes, a header that
declares a huge shape or a zip directory of a million entries are all allocated before
anything can be checked. :func:`read_npz` reads the zip's end record and directory, then
every entry's ``.npy`` header (with NumPy's own ``read_magic`` and
``read_array_header_*``), and refuses the file before decompressing any data when an
entry count, an array or the total exceeds its :class:`Limits`, when a name is not one
the caller accepts, or when a dtype is not a plain number (or, for a 0-d text entry,
unicode). Then it reads exactly the bytes each header declares, which also checks each
entry's CRC. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.store.files import atomic_open

__all__ = ["Limits", "NpzError", "LIMITS", "read_npz", "write_npz", "json_array"]

_CHUNK = 1 << 22
_EOCD = b"PK\x05\x06"
_ZIP_STARTS = (b"PK\x03\x04", _EOCD)  # an entry's header; the end record of an empty zip
_NUMBER_KINDS = "biuf"  # bool, signed and unsigned integers, floats: nothing else


class NpzError(ValueError):
    """A file that is not an ``.npz`` within the limits (the message names the file)."""


@dataclass(frozen=True)
class Limits:
    """How much of an ``.npz`` file is read. The defaults are generous for chainrule's
    own files (the book's network is 0.3 MB, a 784-4096-4096-4096-10 one 150 MB)."""

    entries: int = 4096
    """Entries in the zip directory."""
    array_bytes: int = 1 << 29
    """One array, uncompressed (512 MiB)."""
    total_bytes: int = 1 << 30
    """All arrays read from one file, uncompressed (1 GiB)."""
    text_bytes: int = 1 << 22
    """One 0-d unicode (JSON) entry, as stored: 4 bytes a character (4 MiB)."""


LIMITS = Limits()


@dataclass(frozen=True)
class _Entry:
    key: str
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    fortran: bool
    dtype: np.dtype
    offset: int  # bytes before the data: magic and header

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def read_npz(path: str | os.PathLike, *, accept: Callable[[str], bool],
             read: Callable[[str], bool] = lambda key: True, limits: Limits = LIMITS,
             kind: str = "file of this format",
             check: Callable[[dict[str, np.ndarray], dict[str, tuple[int, ...]]], None]
             | None = None) -> dict[str, np.ndarray]:
    """The arrays of ``path`` whose keys pass ``read`` (all by default), native-endian
    and C-ordered. Every key must pass ``accept`` (else: "not a ``kind``"). ``check``,
    if given, is called with the text entries to read (0-d, small: read first) and the
    shape of every entry to read, before any other array is read: it raises to refuse
    the file (so that sizes that follow from the text, such as a history no longer than
    its run, are checked before the arrays are allocated). Raises :class:`NpzError`
    (one line naming the file) for anything outside the limits or the format, and
    ``FileNotFoundError`` for a missing file."""
    path = Path(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block open()
            raise NpzError(f"{path}: not a regular file")
        with open(path, "rb") as f:
            if f.read(4) not in _ZIP_STARTS:  # np.load would say "pickled data"
                raise NpzError(f"{path}: not an .npz file (an .npz is a zip archive of .npy "
                               "arrays; this file is not one)")
            _check_directory(f, os.fstat(f.fileno()).st_size, path, limits)
            with zipfile.ZipFile(f) as zf:
                entries = [_header(zf, info, path, limits) for info in _infos(zf, path,
                                                                              limits)]
                for e in entries:
                    if not accept(e.key):
                        raise NpzError(f"{path}: not a {kind} (unexpected entry {e.key!r})")
                wanted = [e for e in entries if read(e.key)]
                total = sum(e.nbytes for e in wanted)
                if total > limits.total_bytes:
                    raise NpzError(f"{path}: its arrays hold {total} bytes, more than the "
                                   f"limit of {limits.total_bytes}")
                texts = {e.key: _data(zf, e, path) for e in wanted if e.dtype.kind == "U"}
                if check is not None:
                    check(dict(texts), {e.key: e.shape for e in wanted})
                return {e.key: texts[e.key] if e.key in texts else _data(zf, e, path)
                        for e in wanted}
    except FileNotFoundError:
        raise
    except NpzError:
        raise
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError, OverflowError,
            NotImplementedError, RuntimeError, struct.error, zipfile.BadZipFile,
            zipfile.LargeZipFile) as exc:  # what a crafted zip can make zipfile raise
        raise NpzError(f"{path}: not a readable .npz file ({type(exc).__name__}: "
                       f"{exc})") from None


def _check_directory(f, size: int, path: Path, limits: Limits) -> None:
    """Refuse a zip whose end record announces more entries or directory than allowed."""
    tail = min(size, 22 + 0xFFFF)
    f.seek(size - tail)
    data = f.read(tail)
    at = data.rfind(_EOCD)
    if at < 0 or len(data) - at < 22:
        raise NpzError(f"{path}: not a readable .npz file (no zip directory)")
    _, _, _, _, entries, directory, _, _ = struct.unpack("<4s4H2LH", data[at:at + 22])
    if entries > limits.entries or directory > limits.entries * 1024:
        raise NpzError(f"{path}: its zip directory lists {entries} entries in {directory} "
                       f"bytes, more than the limit of {limits.entries} entries")
    f.seek(0)


def _infos(zf: zipfile.ZipFile, path: Path, limits: Limits) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > limits.entries:
        raise NpzError(f"{path}: {len(infos)} entries, more than the limit of {limits.entries}")
    seen = set()
    for info in infos:
        if not info.filename.endswith(".npy") or info.is_dir():
            raise NpzError(f"{path}: entry {info.filename!r} is not an .npy array")
        if info.filename in seen:
            raise NpzError(f"{path}: entry {info.filename!r} appears twice")
        seen.add(info.filename)
    return infos


def _header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, limits: Limits) -> _Entry:
    """An entry's ``.npy`` header, checked; no data is read."""
    key = info.filename[:-4]
    where = f"{path}: entry {key!r}"
    fmt = np.lib.format
    with zf.open(info) as fp:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(fp)
        else:
            raise NpzError(f"{where}: .npy format version {version} is not read here")
        offset = fp.tell()
    dtype = np.dtype(dtype)
    text = dtype.kind == "U"
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or not (
            dtype.kind in _NUMBER_KINDS or text):
        raise NpzError(f"{where} has dtype {dtype}; only plain numbers (and text) are read")
    if any(d < 0 for d in shape):
        raise NpzError(f"{where} declares shape {tuple(shape)}: a negative size")
    if text and shape != ():
        raise NpzError(f"{where}: text entries must be single strings, got shape {shape}")
    entry = _Entry(key, info, tuple(shape), bool(fortran), dtype, offset)
    limit = limits.text_bytes if text else limits.array_bytes
    if entry.nbytes > limit:
        raise NpzError(f"{where} declares shape {entry.shape} of {dtype}, {entry.nbytes} "
                       f"bytes, more than the limit of {limit}")
    if info.file_size != offset + entry.nbytes:
        raise NpzError(f"{where}: {info.file_size} bytes in the zip, but its header "
                       f"declares {offset + entry.nbytes}")
    return entry


def _data(zf: zipfile.ZipFile, e: _Entry, path: Path) -> np.ndarray:
    """Exactly the bytes the header declares (the CRC is checked at the end of the entry)."""
    out = np.empty(math.prod(e.shape), dtype=e.dtype)
    buf = memoryview(out.view(np.uint8)) if out.size else memoryview(b"")
    with zf.open(e.info) as fp:
        fp.read(e.offset)
        done = 0
        while done < e.nbytes:
            chunk = fp.read(min(_CHUNK, e.nbytes - done))
            if not chunk:
                raise NpzError(f"{path}: entry {e.key!r} is truncated")
            buf[done:done + len(chunk)] = chunk
            done += len(chunk)
        if fp.read(1):
            raise NpzError(f"{path}: entry {e.key!r} has data past its declared shape")
    array = out.reshape(e.shape[::-1]).T if e.fortran else out.reshape(e.shape)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return array if array.flags.c_contiguous else array.copy(order="C")


def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Save ``arrays`` uncompressed to ``path`` atomically (no object arrays allowed)."""
    for key, a in arrays.items():
        if np.asarray(a).dtype == object:
            raise TypeError(f"write_npz: {key!r} is an object array; it would need pickle")
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)


def json_array(obj: Any) -> np.ndarray:
    """``obj`` as JSON text in a 0-d unicode array: storable in an npz without pickle."""
    return np.array(json.dumps(obj))
