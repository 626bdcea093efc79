"""Reading IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number ``00 00 TT DD`` (``TT`` the element type,
``DD`` the number of dimensions), ``DD`` big-endian uint32 sizes, then the
elements, big-endian, row-major. Files may be gzip-compressed.

The reader trusts nothing in the header: the byte count the header declares is
checked against the real (decompressed) size before any array is made, and a
``.gz`` file is never decompressed past that count, so a lying header cannot
cause a huge allocation.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IDXError", "IDX_TYPES", "idx_sha256", "read_idx"]

IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
"""IDX type code -> element dtype (big-endian as stored)."""

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 22  # decompress 4 MiB at a time
DEFAULT_MAX_BYTES = 1 << 32  # 4 GiB of elements; pass max_bytes=None to lift


class IDXError(ValueError):
    """An IDX file is malformed: bad magic number, dimensions, size or compression."""


def read_idx(path: str | os.PathLike, *, max_bytes: int | None = DEFAULT_MAX_BYTES) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a native-endian, writable array.

    Raises ``IDXError`` (a ``ValueError``) naming the file for a bad magic number, an
    unknown type code, zero dimensions, a size that differs from what the header
    declares, a declared size above ``max_bytes``, or a broken gzip stream.
    ``FileNotFoundError`` and other ``OSError``s from opening the file pass through.
    """
    path = Path(path)
    with open(path, "rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not compressed:
            return _read_stream(raw, path, os.fstat(raw.fileno()).st_size, max_bytes)
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                return _read_stream(gz, path, None, max_bytes)
        except (OSError, EOFError, zlib.error) as exc:
            raise IDXError(f"{path}: broken gzip data ({exc})") from exc


def _read_stream(f, path: Path, total: int | None, max_bytes: int | None) -> np.ndarray:
    """Parse header and body from ``f``; ``total`` is the stream size when known."""
    magic = _read_exact(f, 4, path, "magic number")
    if magic[:2] != b"\x00\x00":
        raise IDXError(
            f"{path}: not an IDX file (magic number 0x{magic.hex()}, "
            "expected 0x0000TTDD with TT the type code and DD the number of dimensions)"
        )
    code, ndim = magic[2], magic[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02x}" for c in IDX_TYPES)
        raise IDXError(f"{path}: unknown IDX type code 0x{code:02x} (known: {known})")
    if ndim == 0:
        raise IDXError(f"{path}: IDX header declares 0 dimensions")
    dtype = IDX_TYPES[code]
    dims = _read_exact(f, 4 * ndim, path, "dimensions")
    shape = tuple(int.from_bytes(dims[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
    nbytes = math.prod(shape) * dtype.itemsize
    header = 4 + 4 * ndim
    if max_bytes is not None and nbytes > max_bytes:
        raise IDXError(
            f"{path}: header declares shape {shape} of {dtype.name}, {nbytes} bytes, "
            f"more than the limit of {max_bytes} bytes (pass max_bytes=None to lift it)"
        )
    if total is not None and total != header + nbytes:
        raise IDXError(
            f"{path}: header declares shape {shape} of {dtype.name}, so the file should "
            f"have {header + nbytes} bytes, but it has {total}"
        )
    data = _read_body(f, nbytes, path, shape, dtype)
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def _read_exact(f, n: int, path: Path, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise IDXError(f"{path}: file ends inside the IDX header ({what})")
    return data


def _read_body(f, nbytes: int, path: Path, shape: tuple, dtype: np.dtype) -> bytearray:
    """Read exactly ``nbytes`` in bounded chunks, then check nothing follows."""
    data = bytearray()
    while len(data) < nbytes:
        chunk = f.read(min(_CHUNK, nbytes - len(data)))
        if not chunk:
            raise IDXError(
                f"{path}: truncated: header declares shape {shape} of {dtype.name} "
                f"({nbytes} bytes of data) but only {len(data)} bytes follow the header"
            )
        data += chunk
    if f.read(1):
        raise IDXError(
            f"{path}: header declares shape {shape} of {dtype.name} ({nbytes} bytes of "
            "data) but more data follows"
        )
    return data


def idx_sha256(array: np.ndarray) -> str:
    """The hex SHA-256 of ``array`` written as an (uncompressed) IDX file: the checksum of
    the file it was read from, so a parsed array can be checked against the file's."""
    array = np.asarray(array)
    stored = {(d.kind, d.itemsize): (code, d) for code, d in IDX_TYPES.items()}
    key = (array.dtype.kind, array.dtype.itemsize)
    if key not in stored or array.ndim == 0:
        raise IDXError(f"no IDX encoding for a {array.ndim}-d array of {array.dtype}")
    code, dtype = stored[key]
    h = hashlib.sha256(bytes([0, 0, code, array.ndim]))
    h.update(b"".join(int(n).to_bytes(4, "big") for n in array.shape))
    body = array if array.dtype == dtype else array.astype(dtype)
    h.update(memoryview(np.ascontiguousarray(body)).cast("B"))
    return h.hexdigest()
