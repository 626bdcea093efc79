"""A training run kept on disk: start it, let it be interrupted, resume it exactly.

A run folder (default ``runs/<timestamp>/``) holds:

- ``config.json``: the :class:`~chainrule.training.train.TrainConfig` as resolved (the learning
  rate and weight init that were used) plus derived facts (the network's class and
  architecture, set sizes, iterations per epoch, version);
- ``metrics.csv``: one row per evaluation (see :class:`~chainrule.training.train.History`), never
  a row the checkpoint does not hold;
- ``checkpoint.npz``: everything needed to resume (written at the start, after every
  evaluation, every ``checkpoint_every`` seconds (60) between them and when the run
  stops; never after a diverging loss, so it stays the last good state). It keeps the
  step losses since the last evaluation only, so its size does not grow with the run;
- ``step_loss.f64``: every step's mini-batch loss, little-endian float64 in step order
  (``numpy.fromfile(path, "<f8")``), appended before each checkpoint: the book's
  ``train_loss_list`` survives a resume, and writing it costs 8 bytes a step;
- ``model.npz``: the trained network, loadable with ``chainrule.training.checkpoint.load_model``;
- ``summary.json``: status, final accuracies, wall time, iterations per second;
- ``accuracy.png`` and ``loss.png``: the figures;
- ``.run.lock``: the lock of the process training in the folder (its pid inside).

Every file but the append-only ``step_loss.f64`` is written atomically. One process at
a time trains in a folder: :class:`RunLock` (an OS lock, released when the process
ends however it ends) refuses a second one. Nothing here prints.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.store import files
from chainrule.training import checkpoint
from chainrule.training.train import (
    Data,
    History,
    TrainConfig,
    Trainer,
    TrainingDiverged,
    load_data,
)

CONFIG, METRICS, CHECKPOINT, MODEL, SUMMARY = (
    "config.json", "metrics.csv", "checkpoint.npz", "model.npz", "summary.json")
ACCURACY_PNG, LOSS_PNG = "accuracy.png", "loss.png"
STEP_LOSS, LOCK = "step_loss.f64", ".run.lock"
CHECKPOINT_EVERY = 60.0
"""Seconds between two checkpoints when no evaluation comes sooner (a SIGKILL loses at
most this much work); a MNIST TwoLayerNet checkpoint takes a few milliseconds."""
IMAGE_SHAPES = {"mnist": (28, 28), "fashion-mnist": (28, 28), "digits": (8, 8)}


class RunError(ValueError):
    """A run folder cannot be created or resumed (the message says why and what to do)."""


class RunBusy(RunError):
    """Another process (or another :class:`Run` in this one) trains in the folder."""


class SaveError(RunError):
    """A run's file could not be written (a full disk, a lost permission...): the
    message names the file and the last good checkpoint, which is kept."""


@dataclass
class Summary:
    """How a training session ended; written to ``summary.json``."""

    status: str  # completed, interrupted, diverged
    iteration: int  # steps done
    iters: int
    train_acc: float  # of the network as saved (after ``iteration`` steps)
    test_acc: float
    evaluated_at: int  # steps done when those accuracies were measured
    wall_s: float  # this session: training, evaluations, checkpoints
    steps: int  # steps done in this session
    it_per_s: float
    message: str = ""
    signal: str | None = None  # what stopped an interrupted run: SIGINT, SIGTERM, SIGHUP

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}


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
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise RunError(f"cannot lock {folder} for training ({path.name}): "
                               f"{exc.strerror or exc}") from exc
            try:
                if not _try_lock(fd):
                    raise RunBusy(_busy_message(folder, _read_pid(fd)))
                try:  # the file locked must still be the one in the folder
                    same = os.path.samestat(os.fstat(fd), os.stat(path))
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
            fd = os.open(folder / LOCK, os.O_RDWR)
        except OSError:
            return  # no lock file: no one has trained here, or it cannot be opened
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


def image_shape(dataset: str, input_size: int) -> list[int] | None:
    shape = IMAGE_SHAPES.get(dataset)
    if shape and shape[0] * shape[1] == input_size:
        return list(shape)
    side = math.isqrt(input_size)
    return [side, side] if side * side == input_size else None


class Run:
    """A :class:`~chainrule.training.train.Trainer` bound to a run folder.

    Make one with :meth:`create` or :meth:`resume`, then call :meth:`train`. The folder
    is locked (:class:`RunLock`) from then until :meth:`train` returns or :meth:`close`.
    """

    def __init__(self, path: Path, config: TrainConfig, trainer: Trainer, info: dict,
                 lock: RunLock | None = None):
        self.path, self.config, self.trainer, self.info = path, config, trainer, info
        self.summary: Summary | None = None
        self.lock = lock
        self.checkpoint_iteration: int | None = None  # what checkpoint.npz holds
        self._steps_on_disk = 0  # losses in step_loss.f64

    @property
    def history(self) -> History:
        return self.trainer.history

    @property
    def net(self):
        return self.trainer.net

    def file(self, name: str) -> Path:
        return self.path / name

    def close(self) -> None:
        """Release the folder's lock (:meth:`train` does it when it returns)."""
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -------------------------------------------------------------- opening

    @classmethod
    def create(cls, config: TrainConfig | None = None, out: str | os.PathLike | None = None,
               *, data: Data | None = None, data_dir=None, download: bool = True) -> Run:
        """A new run of ``config`` in ``out`` (default ``runs/<timestamp>``), not yet trained.

        ``out`` may exist if it holds no run (a folder whose run never reached its first
        checkpoint counts as empty). ``data`` replaces loading ``config.dataset``. If
        anything fails before the first checkpoint is written, what was created is
        removed again.
        """
        config = (config or TrainConfig()).resolved()  # config.json records lr, init
        if out is not None:
            _refuse_a_run(Path(out))
        if data is None:
            data = load_data(config.dataset, data_dir, config.dtype, download=download)
        _check_batch(config, data)
        trainer = Trainer.from_config(config, data)  # the memory check, before any file
        path, created = _folder(out)
        lock, started = None, False
        try:
            lock = RunLock.acquire(path)
            _refuse_a_run(path, locked=True)  # again, now that no one else can start here
            started = True  # from here on, the run's files in the folder are ours
            run = cls(path, config, trainer, _info(config, trainer, data_dir), lock)
            with run._writing(CONFIG):
                files.write_json(path / CONFIG, {**config.to_dict(), **run.info})
            run._steps_on_disk = _truncate_steps(path / STEP_LOSS, 0, run)
            run.save_checkpoint()
            return run
        except BaseException:
            if started:  # ours to clean: nothing else could start here
                _remove_start(path, created, lock)
            else:
                if lock is not None:
                    lock.release()
                if created:
                    _remove_dir(path)
            raise

    @classmethod
    def resume(cls, path: str | os.PathLike, *, iters: int | None = None,
               epochs: float | None = None, data: Data | None = None, data_dir=None,
               download: bool = True) -> Run:
        """The run in ``path`` at its last checkpoint, optionally with a new length.

        A run that never reached its first checkpoint starts from the beginning."""
        path = Path(path)
        if not (path / CONFIG).is_file():
            raise RunError(f"{path} is not a run folder: no {CONFIG}")
        lock = RunLock.acquire(path)
        try:
            return cls._resume(path, lock, iters, epochs, data, data_dir, download)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _resume(cls, path: Path, lock: RunLock, iters, epochs, data, data_dir,
                download) -> Run:
        config_file, ckpt_file = path / CONFIG, path / CHECKPOINT
        try:
            saved = files.read_json(config_file, expect=dict)
            config = TrainConfig.from_dict(saved).resolved()
        except (ValueError, TypeError, AttributeError) as exc:
            raise RunError(f"{config_file}: unreadable run config ({exc})") from exc
        state = checkpoint.load_checkpoint(ckpt_file) if ckpt_file.is_file() else None
        data_dir = data_dir if data_dir is not None else saved.get("data_dir")
        if data is None:
            data = load_data(config.dataset, data_dir, config.dtype, download=download)
        sizes = (len(data.x_train), 0 if data.x_test is None else len(data.x_test))
        if [saved.get("train_size"), saved.get("test_size")] != list(sizes):
            raise RunError(f"{path}: the run used {saved.get('train_size')} training and "
                           f"{saved.get('test_size')} test samples, the data now has "
                           f"{sizes[0]} and {sizes[1]}")
        if iters is not None or epochs is not None:
            config.iters, config.epochs = (iters, None) if iters is not None else (
                config.iters, epochs)
            config.validate()
        trainer = Trainer.from_config(config, data)
        if state is not None:
            if state["net"] != trainer.net.config():
                raise RunError(f"{ckpt_file}: the network {state['net']} does not match the "
                               f"config's {trainer.net.config()}")
            trainer.load_state_dict(state)
        if trainer.iters < trainer.iteration:
            raise RunError(f"{path} is already at iteration {trainer.iteration}; "
                           f"cannot resume to {trainer.iters} iterations")
        info = {**_info(config, trainer, data_dir), "created": saved.get("created")}
        run = cls(path, config, trainer, info, lock)
        run._restore_step_losses()
        if trainer.iters != saved.get("total_iters"):
            with run._writing(CONFIG):
                files.write_json(config_file, {**config.to_dict(), **info})
        if state is None:  # it never started: start it
            run.save_checkpoint()
        else:
            run.checkpoint_iteration = trainer.iteration
        return run

    # -------------------------------------------------------------- training

    def train(self, *, on_eval=None, on_progress=None, progress_every: int = 50,
              plots: bool = True, handle_sigint: bool = True,
              checkpoint_every: float | None = CHECKPOINT_EVERY) -> Summary:
        """Train to the end (or until a signal); keep every file up to date; return the
        summary.

        Callbacks are passed to :meth:`Trainer.run`. With ``handle_sigint`` the first
        SIGINT, SIGTERM or SIGHUP stops the run after the step in progress and saves it
        (``summary.signal`` names it), also while the last files are written. A
        checkpoint is written after every evaluation and ``checkpoint_every`` seconds
        after the last one (None: only at evaluations). On a diverging loss the files
        are written (the checkpoint stays at the last good state, ``metrics.csv`` holds
        its rows) and :class:`~chainrule.training.train.TrainingDiverged` is raised; a file that
        cannot be written raises :class:`SaveError`. Either way ``self.summary`` is set
        where it could be, and the folder's lock is released.
        """
        trainer = self.trainer
        if self.lock is None or not self.lock.held:
            self.lock = RunLock.acquire(self.path)
        start_iteration, t0 = trainer.iteration, time.perf_counter()

        def evaluated(tr: Trainer, row: dict) -> None:
            self.save_checkpoint()
            self.write_metrics()
            if on_eval is not None:
                on_eval(tr, row)

        try:
            with trainer.stopping_on_signals(handle_sigint):
                try:
                    trainer.run(on_eval=evaluated, on_progress=on_progress,
                                progress_every=progress_every, handle_sigint=handle_sigint,
                                on_checkpoint=lambda tr: self.save_checkpoint(),
                                checkpoint_every=checkpoint_every)
                except TrainingDiverged as exc:
                    self._forget_unsaved_rows()
                    self.summary = self._summary(t0, start_iteration, str(exc))
                    self._finish(plots, model=False)
                    raise
                self.summary = self._summary(t0, start_iteration)
                self.save_checkpoint()
                self._finish(plots, model=True)
        finally:
            self.close()
        return self.summary

    def _forget_unsaved_rows(self) -> None:
        """Drop the rows measured after the checkpoint's iteration (a diverged run stays
        at its last checkpoint: its files must agree with it)."""
        h, saved = self.history, self.checkpoint_iteration or 0
        keep = sum(1 for i in h.iteration if i < saved)
        for c in History.COLUMNS:
            del getattr(h, c)[keep:]

    def _summary(self, t0: float, start_iteration: int, message: str = "") -> Summary:
        trainer = self.trainer
        last = trainer.history.last()
        if trainer.status == "completed" and trainer.eval_samples is not None:
            # the book's chapter-7 protocol: the whole test set once, at the end
            train_acc, test_acc = trainer.evaluate(train=False)
            evaluated_at = trainer.iteration
        elif trainer.status == "completed" and (
                last is None or last["iteration"] != trainer.iteration - 1):
            train_acc, test_acc = trainer.evaluate()  # the network as saved (0 steps: as made)
            evaluated_at = trainer.iteration
        elif last is not None:
            train_acc, test_acc = last["train_acc"], last["test_acc"]
            evaluated_at = int(last["iteration"]) + 1
        else:
            train_acc = test_acc = math.nan
            evaluated_at = 0
        wall = time.perf_counter() - t0
        steps = trainer.iteration - start_iteration
        stopped_by = trainer.stopped_by if trainer.status == "interrupted" else None
        return Summary(trainer.status, trainer.iteration, trainer.iters, train_acc, test_acc,
                       evaluated_at, wall, steps, steps / wall if wall > 0 else math.nan,
                       message, None if stopped_by is None else signal_name(stopped_by))

    def _finish(self, plots: bool, *, model: bool) -> None:
        self.write_metrics()
        if model:
            self.save_model()
        with self._writing(SUMMARY):
            files.write_json(self.file(SUMMARY), self.summary.to_dict())
        if plots:
            self.write_plots()

    # -------------------------------------------------------------- files

    def meta(self) -> dict[str, Any]:
        from chainrule.data.datasets import class_names
        from chainrule.nn.nets import input_shape

        shape = input_shape(self.net)
        return {"dataset": self.config.dataset,
                "class_names": list(class_names(self.config.dataset)),
                "image_shape": (list(shape[1:]) if len(shape) == 3 else
                                image_shape(self.config.dataset, shape[0])),
                "input_range": [0.0, 1.0]}

    def save_checkpoint(self) -> Path:
        """Append the new step losses to ``step_loss.f64``, then write the checkpoint
        (with the losses since the last row only: its size stays bounded)."""
        self._append_step_losses()
        with self._writing(CHECKPOINT):
            checkpoint.save_checkpoint(self.file(CHECKPOINT), self.trainer, meta=self.meta(),
                                       all_steps=False)
        self.checkpoint_iteration = self.trainer.iteration
        return self.file(CHECKPOINT)

    def save_model(self) -> Path:
        with self._writing(MODEL):
            return checkpoint.save_model(self.file(MODEL), self.net, meta=self.meta())

    def write_metrics(self) -> Path:
        """``metrics.csv``: the rows the checkpoint holds (none past its iteration)."""
        h, saved = self.history, self.checkpoint_iteration
        rows = h if saved is None or not h.iteration or h.iteration[-1] < saved else History(
            **{c: getattr(h, c)[:sum(1 for i in h.iteration if i < saved)]
               for c in History.COLUMNS})
        with self._writing(METRICS):
            files.write_text(self.file(METRICS), rows.to_csv())
        return self.file(METRICS)

    def write_plots(self) -> list[Path]:
        from chainrule.training import plots as plot

        with self._writing(ACCURACY_PNG):
            accuracy = plot.plot_accuracy(self.history, self.file(ACCURACY_PNG))
        with self._writing(LOSS_PNG):
            loss = plot.plot_loss(self.history, self.file(LOSS_PNG))
        return [accuracy, loss]

    def files(self) -> list[str]:
        """The names of the run's files that exist."""
        names = (CONFIG, METRICS, CHECKPOINT, STEP_LOSS, MODEL, SUMMARY, ACCURACY_PNG,
                 LOSS_PNG)
        return [n for n in names if self.file(n).exists()]

    def _append_step_losses(self) -> None:
        losses = self.history.step_loss[self._steps_on_disk:self.trainer.iteration]
        if not losses:
            return
        with self._writing(STEP_LOSS):
            _write_at(self.file(STEP_LOSS), self._steps_on_disk * 8,
                      np.asarray(losses, dtype="<f8").tobytes())
        self._steps_on_disk += len(losses)

    def _restore_step_losses(self) -> None:
        """Fill the step losses the checkpoint leaves out from ``step_loss.f64`` (cut
        to the checkpoint: a killed run may have written more); NaN where it has none."""
        n = self.trainer.iteration
        steps = self.history.step_loss
        known = _read_steps(self.file(STEP_LOSS), n)
        self._steps_on_disk = _truncate_steps(self.file(STEP_LOSS), len(known), self)
        values = np.array(steps[:len(known)], dtype=np.float64)
        gaps = np.isnan(values)
        if gaps.any():
            values[gaps] = known[gaps]
            steps[:len(known)] = values.tolist()

    @contextlib.contextmanager
    def _writing(self, name: str) -> Iterator[None]:
        """Turn a failed write of ``name`` into a :class:`SaveError` that says what is kept."""
        try:
            yield
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if self.checkpoint_iteration is None:
                kept = "the run had not started; nothing of it is kept"
            else:
                kept = (f"the last good checkpoint (iteration {self.checkpoint_iteration}) is "
                        f"kept in {self.file(CHECKPOINT)}")
            raise SaveError(f"cannot write {self.file(name)}: {reason}; {kept}") from exc


def signal_name(number: int) -> str:
    """``SIGTERM`` for 15, and so on."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _refuse_a_run(path: Path, *, locked: bool = False) -> None:
    if (path / CHECKPOINT).exists():
        if not locked:
            RunLock.check(path)  # a run in progress says who runs it
        raise RunError(f"{path} already holds a run; resume it with --resume {path} "
                       "or choose another output folder")


def _folder(out) -> tuple[Path, bool]:
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


def _remove_start(path: Path, created: bool, lock: RunLock) -> None:
    """Undo a start that failed before its first checkpoint: remove the files it wrote
    and, if it made the folder, the folder."""
    for name in (CHECKPOINT, STEP_LOSS, CONFIG, LOCK):
        try:
            (path / name).unlink(missing_ok=True)
        except OSError:
            pass
    lock.release()
    if created:
        _remove_dir(path)


def _remove_dir(path: Path) -> None:
    try:
        path.rmdir()  # only if empty: never anything someone else put there
    except OSError:
        pass


def _write_at(path: Path, offset: int, data: bytes) -> None:
    """Write ``data`` at ``offset`` of ``path`` (created if missing), cut the file
    there and flush it to disk: a failed write is overwritten by the next one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
    try:
        os.lseek(fd, offset, os.SEEK_SET)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.ftruncate(fd, offset + len(data))
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_steps(path: Path, n: int) -> np.ndarray:
    """The first ``n`` (or fewer) losses of a ``step_loss.f64`` file; none if unreadable."""
    try:
        return np.fromfile(path, dtype="<f8", count=n)
    except (OSError, ValueError):
        return np.empty(0)


def _truncate_steps(path: Path, n: int, run: Run) -> int:
    """Cut ``step_loss.f64`` to ``n`` losses (creating it empty); return ``n``."""
    with run._writing(STEP_LOSS):
        _write_at(path, n * 8, b"")
    return n


def _check_batch(config: TrainConfig, data: Data) -> None:
    if config.batch_size > len(data.x_train):
        raise RunError(f"batch size {config.batch_size} is larger than the training set "
                       f"({len(data.x_train)} samples of {config.dataset})")


def _info(config: TrainConfig, trainer: Trainer, data_dir) -> dict[str, Any]:
    from chainrule import __version__

    return {
        "net": trainer.net.config(),
        "total_iters": trainer.iters,
        "iters_per_epoch": trainer.iters_per_epoch,
        "evaluate_every": trainer.eval_every,
        "train_size": len(trainer.x_train),
        "test_size": 0 if trainer.x_test is None else len(trainer.x_test),
        "data_dir": None if data_dir is None else str(Path(data_dir).resolve()),
        "created": datetime.now().isoformat(timespec="seconds"),
        "chainrule_version": __version__,
    }


def train(config: TrainConfig | None = None, *, out: str | os.PathLike | None = None,
          resume: str | os.PathLike | None = None, data: Data | None = None, data_dir=None,
          plots: bool = True, checkpoint_every: float | None = CHECKPOINT_EVERY,
          **options) -> Run:
    """Train as ``chainrule train`` does and return the :class:`Run` (``run.history``,
    ``run.net``, ``run.summary``). ``options`` override fields of ``config``
    (``train(iters=2000, lr=0.05)``), or of :meth:`TrainConfig.for_network`'s defaults
    when there is no ``config`` (``train(network="simple-conv")``: chapter 7's run);
    ``resume`` continues a run folder instead.
    """
    if resume is not None:
        unknown = set(options) - {"iters", "epochs"}
        if config is not None or unknown:
            raise RunError("resume: only iters or epochs may be given with resume")
        run = Run.resume(resume, data=data, data_dir=data_dir, **options)
    else:
        unknown = set(options) - set(TrainConfig().to_dict())
        if unknown:
            raise TypeError(f"train: unknown option(s) {', '.join(sorted(unknown))}")
        config = (TrainConfig.for_network(**options) if config is None  # its chapter's defaults
                  else TrainConfig.from_dict({**config.to_dict(), **options}))
        run = Run.create(config, out, data=data, data_dir=data_dir)
    run.train(plots=plots, checkpoint_every=checkpoint_every)
    return run


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
