"""Fetching one file of known size and SHA-256 from a list of mirrors, atomically.

Each address is tried in turn, with a timeout; the body is streamed into a hidden
temporary file beside the destination, hashed on the way, and renamed onto the
destination only when its size and SHA-256 are right. Any failure (HTTP error,
refused connection, timeout, short or oversized body, wrong checksum) moves on to
the next address, and no partial or wrong file is ever left at the destination.
urllib only (imported on first download); the progress bar uses tqdm when it is installed.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from chainrule.files import atomic_open

__all__ = ["ChecksumError", "DownloadError", "fetch_file", "sha256_file"]

TIMEOUT = 30.0
"""Seconds a connection may stay silent before the mirror is given up."""
USER_AGENT = "chainrule-data/0.1 (+https://pypi.org/project/chainrule/)"
_CHUNK = 1 << 16


class ChecksumError(ValueError):
    """A file's size or SHA-256 is not the expected one; the file was not used."""

    def __init__(self, path: str | os.PathLike, expected: str, actual: str, hint: str = ""):
        self.path, self.expected, self.actual = Path(path), expected, actual
        super().__init__(
            f"{path}: checksum mismatch, the file is truncated, corrupted or not the "
            f"expected file and was not used.\n  expected SHA-256: {expected}\n"
            f"  actual SHA-256:   {actual}" + (f"\n{hint}" if hint else "")
        )


class DownloadError(OSError):
    """Every address failed; ``failures`` lists ``(url, reason)`` for each."""

    def __init__(self, name: str, failures: list[tuple[str, str]]):
        self.failures = failures
        tried = "\n".join(f"  - {url}: {why}" for url, why in failures) or "  (no address)"
        super().__init__(f"could not download {name}; addresses tried:\n{tried}")


def sha256_file(path: str | os.PathLike) -> str:
    """The hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_file(
    urls: Iterable[str],
    dest: str | os.PathLike,
    *,
    size: int,
    sha256: str,
    timeout: float = TIMEOUT,
    progress: bool | None = None,
) -> Path:
    """Download ``dest`` from the first of ``urls`` that serves the right bytes.

    ``progress``: True shows a tqdm bar on stderr, False hides it, None shows it only
    when stderr is a terminal. Raises ``DownloadError`` listing every address tried
    and why it failed; creates ``dest``'s folder if needed.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures: list[tuple[str, str]] = []
    for url in urls:
        reason = _try_one(url, dest, size, sha256, timeout, progress)
        if reason is None:
            return dest
        failures.append((url, reason))
    raise DownloadError(dest.name, failures)


def _try_one(url: str, dest: Path, size: int, sha256: str, timeout: float,
             progress: bool | None) -> str | None:
    """Fetch ``url`` into ``dest``; return None on success, else why it failed."""
    try:
        with atomic_open(dest, suffix=".part") as out:
            reason = _stream(url, out, dest.name, size, sha256, timeout, progress)
            if reason is not None:
                raise _Rejected(reason)  # atomic_open removes the .part file
    except _Rejected as exc:
        return str(exc)
    return None


class _Rejected(Exception):
    """A download that must not replace ``dest`` (wrong size, checksum, HTTP error)."""


def _stream(url, out, name, size, sha256, timeout, progress) -> str | None:
    import http.client  # imported here so that `import chainrule` stays light
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    h = hashlib.sha256()
    got = 0
    bar = _progress_bar(name, size, progress)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            announced = response.headers.get("Content-Length")
            if announced is not None and announced.isdigit() and int(announced) != size:
                return f"server announced {announced} bytes, expected {size}"
            while block := response.read(_CHUNK):
                got += len(block)
                if got > size:
                    return f"server sent more than the expected {size} bytes"
                h.update(block)
                out.write(block)
                bar.update(len(block))
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        return f"{type(exc.reason).__name__}: {exc.reason}"
    except TimeoutError:
        return f"timed out (no data for {timeout:g} s)"
    except (OSError, ValueError, http.client.HTTPException) as exc:  # resets, IncompleteRead
        return f"{type(exc).__name__}: {exc}"
    finally:
        bar.close()
    if got != size:
        return f"incomplete: got {got} bytes, expected {size}"
    if h.hexdigest() != sha256:
        return f"SHA-256 mismatch: expected {sha256}, got {h.hexdigest()}"
    return None


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(name: str, size: int, progress: bool | None):
    if progress is False:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return _NoBar()
    return tqdm(total=size, desc=name, unit="B", unit_scale=True, unit_divisor=1024,
                file=sys.stderr, leave=False, disable=None if progress is None else False)
