"""Files written atomically and read warily.

Writing: a crash, an error or a terminating signal never leaves a half-written file
(nor the temporary file beside it). Reading JSON: a size and a nesting limit, and one
``ValueError`` line for anything wrong, so a hostile file cannot exhaust memory or the
stack.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import secrets
import signal
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

JSON_MAX_BYTES = 1 << 20
"""Default size limit of :func:`read_json` (1 MiB; chainrule's own JSON files are a few KB)."""
JSON_MAX_DEPTH = 32
"""Default nesting limit of :func:`read_json` and :func:`loads_json` (chainrule's own: 3)."""

# the signals whose default action ends the process without Python's say
_TERMINATING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


class Terminated(BaseException):
    """A terminating signal arrived inside :func:`terminating_raises` (not an ``Exception``:
    nothing should catch it on the way out but ``finally`` blocks)."""

    def __init__(self, signum: int):
        super().__init__(f"signal {signum}")
        self.signum = signum


@contextlib.contextmanager
def terminating_raises() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP (where their action is still the default)
    raise :class:`Terminated`, so that ``finally`` blocks run and remove temporary files;
    on the way out the signal is raised again with its default action, so the process
    still ends as the signal asked. Elsewhere than the main thread: nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated(signum)

    previous = {}
    try:
        for sig in _TERMINATING:
            if signal.getsignal(sig) == signal.SIG_DFL:
                previous[sig] = signal.signal(sig, handler)
        yield
    except Terminated as exc:
        if exc.signum not in previous:
            raise  # an outer block installed the handler: it finishes the job
        for sig, old in previous.items():
            signal.signal(sig, old)
        previous = {}
        signal.raise_signal(exc.signum)  # the default action: the process ends here
        raise
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *,
                suffix: str = ".tmp") -> Iterator[io.IOBase]:
    """Open a new hidden file beside ``path``; when the block ends normally it replaces
    ``path`` atomically. If the block raises (Ctrl-C, SIGTERM and SIGHUP included), the
    temporary file is removed and ``path`` is untouched."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}{suffix}"
    kwargs = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
    with terminating_raises():
        try:
            with open(tmp, mode.replace("w", "x"), **kwargs) as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w") as f:
        f.write(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2) + "\n")


# ---------------------------------------------------------------- files of one's own

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
"""``os.O_NOFOLLOW`` where the system has it (0 elsewhere: :func:`open_own` then checks
the path with ``lstat`` first)."""
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


class NotRegularFile(OSError):
    """A path that should be a plain file of one's own is a link, a FIFO, a folder...
    (the message names it and says what it is)."""

    def __init__(self, path: str | os.PathLike, kind: str):
        super().__init__(errno.EINVAL, f"{path} is {kind}, not a regular file")
        self.path, self.kind = Path(path), kind

    def __str__(self) -> str:
        return self.strerror


def file_kind(mode: int) -> str:
    """``a symbolic link``, ``a FIFO``, ``a folder``... for a ``st_mode``."""
    for test, kind in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISDIR, "a folder"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(mode):
            return kind
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def check_regular(path: str | os.PathLike) -> bool:
    """Whether ``path`` exists; :class:`NotRegularFile` if it is anything but a regular
    file (a symbolic link included: it is not followed)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(mode):
        raise NotRegularFile(path, file_kind(mode))
    return True


def open_own(path: str | os.PathLike, flags: int, mode: int = 0o644, *,
             follow: bool = False) -> int:
    """``os.open(path, flags, mode)`` for a regular file only: a symbolic link at ``path``
    is not followed (unless ``follow``) and a FIFO never blocks; anything but a regular
    file raises :class:`NotRegularFile` naming it. Other troubles raise ``OSError``."""
    if not follow and not NOFOLLOW:
        check_regular(path)  # no O_NOFOLLOW here: look first
    try:
        fd = os.open(path, flags | _NONBLOCK | getattr(os, "O_CLOEXEC", 0)
                     | (0 if follow else NOFOLLOW), mode)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK, errno.ENXIO, errno.EISDIR, errno.EWOULDBLOCK):
            try:  # a link not followed, a FIFO without a reader, a folder: say which
                kind = file_kind((os.stat if follow else os.lstat)(path).st_mode)
            except OSError:
                raise exc from None
            raise NotRegularFile(path, kind) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(path, file_kind(st.st_mode))
        if _NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


# ---------------------------------------------------------------- reading JSON

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def json_depth(text: str) -> int:
    """How deeply ``text``'s arrays and objects nest (0 for a plain value), counted
    without parsing, so that any depth is safe to measure."""
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def loads_json(text: str, *, max_depth: int = JSON_MAX_DEPTH, expect: type | None = None,
               where: str = "JSON") -> Any:
    """``json.loads(text)``, refusing nesting deeper than ``max_depth`` and (given
    ``expect``, e.g. ``dict``) a value of another type. Raises ``ValueError`` with one
    line that starts with ``where``."""
    if json_depth(text) > max_depth:
        raise ValueError(f"{where}: JSON nested deeper than {max_depth} levels")
    try:
        value = json.loads(text)
    except RecursionError:  # pragma: no cover - json_depth refuses these first
        raise ValueError(f"{where}: JSON nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc})") from None
    if expect is not None and not isinstance(value, expect):
        raise ValueError(f"{where}: expected a JSON {_JSON_NAMES.get(expect, expect.__name__)}, "
                         f"got {_JSON_NAMES.get(type(value), type(value).__name__)}")
    return value


_JSON_NAMES = {dict: "object", list: "array", str: "string", int: "number", float: "number",
               bool: "true/false", type(None): "null"}


def read_json(path: str | os.PathLike, *, max_bytes: int = JSON_MAX_BYTES,
              max_depth: int = JSON_MAX_DEPTH, expect: type | None = None,
              follow: bool = True) -> Any:
    """The JSON value in ``path`` (UTF-8), read only if it is at most ``max_bytes`` long
    and nests at most ``max_depth`` deep; ``expect`` (e.g. ``dict``) checks its type.
    Raises ``ValueError`` naming the file for any of these and for anything but a
    regular file (a FIFO is never waited for; with ``follow=False`` a symbolic link is
    refused too); ``OSError`` (missing, unreadable) passes through."""
    try:
        fd = open_own(path, os.O_RDONLY, follow=follow)
    except NotRegularFile as exc:
        raise ValueError(str(exc)) from None
    with open(fd, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{path}: larger than the {max_bytes} bytes a JSON file may have here")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return loads_json(text, max_depth=max_depth, expect=expect, where=str(path))
