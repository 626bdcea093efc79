"""A training run in a background thread, told as a stream of events.

:class:`LiveRun` is ``Run.create(...).train(...)`` (a normal run folder, which
``chainrule evaluate`` and ``chainrule train --resume`` accept) in a thread of its own.
What happens becomes a list of JSON-able events, each with a sequence number ``seq``:

- ``{"type": "created", "run", "path", "net", "architecture", "config", "iters",
  "progress_every", ...}`` once the data is loaded and the folder written (``net``: the
  architecture in English, ``architecture``: the same as fields);
- ``{"type": "progress", "iteration", "epoch", "loss", "loss_min", "loss_max"}`` every
  ``progress_every`` steps: the mean, the lowest and the highest mini-batch loss of the
  steps since the previous progress event (a chart of them holds every step's loss);
- ``{"type": "snapshot", "iteration", ...}`` when a ``snapshot(net)`` function is given:
  what it returns (JSON-able: the first layer's filters, ...), after the created event
  and after each progress event (between steps: the network is not changing);
- ``{"type": "eval", "iteration", "epoch", "loss", "train_acc", "test_acc"}``: one per
  evaluation, the rows of ``metrics.csv``;
- ``{"type": "end", "status", "message", "summary"}``, last: ``status`` is completed,
  stopped (a stop was asked for; the run can be resumed), diverged (the library's
  :class:`~chainrule.training.loop.TrainingDiverged` message: a NaN, or a loss 1000 times the
  first) or failed (the data could not be loaded, a file could not be written
  (:class:`~chainrule.training.runs.SaveError`), ...: the one-line reason); ``warning`` says
  when a run that ended normally did not learn (see :func:`not_learning`),
  ``warning_facts`` the same as numbers. ``message_code`` and ``message_params``,
  ``warning_code`` and ``warning_params`` are the two texts as data (:data:`MESSAGES`,
  or the error's own code), for a page that words them in another language. By the end
  event the run folder's lock is released: ``chainrule train --resume`` can take it at
  once.

:class:`LiveRuns` keeps one run at a time: starting a second while one runs raises
:class:`TrainingBusy`. Nothing here prints, and nothing here knows about the web.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chainrule.core.checks import finite_or_none
from chainrule.core.messages import Catalog, Coded, coded_fields, said
from chainrule.nn.describe import architecture, describe_net
from chainrule.training.config import TrainConfig
from chainrule.training.folder import new_run_dir
from chainrule.training.jobs import EventLog
from chainrule.training.loop import TrainingDiverged
from chainrule.training.runs import Run

FINAL = ("completed", "stopped", "diverged", "failed")
MESSAGES = Catalog("live", {
    "live.stopped": "stopped after {iteration} of {iters} iterations; resume with chainrule "
                    "train --resume {path}",
    "live.failed": "{reason}",
    "live.busy": "a training run is already in progress ({run}); stop it or wait for it to "
                 "finish",  # an error the library has no code for, in its own words
    "live.not_learning_high": "the network is not learning: after {iterations} iterations "
                              "the accuracy is {accuracy}, no better than guessing; the "
                              "mini-batch loss jumped from {first_loss} (step 1) to "
                              "{worst_loss} (step {worst_at}): the learning rate {lr} is too "
                              "high (chapter 5 trains with 0.1)",
    "live.not_learning_low": "the network is not learning: after {iterations} iterations "
                             "the accuracy is {accuracy}, no better than guessing; the loss "
                             "barely moved ({first_loss} to {last_loss}): try a larger "
                             "learning rate (now {lr}) or more iterations",
})
"""The words of the end event by code (``message_code``, ``warning_code``; see
:mod:`chainrule.core.messages`)."""


class TrainingBusy(Coded, RuntimeError):
    """A training run is already in progress; the lab trains one at a time."""


class LiveRun(EventLog):
    """One run of ``config`` in ``out`` (a new or empty folder), trained in a thread.

    ``data`` (a :class:`~chainrule.data.load.Data`) replaces loading ``config.dataset``
    (with ``data_dir`` and ``download`` as ``load_mnist`` takes them).
    ``progress_every`` defaults to a few dozen steps (at most about 200 progress
    events per run). ``on_end(run)`` is called in the thread just before the end event.
    ``snapshot(net)``, if given, returns a JSON-able dict sent as a snapshot event.
    """

    def __init__(self, config: TrainConfig, out: str | Path, *, data=None, data_dir=None,
                 download: bool = True, plots: bool = True, progress_every: int | None = None,
                 on_end: Callable[[LiveRun], Any] | None = None,
                 snapshot: Callable[[Any], dict] | None = None):
        self.config = config.resolved()
        self.path = Path(out)
        self.id = self.path.name
        self.status = "starting"  # starting, running, then one of FINAL
        self.message = ""
        self.error: BaseException | None = None
        self.run = None  # the chainrule.training.runs.Run, once created
        super().__init__()
        self._data, self._data_dir, self._download = data, data_dir, download
        self._plots, self._progress_every, self._on_end = plots, progress_every, on_end
        self._snapshot = snapshot
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"chainrule-live-{self.id}",
                                        daemon=True)
        self._progress_from = 0  # index into step_loss of the next progress window

    # -------------------------------------------------------------- control

    def start(self) -> LiveRun:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the step in progress; the run is saved and can be resumed."""
        self._stop.set()
        run = self.run
        if run is not None:
            run.loop.request_stop()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True when it has finished."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def done(self) -> bool:
        return self.status in FINAL

    @property
    def has_model(self) -> bool:
        """Whether the run left a ``model.npz`` (completed or stopped)."""
        return (self.path / "model.npz").is_file()

    # -------------------------------------------------------------- the thread

    def _main(self) -> None:
        try:
            self.run = run = Run.create(self.config, self.path, data=self._data,
                                        data_dir=self._data_dir, download=self._download)
        except Exception as exc:  # noqa: BLE001 - reported as the run's end, one line
            self._finish("failed", _failure(exc), error=exc)
            return
        self._data = None  # the run holds it now
        with run:  # the folder's lock is released before the end event, however it ends
            status, message, error = self._train(run)
        self._finish(status, message, error=error)

    def _train(self, run) -> tuple[str, str, BaseException | None]:
        """Train ``run`` to its end; its final status, message and error."""
        loop = run.loop
        every = self._progress_every or max(25, loop.iters // 200)
        init = self.config.weight_init_std
        self.emit({"type": "created", "path": str(run.path), "dataset": self.config.dataset,
                    "net": describe_net(run.info["net"], init),
                    "architecture": architecture(run.info["net"], init),
                    "config": self.config.to_dict(), "iters": loop.iters,
                    "progress_every": every,
                    "start_iteration": loop.iteration,
                    "iters_per_epoch": loop.iters_per_epoch, "eval_every": loop.eval_every,
                    "train_size": run.info["train_size"], "test_size": run.info["test_size"]})
        self._take_snapshot(loop)
        self.status = "running"
        if self._stop.is_set():
            loop.request_stop()
        try:
            summary = run.train(on_eval=self._on_eval, on_progress=self._on_progress,
                                progress_every=every, plots=self._plots, handle_sigint=False)
        except TrainingDiverged as exc:
            self._on_progress(loop)  # the steps since the last progress event
            self._flush_rows()
            return "diverged", _failure(exc), exc
        except Exception as exc:  # noqa: BLE001 - a full disk (SaveError), ...: told, not raised
            self._on_progress(loop)
            self._flush_rows()
            return "failed", _failure(exc), exc
        self._flush_rows()
        if summary.status == "completed":
            return "completed", "", None
        return "stopped", said("live.stopped", iteration=summary.iteration, iters=summary.iters,
                               path=str(run.path)), None

    def _on_progress(self, loop) -> None:
        if self._stop.is_set():
            loop.request_stop()  # asked for before the loop began
        losses = loop.history.step_loss[self._progress_from:]
        if not losses:
            return
        self._progress_from = len(loop.history.step_loss)
        self.emit({"type": "progress", "iteration": loop.iteration,
                    "epoch": loop.iteration / loop.iters_per_epoch,
                    "loss": finite_or_none(math.fsum(losses) / len(losses)),
                    "loss_min": finite_or_none(min(losses)),
                    "loss_max": finite_or_none(max(losses))})
        self._take_snapshot(loop)

    def _take_snapshot(self, loop) -> None:
        if self._snapshot is not None:
            self.emit({"type": "snapshot", **self._snapshot(loop.net),
                        "iteration": loop.iteration})

    def _on_eval(self, loop, row: dict) -> None:
        self.emit({"type": "eval", **{k: finite_or_none(v) if k != "iteration" else int(v)
                                       for k, v in row.items()}})

    def _flush_rows(self) -> None:
        """Eval events for rows the loop recorded without calling back (the evaluation
        that was running when the run stopped or diverged)."""
        sent = sum(1 for e in self.events if e["type"] == "eval")
        for row in self.run.history.rows()[sent:]:
            self._on_eval(self.run.loop, row)

    def _finish(self, status: str, message: str, *, error: BaseException | None = None) -> None:
        self.status, self.message, self.error = status, message, error
        summary = getattr(self.run, "summary", None)
        if self._on_end is not None:
            with contextlib.suppress(Exception):
                self._on_end(self)
        facts = None if self.run is None or status not in ("completed", "stopped") else \
            learning_check(self.run.history, self.config, summary=summary)
        warning = _said(facts)
        self.emit({"type": "end", "status": status, "message": message,
                    **coded_fields("message", message),
                    "warning": warning, **coded_fields("warning", warning),
                    "warning_facts": facts,
                    "model": self.has_model,
                    "summary": None if summary is None else summary.to_dict()})


def learning_check(history, config: TrainConfig, num_classes: int = 10, *,
                   summary=None) -> dict | None:
    """The facts when a run's evaluations say it learned nothing, else None.

    Not learning: at least two evaluations and the last accuracy (test, else train) at
    most 1.5 times chance (``1 / num_classes``); the last is the run's ``summary``
    (:class:`~chainrule.training.runs.Summary`) when it measured the network after the last
    row. If some mini-batch loss was more than twice the first, ``cause`` is
    ``"high"``: that is what a too-high rate does to these networks when the loss
    neither turns NaN nor grows past the divergence rule's 1000 times the first (SGD
    at lr 10 on MNIST: ReLU units die, and the loss, after a peak below that rule,
    settles near ``log(num_classes)``), so :class:`~chainrule.training.loop.TrainingDiverged`
    does not fire. Otherwise ``cause`` is ``"low"``: the rate is too low or the run too
    short. The other keys: ``iterations`` (when the accuracy was measured),
    ``accuracy``, ``first_loss`` (step 1's mini-batch loss), ``worst_loss`` (the highest
    step's, at step ``worst_at``, counted from 1), ``last_loss`` (of the last evaluation
    row) and ``lr``.
    """
    rows = history.rows()
    if len(rows) < 2 or not history.step_loss:
        return None
    last = rows[-1]
    iterations = int(last["iteration"]) + 1
    acc = last["test_acc"] if math.isfinite(last["test_acc"]) else last["train_acc"]
    if summary is not None and summary.evaluated_at > iterations:
        iterations = summary.evaluated_at
        acc = summary.test_acc if math.isfinite(summary.test_acc) else summary.train_acc
    if not (math.isfinite(acc) and acc <= 1.5 / num_classes):
        return None
    steps = history.step_loss
    at = max(range(len(steps)), key=steps.__getitem__)
    first, worst = steps[0], steps[at]
    return {"cause": "high" if worst > 2 * first else "low", "iterations": iterations,
            "accuracy": acc, "first_loss": first, "worst_loss": worst, "worst_at": at + 1,
            "last_loss": finite_or_none(last["loss"]), "lr": config.lr}


def not_learning(history, config: TrainConfig, num_classes: int = 10, *,
                 summary=None) -> str:
    """:func:`learning_check` in a sentence (``""`` when the run learned)."""
    return _said(learning_check(history, config, num_classes, summary=summary))


def _said(f: dict | None) -> str:
    """The facts of :func:`learning_check` in a sentence (a ``Said`` string), or ``""``."""
    if f is None:
        return ""
    shown = {"iterations": f["iterations"], "accuracy": f"{f['accuracy']:.3f}",
             "first_loss": f"{f['first_loss']:.3g}", "lr": f"{f['lr']:g}"}
    if f["cause"] == "high":
        return said("live.not_learning_high", **shown, worst_loss=f"{f['worst_loss']:.3g}",
                    worst_at=f["worst_at"])
    last = "?" if f["last_loss"] is None else f"{f['last_loss']:.3g}"
    return said("live.not_learning_low", **shown, last_loss=last)


def _failure(exc: BaseException) -> str:
    """An exception's message, its first line (a missing dataset's message is long), as a
    ``Said`` string: with the error's own code when it has one, else ``live.failed``."""
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    if isinstance(exc, Coded) and exc.code:
        out = said(exc.code, **exc.params)
        if out == text:
            return out
    return said("live.failed", reason=text)


class LiveRuns:
    """The runs of one server: at most one trains at a time; the last ``keep`` are kept
    (by id) so their events can still be read."""

    def __init__(self, root: str | Path = "runs", *, keep: int = 50):
        self.root, self.keep = Path(root), keep
        self._runs: dict[str, LiveRun] = {}
        self._lock = threading.Lock()

    def start(self, config: TrainConfig, out: str | Path | None = None, **kwargs) -> LiveRun:
        """Start training ``config`` in ``out`` (default: a new ``root/<timestamp>``).
        Raises :class:`TrainingBusy` while another run trains, ``ValueError`` for a bad
        config (before any folder is made)."""
        config = config.resolved()
        with self._lock:
            busy = self.active()
            if busy is not None:
                raise TrainingBusy.said("live.busy", run=busy.id)
            path = Path(out) if out is not None else new_run_dir(self.root)
            live = LiveRun(config, path, **kwargs)
            if live.id in self._runs:
                live.id = f"{live.id}-{len(self._runs)}"
            self._runs[live.id] = live
            while len(self._runs) > self.keep:
                oldest = next(iter(self._runs))
                if not self._runs[oldest].done:
                    break
                del self._runs[oldest]
            live.start()
        return live

    def active(self) -> LiveRun | None:
        """The run that is training now, if any."""
        return next((r for r in self._runs.values() if not r.done), None)

    def get(self, run_id: str) -> LiveRun | None:
        return self._runs.get(run_id)

    def all(self) -> list[LiveRun]:
        return list(self._runs.values())

    def close(self, timeout: float = 10.0) -> None:
        """Stop every run and wait (up to ``timeout`` seconds) for them to save."""
        runs = self.all()
        for r in runs:
            r.stop()
        for r in runs:
            r.join(timeout)
