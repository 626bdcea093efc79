"""A training run kept on disk: start it, let it be interrupted, resume it exactly.

A run folder (default ``runs/<timestamp>/``) holds:

- ``config.json``: the :class:`~chainrule.train.TrainConfig` as resolved (the learning
  rate and weight init that were used) plus derived facts (the network's class and
  architecture, set sizes, iterations per epoch, version);
- ``metrics.csv``: one row per evaluation (see :class:`~chainrule.train.History`);
- ``checkpoint.npz``: everything needed to resume (written at the start, after every
  evaluation and when the run stops; never after a NaN loss, so it stays the last
  good state);
- ``model.npz``: the trained network, loadable with ``chainrule.checkpoint.load_model``;
- ``summary.json``: status, final accuracies, wall time, iterations per second;
- ``accuracy.png`` and ``loss.png``: the figures.

Every file is written atomically. Nothing here prints.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from chainrule import checkpoint, files
from chainrule.train import (
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
IMAGE_SHAPES = {"mnist": (28, 28), "fashion-mnist": (28, 28), "digits": (8, 8)}


class RunError(ValueError):
    """A run folder cannot be created or resumed (the message says why and what to do)."""


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

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}


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
    """A :class:`~chainrule.train.Trainer` bound to a run folder.

    Make one with :meth:`create` or :meth:`resume`, then call :meth:`train`.
    """

    def __init__(self, path: Path, config: TrainConfig, trainer: Trainer, info: dict):
        self.path, self.config, self.trainer, self.info = path, config, trainer, info
        self.summary: Summary | None = None

    @property
    def history(self) -> History:
        return self.trainer.history

    @property
    def net(self):
        return self.trainer.net

    def file(self, name: str) -> Path:
        return self.path / name

    # -------------------------------------------------------------- opening

    @classmethod
    def create(cls, config: TrainConfig | None = None, out: str | os.PathLike | None = None,
               *, data: Data | None = None, data_dir=None, download: bool = True) -> Run:
        """A new run of ``config`` in ``out`` (default ``runs/<timestamp>``), not yet trained.

        ``out`` may exist if it holds no run. ``data`` replaces loading ``config.dataset``.
        """
        config = (config or TrainConfig()).resolved()  # config.json records lr, init
        if out is not None and (Path(out) / CONFIG).exists():
            raise RunError(f"{out} already holds a run; resume it with --resume {out} "
                           "or choose another output folder")
        if data is None:
            data = load_data(config.dataset, data_dir, config.dtype, download=download)
        _check_batch(config, data)
        trainer = Trainer.from_config(config, data)
        path = Path(out) if out is not None else new_run_dir()
        path.mkdir(parents=True, exist_ok=True)
        info = _info(config, trainer, data_dir)
        files.write_json(path / CONFIG, {**config.to_dict(), **info})
        run = cls(path, config, trainer, info)
        run.save_checkpoint()
        return run

    @classmethod
    def resume(cls, path: str | os.PathLike, *, iters: int | None = None,
               epochs: float | None = None, data: Data | None = None, data_dir=None,
               download: bool = True) -> Run:
        """The run in ``path`` at its last checkpoint, optionally with a new length."""
        path = Path(path)
        config_file, ckpt_file = path / CONFIG, path / CHECKPOINT
        if not config_file.is_file():
            raise RunError(f"{path} is not a run folder: no {CONFIG}")
        if not ckpt_file.is_file():
            raise RunError(f"{path} has no {CHECKPOINT} to resume from")
        try:
            saved = json.loads(config_file.read_text(encoding="utf-8"))
            config = TrainConfig.from_dict(saved).resolved()
        except (ValueError, TypeError) as exc:
            raise RunError(f"{config_file}: unreadable run config ({exc})") from exc
        state = checkpoint.load_checkpoint(ckpt_file)
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
        if state["net"] != trainer.net.config():
            raise RunError(f"{ckpt_file}: the network {state['net']} does not match the "
                           f"config's {trainer.net.config()}")
        trainer.load_state_dict(state)
        if trainer.iters < trainer.iteration:
            raise RunError(f"{path} is already at iteration {trainer.iteration}; "
                           f"cannot resume to {trainer.iters} iterations")
        info = {**_info(config, trainer, data_dir), "created": saved.get("created")}
        if trainer.iters != saved.get("total_iters"):
            files.write_json(config_file, {**config.to_dict(), **info})
        return cls(path, config, trainer, info)

    # -------------------------------------------------------------- training

    def train(self, *, on_eval=None, on_progress=None, progress_every: int = 50,
              plots: bool = True, handle_sigint: bool = True) -> Summary:
        """Train to the end (or until Ctrl-C); keep every file up to date; return the summary.

        Callbacks are passed to :meth:`Trainer.run`. On a NaN/inf loss the files are
        written (the checkpoint stays at the last good state) and
        :class:`~chainrule.train.TrainingDiverged` is raised; ``self.summary`` is set.
        """
        trainer = self.trainer
        start_iteration, t0 = trainer.iteration, time.perf_counter()

        def evaluated(tr: Trainer, row: dict) -> None:
            self.save_checkpoint()
            self.write_metrics()
            if on_eval is not None:
                on_eval(tr, row)

        try:
            trainer.run(on_eval=evaluated, on_progress=on_progress,
                        progress_every=progress_every, handle_sigint=handle_sigint)
        except TrainingDiverged as exc:
            self.summary = self._summary(t0, start_iteration, str(exc))
            self._finish(plots, model=False)
            raise
        self.summary = self._summary(t0, start_iteration)
        self.save_checkpoint()
        self._finish(plots, model=True)
        return self.summary

    def _summary(self, t0: float, start_iteration: int, message: str = "") -> Summary:
        trainer = self.trainer
        last = trainer.history.last()
        if trainer.status == "completed" and trainer.iteration > 0 and (
                last is None or last["iteration"] != trainer.iteration - 1):
            train_acc, test_acc = trainer.evaluate()  # the network as saved
            evaluated_at = trainer.iteration
        elif last is not None:
            train_acc, test_acc = last["train_acc"], last["test_acc"]
            evaluated_at = int(last["iteration"]) + 1
        else:
            train_acc = test_acc = math.nan
            evaluated_at = 0
        wall = time.perf_counter() - t0
        steps = trainer.iteration - start_iteration
        return Summary(trainer.status, trainer.iteration, trainer.iters, train_acc, test_acc,
                       evaluated_at, wall, steps, steps / wall if wall > 0 else math.nan,
                       message)

    def _finish(self, plots: bool, *, model: bool) -> None:
        self.write_metrics()
        if model:
            self.save_model()
        files.write_json(self.file(SUMMARY), self.summary.to_dict())
        if plots:
            self.write_plots()

    # -------------------------------------------------------------- files

    def meta(self) -> dict[str, Any]:
        from chainrule.datasets import class_names

        input_size = self.trainer.x_train.shape[1]
        return {"dataset": self.config.dataset,
                "class_names": list(class_names(self.config.dataset)),
                "image_shape": image_shape(self.config.dataset, input_size),
                "input_range": [0.0, 1.0]}

    def save_checkpoint(self) -> Path:
        return checkpoint.save_checkpoint(self.file(CHECKPOINT), self.trainer, meta=self.meta())

    def save_model(self) -> Path:
        return checkpoint.save_model(self.file(MODEL), self.net, meta=self.meta())

    def write_metrics(self) -> Path:
        files.write_text(self.file(METRICS), self.history.to_csv())
        return self.file(METRICS)

    def write_plots(self) -> list[Path]:
        from chainrule import plot

        return [plot.plot_accuracy(self.history, self.file(ACCURACY_PNG)),
                plot.plot_loss(self.history, self.file(LOSS_PNG))]

    def files(self) -> list[str]:
        """The names of the run's files that exist."""
        names = (CONFIG, METRICS, CHECKPOINT, MODEL, SUMMARY, ACCURACY_PNG, LOSS_PNG)
        return [n for n in names if self.file(n).exists()]


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
          plots: bool = True, **options) -> Run:
    """Train as ``chainrule train`` does and return the :class:`Run` (``run.history``,
    ``run.net``, ``run.summary``). ``options`` override fields of ``config``
    (``train(iters=2000, lr=0.05)``); ``resume`` continues a run folder instead.
    """
    if resume is not None:
        unknown = set(options) - {"iters", "epochs"}
        if config is not None or unknown:
            raise RunError("resume: only iters or epochs may be given with resume")
        run = Run.resume(resume, data=data, data_dir=data_dir, **options)
    else:
        config = TrainConfig.from_dict({**(config or TrainConfig()).to_dict(), **options})
        unknown = set(options) - set(config.to_dict())
        if unknown:
            raise TypeError(f"train: unknown option(s) {', '.join(sorted(unknown))}")
        run = Run.create(config, out, data=data, data_dir=data_dir)
    run.train(plots=plots)
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
