"""A training run kept on disk: start it, let it be interrupted, resume it exactly.

A run folder (default ``runs/<timestamp>/``) holds:

- ``config.json``: the :class:`~chainrule.training.config.TrainConfig` as resolved (the learning
  rate and weight init that were used) plus derived facts (the network's class and
  architecture, set sizes, iterations per epoch, version);
- ``metrics.csv``: one row per evaluation (see :class:`~chainrule.training.history.History`), never
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

from chainrule.core.messages import Catalog
from chainrule.data.catalog import class_names, image_shape
from chainrule.data.load import Data, load_data
from chainrule.nn.network import input_shape
from chainrule.store import files
from chainrule.store.version import VERSION
from chainrule.training import checkpoint, plots
from chainrule.training.config import TrainConfig
from chainrule.training.folder import (
    ACCURACY_PNG,
    CHECKPOINT,
    CHECKPOINT_EVERY,
    CONFIG,
    LOSS_PNG,
    METRICS,
    MODEL,
    STEP_LOSS,
    SUMMARY,
    RunError,
    RunLock,
    SaveError,
    check_run_files,
    clean_leftovers,
    make_folder,
    read_steps,
    refuse_a_run,
    remove_dir,
    remove_stale,
    remove_start,
    write_at,
)
from chainrule.training.history import History
from chainrule.training.loop import TrainingDiverged, TrainingLoop

MESSAGES = Catalog("runs", {
    "runs.save_failed": "cannot write {file}: {reason}; the last good checkpoint (iteration "
                        "{iteration}) is kept in {checkpoint}",
    "runs.save_failed_early": "cannot write {file}: {reason}; the run had not started; "
                              "nothing of it is kept",
})
""":class:`SaveError`'s words by code (``reason``: the system's, ``errno`` its name)."""

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


class Run:
    """A :class:`~chainrule.training.loop.TrainingLoop` bound to a run folder.

    Make one with :meth:`create` or :meth:`resume`, then call :meth:`train`. The folder
    is locked (:class:`RunLock`) from then until :meth:`train` returns or :meth:`close`.
    """

    def __init__(self, path: Path, config: TrainConfig, loop: TrainingLoop, info: dict,
                 lock: RunLock | None = None):
        self.path, self.config, self.loop, self.info = path, config, loop, info
        self.summary: Summary | None = None
        self.lock = lock
        self.checkpoint_iteration: int | None = None  # what checkpoint.npz holds
        self._steps_on_disk = 0  # losses in step_loss.f64

    @property
    def history(self) -> History:
        return self.loop.history

    @property
    def net(self):
        return self.loop.net

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

        ``out`` may exist if it is empty or holds a run that never reached its first
        checkpoint (see :func:`~chainrule.training.folder.refuse_a_run`): a folder of
        someone's own files is refused, never written into, and so is a run file that is
        a symbolic link or a FIFO. ``data`` replaces loading ``config.dataset``. If
        anything fails before the first checkpoint is written, what was created is
        removed again.
        """
        config = (config or TrainConfig()).resolved()  # config.json records lr, init
        if out is not None:
            refuse_a_run(Path(out))
        if data is None:
            data = load_data(config.dataset, data_dir, config.dtype, download=download)
        _check_batch(config, data)
        loop = TrainingLoop.from_config(config, data)  # the memory check, before any file
        path, created = make_folder(out)
        lock, started = None, False
        try:
            lock = RunLock.acquire(path)
            refuse_a_run(path, locked=True)  # again, now that no one else can start here
            started = True  # from here on, the run's files in the folder are ours
            clean_leftovers(path)
            remove_stale(path)
            run = cls(path, config, loop, _info(config, loop, data_dir), lock)
            with run._writing(CONFIG):
                files.write_json(path / CONFIG, {**config.to_dict(), **run.info})
            run._steps_on_disk = _truncate_steps(path / STEP_LOSS, 0, run)
            run.save_checkpoint()
            return run
        except BaseException:
            if started:  # ours to clean: nothing else could start here
                remove_start(path, created, lock)
            else:
                if lock is not None:
                    lock.release()
                if created:
                    remove_dir(path)
            raise

    @classmethod
    def resume(cls, path: str | os.PathLike, *, iters: int | None = None,
               epochs: float | None = None, data: Data | None = None, data_dir=None,
               download: bool = True) -> Run:
        """The run in ``path`` at its last checkpoint, optionally with a new length.

        A run that never reached its first checkpoint starts from the beginning."""
        path = Path(path)
        check_run_files(path)  # nothing read or written through a link, no FIFO waited on
        if not (path / CONFIG).is_file():
            raise RunError(f"{path} is not a run folder: no {CONFIG}")
        lock = RunLock.acquire(path)
        try:
            check_run_files(path)  # again, now that no one else writes here
            clean_leftovers(path)
            return cls._resume(path, lock, iters, epochs, data, data_dir, download)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def _resume(cls, path: Path, lock: RunLock, iters, epochs, data, data_dir,
                download) -> Run:
        config_file, ckpt_file = path / CONFIG, path / CHECKPOINT
        try:
            saved = files.read_json(config_file, expect=dict, follow=False)
            config = TrainConfig.from_dict(saved).resolved()
        except (ValueError, TypeError, AttributeError) as exc:
            raise RunError(f"{config_file}: unreadable run config ({exc})") from exc
        state = checkpoint.load_checkpoint(ckpt_file) if ckpt_file.is_file() else None
        if not isinstance(saved.get("data_dir"), (str, type(None))):
            raise RunError(f"{config_file}: data_dir must be a folder name, got "
                           f"{saved['data_dir']!r:.80}")
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
        loop = TrainingLoop.from_config(config, data)
        if state is not None:
            if state["net"] != loop.net.config():
                raise RunError(f"{ckpt_file}: the network {state['net']} does not match the "
                               f"config's {loop.net.config()}")
            if loop.iters < state["iteration"]:  # before its history is made
                raise RunError(f"{path} is already at iteration {state['iteration']}; "
                               f"cannot resume to {loop.iters} iterations")
            try:
                loop.load_state_dict(state)
            except (ValueError, TypeError, KeyError) as exc:  # what the file's arrays hold
                raise RunError(f"{ckpt_file}: cannot resume from it: {exc}") from None
        info = {**_info(config, loop, data_dir), "created": saved.get("created")}
        run = cls(path, config, loop, info, lock)
        run._restore_step_losses()
        if loop.iters != saved.get("total_iters"):
            with run._writing(CONFIG):
                files.write_json(config_file, {**config.to_dict(), **info})
        if state is None:  # it never started: start it
            run.save_checkpoint()
        else:
            run.checkpoint_iteration = loop.iteration
        return run

    # -------------------------------------------------------------- training

    def train(self, *, on_eval=None, on_progress=None, progress_every: int = 50,
              plots: bool = True, handle_sigint: bool = True,
              checkpoint_every: float | None = CHECKPOINT_EVERY) -> Summary:
        """Train to the end (or until a signal); keep every file up to date; return the
        summary.

        Callbacks are passed to :meth:`TrainingLoop.run`. With ``handle_sigint`` the first
        SIGINT, SIGTERM or SIGHUP stops the run after the step in progress and saves it
        (``summary.signal`` names it), also while the last files are written. A
        checkpoint is written after every evaluation and ``checkpoint_every`` seconds
        after the last one (None: only at evaluations). On a diverging loss the files
        are written (the checkpoint stays at the last good state, ``metrics.csv`` holds
        its rows) and :class:`~chainrule.training.loop.TrainingDiverged` is raised; a file that
        cannot be written raises :class:`SaveError`. Either way ``self.summary`` is set
        where it could be, and the folder's lock is released.
        """
        loop = self.loop
        if self.lock is None or not self.lock.held:
            self.lock = RunLock.acquire(self.path)
        start_iteration, t0 = loop.iteration, time.perf_counter()

        def evaluated(lp: TrainingLoop, row: dict) -> None:
            self.save_checkpoint()
            self.write_metrics()
            if on_eval is not None:
                on_eval(lp, row)

        try:
            with loop.stopping_on_signals(handle_sigint):
                try:
                    loop.run(on_eval=evaluated, on_progress=on_progress,
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
        loop = self.loop
        last = loop.history.last()
        if loop.status == "completed" and loop.eval_samples is not None:
            # the book's chapter-7 protocol: the whole test set once, at the end
            train_acc, test_acc = loop.evaluate(train=False)
            evaluated_at = loop.iteration
        elif loop.status == "completed" and (
                last is None or last["iteration"] != loop.iteration - 1):
            train_acc, test_acc = loop.evaluate()  # the network as saved (0 steps: as made)
            evaluated_at = loop.iteration
        elif last is not None:
            train_acc, test_acc = last["train_acc"], last["test_acc"]
            evaluated_at = int(last["iteration"]) + 1
        else:
            train_acc = test_acc = math.nan
            evaluated_at = 0
        wall = time.perf_counter() - t0
        steps = loop.iteration - start_iteration
        stopped_by = loop.stopped_by if loop.status == "interrupted" else None
        return Summary(loop.status, loop.iteration, loop.iters, train_acc, test_acc,
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
            checkpoint.save_checkpoint(self.file(CHECKPOINT), self.loop, meta=self.meta(),
                                       all_steps=False)
        self.checkpoint_iteration = self.loop.iteration
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
        with self._writing(ACCURACY_PNG):
            accuracy = plots.plot_accuracy(self.history, self.file(ACCURACY_PNG))
        with self._writing(LOSS_PNG):
            loss = plots.plot_loss(self.history, self.file(LOSS_PNG))
        return [accuracy, loss]

    def files(self) -> list[str]:
        """The names of the run's files that exist."""
        names = (CONFIG, METRICS, CHECKPOINT, STEP_LOSS, MODEL, SUMMARY, ACCURACY_PNG,
                 LOSS_PNG)
        return [n for n in names if self.file(n).exists()]

    def _append_step_losses(self) -> None:
        losses = self.history.step_loss[self._steps_on_disk:self.loop.iteration]
        if not losses:
            return
        with self._writing(STEP_LOSS):
            write_at(self.file(STEP_LOSS), self._steps_on_disk * 8,
                      np.asarray(losses, dtype="<f8").tobytes())
        self._steps_on_disk += len(losses)

    def _restore_step_losses(self) -> None:
        """Fill the step losses the checkpoint leaves out from ``step_loss.f64`` (cut
        to the checkpoint: a killed run may have written more); NaN where it has none."""
        n = self.loop.iteration
        steps = self.history.step_loss
        known = read_steps(self.file(STEP_LOSS), n)
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
            facts = {"file": str(self.file(name)), "reason": exc.strerror or str(exc),
                     "errno": errno.errorcode.get(exc.errno or 0, "")}
            code = "runs.save_failed_early"
            if self.checkpoint_iteration is not None:
                code = "runs.save_failed"
                facts.update(iteration=self.checkpoint_iteration,
                             checkpoint=str(self.file(CHECKPOINT)))
            raise SaveError(MESSAGES.say(code, **facts)).coded(code, **facts) from exc


def signal_name(number: int) -> str:
    """``SIGTERM`` for 15, and so on."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _truncate_steps(path: Path, n: int, run: Run) -> int:
    """Cut ``step_loss.f64`` to ``n`` losses (creating it empty); return ``n``."""
    with run._writing(STEP_LOSS):
        write_at(path, n * 8, b"")
    return n


def _check_batch(config: TrainConfig, data: Data) -> None:
    if config.batch_size > len(data.x_train):
        raise RunError(f"batch size {config.batch_size} is larger than the training set "
                       f"({len(data.x_train)} samples of {config.dataset})")


def _info(config: TrainConfig, loop: TrainingLoop, data_dir) -> dict[str, Any]:
    return {
        "net": loop.net.config(),
        "total_iters": loop.iters,
        "iters_per_epoch": loop.iters_per_epoch,
        "evaluate_every": loop.eval_every,
        "train_size": len(loop.x_train),
        "test_size": 0 if loop.x_test is None else len(loop.x_test),
        "data_dir": None if data_dir is None else str(Path(data_dir).resolve()),
        "created": datetime.now().isoformat(timespec="seconds"),
        "chainrule_version": VERSION,
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
