"""Fetching one file of known size and SHA-256 from a list of mirrors, atomically.

Each address is tried in turn, with a timeout for every read and a deadline for the
whole file; the body is streamed into a hidden temporary file beside the destination
(``.NAME.XXXX.part``), hashed on the way, and renamed onto the destination only when
its size and SHA-256 are right. Any failure (HTTP error, refused connection, silence
longer than the timeout, a server too slow to finish by the deadline, short or oversized
body, wrong checksum) moves on to the next address, and no partial or wrong file is
ever left at the destination. The temporary file is removed on every error, on Ctrl-C
and on SIGTERM or SIGHUP (see ``chainrule.store.files.atomic_open``); one left by a process
that was killed outright is removed by the next download of that file, once stale.
urllib only (imported on first download); the progress bar uses tqdm when it is installed.
"""

from __future__ import annotations

import glob
import hashlib
import os
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from chainrule.store.files import atomic_open

__all__ = ["ChecksumError", "DownloadError", "fetch_file", "sha256_file"]

TIMEOUT = 30.0
"""Seconds a connection may stay silent before the mirror is given up."""
DEADLINE_BASE, DEADLINE_RATE = 60.0, 32 * 1024
"""The default deadline for one file from one address: ``DEADLINE_BASE`` seconds plus one
second per ``DEADLINE_RATE`` bytes (a server slower than about 32 KiB/s on average is
given up). ``$CHAINRULE_DOWNLOAD_DEADLINE`` (seconds) or ``deadline=`` replaces it."""
STALE_PART = 3600.0
"""A ``.part`` file untouched for this many seconds belongs to a download that died."""
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
    deadline: float | None = None,
    progress: bool | None = None,
) -> Path:
    """Download ``dest`` from the first of ``urls`` that serves the right bytes.

    ``timeout``: seconds any one read may wait. ``deadline``: seconds one address may
    take for the whole file (default: :func:`default_deadline`). ``progress``: True
    shows a tqdm bar on stderr, False hides it, None shows it only when stderr is a
    terminal. Raises ``DownloadError`` listing every address tried and why it failed;
    creates ``dest``'s folder if needed.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    deadline = default_deadline(size) if deadline is None else float(deadline)
    if not 0 < deadline < float("inf"):
        raise ValueError(f"deadline must be a positive number of seconds, got {deadline}")
    _remove_stale_parts(dest)
    failures: list[tuple[str, str]] = []
    for url in urls:
        reason = _try_one(url, dest, size, sha256, timeout, deadline, progress)
        if reason is None:
            return dest
        failures.append((url, reason))
    raise DownloadError(dest.name, failures)


def default_deadline(size: int) -> float:
    """``$CHAINRULE_DOWNLOAD_DEADLINE`` if set, else ``DEADLINE_BASE + size / DEADLINE_RATE``
    seconds (60 s plus 1 s per 32 KiB: 14 minutes for Fashion-MNIST's 26 MB file)."""
    env = os.environ.get("CHAINRULE_DOWNLOAD_DEADLINE", "").strip()
    if env:
        try:
            value = float(env)
        except ValueError:
            value = -1.0
        if not 0 < value < float("inf"):
            raise ValueError(f"CHAINRULE_DOWNLOAD_DEADLINE must be a positive number of "
                             f"seconds, got {env!r}")
        return value
    return DEADLINE_BASE + size / DEADLINE_RATE


def _remove_stale_parts(dest: Path) -> None:
    """Remove ``.part`` files of ``dest`` left by a download that was killed (SIGKILL)."""
    for part in glob.glob(os.path.join(glob.escape(str(dest.parent)),
                                       f".{glob.escape(dest.name)}.*.part")):
        try:
            if time.time() - os.stat(part).st_mtime > STALE_PART:
                os.unlink(part)
        except OSError:
            pass


def _try_one(url: str, dest: Path, size: int, sha256: str, timeout: float, deadline: float,
             progress: bool | None) -> str | None:
    """Fetch ``url`` into ``dest``; return None on success, else why it failed."""
    try:
        with atomic_open(dest, suffix=".part") as out:
            reason = _stream(url, out, dest.name, size, sha256, timeout, deadline, progress)
            if reason is not None:
                raise _Rejected(reason)  # atomic_open removes the .part file
    except _Rejected as exc:
        return str(exc)
    return None


class _Rejected(Exception):
    """A download that must not replace ``dest`` (wrong size, checksum, HTTP error)."""


class _Watchdog:
    """Shuts down every connection made through :func:`_opener` once ``deadline`` seconds
    have passed: a read that blocks (a server dripping a byte now and then, headers
    included) then returns at once."""

    def __init__(self, deadline: float):
        self.deadline, self.expired = deadline, False
        self._sockets: list = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(deadline, self.expire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()

    def watch(self, sock) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock) -> None:
    import socket

    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _opener(watchdog: _Watchdog):
    """A urllib opener whose HTTP(S) connections report their sockets to ``watchdog``."""
    import urllib.request

    def watched(conn_class):
        class Watched(conn_class):
            def connect(self):
                super().connect()
                watchdog.watch(self.sock)

        return Watched

    class HTTP(urllib.request.HTTPHandler):
        def do_open(self, http_class, req, **kwargs):
            return super().do_open(watched(http_class), req, **kwargs)

    handlers = [HTTP]
    if hasattr(urllib.request, "HTTPSHandler"):
        class HTTPS(urllib.request.HTTPSHandler):
            def do_open(self, http_class, req, **kwargs):
                return super().do_open(watched(http_class), req, **kwargs)

        handlers.append(HTTPS)
    return urllib.request.build_opener(*handlers)


def _stream(url, out, name, size, sha256, timeout, deadline, progress) -> str | None:
    import http.client  # imported here so that `import chainrule` stays light
    import urllib.error
    import urllib.request

    h = hashlib.sha256()
    got = 0
    bar = _progress_bar(name, size, progress)
    late = f"too slow: {{}} of {size} bytes after the deadline of {deadline:g} s"
    watchdog = _Watchdog(deadline)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with watchdog, _opener(watchdog).open(request, timeout=timeout) as response:
            announced = response.headers.get("Content-Length")
            if announced is not None and announced.isdigit() and int(announced) != size:
                return f"server announced {announced} bytes, expected {size}"
            while block := response.read1(_CHUNK):  # what has arrived: never waits for more
                got += len(block)
                if got > size:
                    return f"server sent more than the expected {size} bytes"
                h.update(block)
                out.write(block)
                bar.update(len(block))
                if watchdog.expired:
                    return late.format(got)
            if watchdog.expired:
                return late.format(got)
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.reason}"
    except (OSError, ValueError, http.client.HTTPException) as exc:  # resets, IncompleteRead
        if watchdog.expired:
            return late.format(got)
        if isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None),
                                                       TimeoutError):
            return f"timed out (no data for {timeout:g} s)"
        if isinstance(exc, urllib.error.URLError):
            return f"{type(exc.reason).__name__}: {exc.reason}"
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
