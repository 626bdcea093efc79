"""A run folder on disk: the names of its files, its lock, and the few safe ways to
create, find and write into one.

One process at a time trains in a folder: :class:`RunLock` (an OS lock, released when
the process ends however it ends) refuses a second one. What the files hold and when
they are written: :mod:`chainrule.training.runs`.
"""

from __future__ import annotations

import errno
import os
import re
from datetime import datetime
from pathlib import Path

import numpy as np

from chainrule.core.messages import Coded
from chainrule.store import files
from chainrule.store.files import NotRegularFile, check_regular, open_own

CONFIG, METRICS, CHECKPOINT, MODEL, SUMMARY = (
    "config.json", "metrics.csv", "checkpoint.npz", "model.npz", "summary.json")
ACCURACY_PNG, LOSS_PNG = "accuracy.png", "loss.png"
STEP_LOSS, LOCK = "step_loss.f64", ".run.lock"
RUN_FILES = (CONFIG, METRICS, CHECKPOINT, MODEL, SUMMARY, ACCURACY_PNG, LOSS_PNG, STEP_LOSS,
             LOCK)
"""Every file a run writes in its folder."""
_ATOMIC = "|".join(re.escape(n) for n in RUN_FILES if n not in (STEP_LOSS, LOCK))
_LEFTOVER = re.compile(rf"\.({_ATOMIC})\.[0-9a-f]{{8}}\.tmp")
"""The temporary file of an atomic write of a run's file (``.checkpoint.npz.1a2b3c4d.tmp``):
only a SIGKILL leaves one behind."""
CHECKPOINT_EVERY = 60.0
"""Seconds between two checkpoints when no evaluation comes sooner (a SIGKILL loses at
most this much work); a MNIST TwoLayerNet checkpoint takes a few milliseconds."""


class RunError(ValueError):
    """A run folder cannot be created or resumed (the message says why and what to do)."""


class RunBusy(RunError):
    """Another process (or another :class:`Run` in this one) trains in the folder."""


class SaveError(Coded, RunError):
    """A run's file could not be written (a full disk, a lost permission...): the
    message names the file and the last good checkpoint, which is kept (``code`` and
    ``params``: the same as data)."""


class RunLock:
    """An exclusive lock on a run folder, held by an open file (``.run.lock``).

    ``fcntl.flock`` on Linux and macOS, ``msvcrt.locking`` on Windows: the system
    releases it when the process ends, however it ends (no stale lock after a
    SIGKILL). The holder's pid is written in the file for the message the next one
    gets. Where neither exists, runs are not locked. Network file systems may not
    honour the lock.
    """

    def __init__(self, path: Path, fd: int | None):
        self.path, self.fd = path, fd

    @classmethod
    def acquire(cls, folder: Path) -> RunLock:
        """The lock of ``folder``, or :class:`RunBusy` naming the process that holds it."""
        path = folder / LOCK
        while True:
            try:
                fd = open_own(path, os.O_RDWR | os.O_CREAT)  # never through a link
            except NotRegularFile as exc:
                raise RunError(f"cannot lock {folder} for training: {exc}; a run folder's "
                               "files must be its own (remove it)") from None
            except OSError as exc:
                raise RunError(f"cannot lock {folder} for training ({path.name}): "
                               f"{exc.strerror or exc}") from exc
            try:
                if not _try_lock(fd):
                    raise RunBusy(_busy_message(folder, _read_pid(fd)))
                try:  # the file locked must still be the one in the folder
                    same = os.path.samestat(os.fstat(fd), os.lstat(path))
                except FileNotFoundError:
                    same = False
                if same:
                    os.ftruncate(fd, 0)
                    os.write(fd, f"{os.getpid()}\n".encode())  # at offset 0: just opened
                    return cls(path, fd)
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # removed by a run that was cleaning up: try the new file

    @classmethod
    def check(cls, folder: Path) -> None:
        """:class:`RunBusy` if a process holds ``folder``'s lock (nothing is created)."""
        try:
            fd = open_own(folder / LOCK, os.O_RDWR)
        except OSError:
            return  # no lock file (or not one of ours): no one trains here
        try:
            if not _try_lock(fd):
                raise RunBusy(_busy_message(folder, _read_pid(fd)))
        finally:
            os.close(fd)

    @property
    def held(self) -> bool:
        return self.fd is not None

    def release(self) -> None:
        """Let another process train in the folder (closing the file unlocks it)."""
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)

    def __del__(self) -> None:  # a Run dropped without close() frees its folder too
        self.release()


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:
        fcntl = None
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        except OSError as exc:  # a file system without locks: train unlocked
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                return True
            raise
    try:
        import msvcrt
    except ImportError:
        return True  # no locking on this system
    try:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return True
    except OSError:
        return False


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0) if hasattr(os, "pread") else b""
        return int(text.decode().strip())
    except (OSError, ValueError):
        return None


def _busy_message(folder: Path, pid: int | None) -> str:
    if pid == os.getpid():
        who = "this process (another Run is open on it; close it first)"
    else:
        who = "another chainrule process" + (f" (pid {pid})" if pid else "")
    return (f"{folder} is in use by {who}: one run at a time trains in a folder; wait "
            "for it to end or choose another folder")


def new_run_dir(root: str | os.PathLike = "runs") -> Path:
    """A new, empty folder ``root/<YYYYmmdd-HHMMSS>`` (suffixed ``-2``, ``-3``... if taken)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        path = root / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RunError(f"cannot create a new run folder in {root}")


def check_run_files(path: Path) -> None:
    """:class:`RunError` naming the first of a run's files in ``path`` that is a symbolic
    link, a FIFO, a folder... anything but a regular file: a run never reads or writes
    through one (its writes would land in the link's target)."""
    for name in RUN_FILES:
        try:
            check_regular(path / name)
        except NotRegularFile as exc:
            raise RunError(f"{exc}; a run folder's files must be its own: remove it, or "
                           "choose another folder") from None
        except OSError as exc:
            raise RunError(f"cannot read {path / name}: {exc.strerror or exc}") from exc


def is_run_config(path: Path) -> bool:
    """Whether ``path`` is the ``config.json`` of a chainrule run (not someone's own)."""
    try:
        saved = files.read_json(path, expect=dict, follow=False)
    except (OSError, ValueError):
        return False
    return {"chainrule_version", "total_iters", "net"} <= saved.keys()


def refuse_a_run(path: Path, *, locked: bool = False) -> None:
    """:class:`RunError` unless ``path`` may hold a new run: it does not exist, or is a
    folder that is empty or holds only a run that never reached its first checkpoint
    (a chainrule ``config.json``, and only a run's files beside it: ``step_loss.f64``,
    ``.run.lock``, temporary files of atomic writes...), or such files without a
    ``config.json`` that only a start killed at once leaves (the lock, temporary
    files). A run (a ``checkpoint.npz``) is refused with the command that resumes it;
    anything else is someone's own files, never touched. Every run file found must be a
    regular file (:func:`check_run_files`)."""
    try:
        names = set(os.listdir(path))
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise RunError(f"{path} is not a folder; choose another output folder") from None
    except OSError as exc:
        raise RunError(f"cannot read the folder {path}: {exc.strerror or exc}") from exc
    check_run_files(path)
    if CHECKPOINT in names:
        if not locked:
            RunLock.check(path)  # a run in progress says who runs it
        raise RunError(f"{path} already holds a run; resume it with --resume {path} "
                       "or choose another output folder")
    ours = {LOCK} | {n for n in names if _LEFTOVER.fullmatch(n)}
    if CONFIG in names and is_run_config(path / CONFIG):
        ours |= set(RUN_FILES)
    others = sorted(names - ours)
    if not others:
        return
    shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
    if CONFIG in ours:
        raise RunError(f"{path} holds a chainrule run without its {CHECKPOINT} and other "
                       f"files ({shown}): it cannot be resumed or reused; choose another "
                       "output folder")
    raise RunError(f"{path} is not empty and not a chainrule run (it holds {shown}); "
                   "choose an empty or a new output folder")


def remove_stale(path: Path) -> None:
    """Remove what an earlier run that never reached its checkpoint left in ``path``
    (its metrics, model, summary, figures: they would be taken for the new run's)."""
    for name in (METRICS, MODEL, SUMMARY, ACCURACY_PNG, LOSS_PNG):
        try:
            (path / name).unlink(missing_ok=True)  # a link is removed, never followed
        except OSError:
            pass


def clean_leftovers(path: Path) -> list[str]:
    """Remove the temporary files that atomic writes of a run's files left in ``path``
    (a process killed while writing one); return their names. Only while holding the
    folder's lock: no one else is writing them."""
    removed = []
    try:
        names = os.listdir(path)
    except OSError:
        return removed
    for name in names:
        if _LEFTOVER.fullmatch(name):
            try:
                (path / name).unlink()  # a link is removed, never followed
                removed.append(name)
            except OSError:
                pass
    return removed


def make_folder(out) -> tuple[Path, bool]:
    """The run folder for ``out`` (a new timestamped one if None), and whether it was
    created now."""
    if out is None:
        return new_run_dir(), True
    path = Path(out)
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot create the run folder {path}: {exc.strerror or exc}") from exc
    return path, created


def remove_start(path: Path, created: bool, lock: RunLock) -> None:
    """Undo a start that failed before its first checkpoint: remove the files it wrote
    and, if it made the folder, the folder."""
    for name in (CHECKPOINT, STEP_LOSS, CONFIG, LOCK):
        try:
            (path / name).unlink(missing_ok=True)
        except OSError:
            pass
    lock.release()
    if created:
        remove_dir(path)


def remove_dir(path: Path) -> None:
    try:
        path.rmdir()  # only if empty: never anything someone else put there
    except OSError:
        pass


def write_at(path: Path, offset: int, data: bytes) -> None:
    """Write ``data`` at ``offset`` of ``path`` (created if missing), cut the file
    there and flush it to disk: a failed write is overwritten by the next one."""
    fd = open_own(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0))
    try:
        os.lseek(fd, offset, os.SEEK_SET)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.ftruncate(fd, offset + len(data))
        os.fsync(fd)
    finally:
        os.close(fd)


def read_steps(path: Path, n: int) -> np.ndarray:
    """The first ``n`` (or fewer) losses of a ``step_loss.f64`` file; none if it is
    missing or unreadable (a link or a FIFO is not read: see :func:`check_run_files`)."""
    try:
        with open(open_own(path, os.O_RDONLY | getattr(os, "O_BINARY", 0)), "rb") as f:
            data = f.read(8 * n)
    except (OSError, ValueError):
        return np.empty(0)
    return np.frombuffer(data[:len(data) // 8 * 8], dtype="<f8").copy()


def find_model(target: str | os.PathLike) -> tuple[Path, dict | None]:
    """The model file for a run folder (its ``model.npz``, else its checkpoint) or a model
    file itself, and the run's ``config.json`` contents when there is a run folder."""
    target = Path(target)
    if target.is_dir():
        for name in (MODEL, CHECKPOINT):
            if (target / name).is_file():
                config = target / CONFIG
                try:
                    saved = files.read_json(config, expect=dict)
                except (OSError, ValueError):
                    saved = None
                return target / name, saved
        raise RunError(f"{target} holds neither {MODEL} nor {CHECKPOINT}")
    if not target.is_file():
        raise RunError(f"{target}: no such run folder or model file")
    return target, None
