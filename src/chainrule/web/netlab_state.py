"""The network lab's state: which network it shows, the first network it trains, its runs."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.core.messages import Catalog, coded_fields, said
from chainrule.data.catalog import class_names, image_shape
from chainrule.data.load import load_data
from chainrule.data.locate import cache_dir, dataset_status, offline_reason
from chainrule.nn.describe import architecture, describe_net
from chainrule.nn.network import input_shape
from chainrule.store.files import read_json
from chainrule.training.checkpoint import CheckpointError, read_model
from chainrule.training.config import TrainConfig
from chainrule.training.folder import RunError, find_model
from chainrule.training.live import LiveRun, LiveRuns, TrainingBusy
from chainrule.web.kit import RequestError

MESSAGES = Catalog("net", {
    # the network as an ONNX file (GET /api/model.onnx)
    "net.onnx_no_options": "/api/model.onnx takes no options",
    "net.onnx_missing": "exporting the network as ONNX needs the {package} package: "
                        "pip install 'chainrule[export]'",
    "net.onnx_refused": "this network cannot be exported as ONNX: {reason}",
    # the request's fields (netlab_input)
    "net.not_object": "the body must be a JSON object",
    "net.unknown_option": "unknown option {names}; allowed: {allowed}",
    "net.whole_number": "{field} must be a whole number from {min} to {max}, got {got}",
    "net.number_range": "{field} must be a number from {min} to {max}, got {got}",
    "net.number_above": "{field} must be a number above {min} and at most {max}, got {got}",
    "net.label_required": "label is required: the true class of the digit",
    "net.pixels_or_image": "give either pixels (a list of numbers in 0..1) or image (a PNG "
                           "data URL), not both or neither",
    "net.pixels_count": "pixels must be a list of {n} numbers, got {got} values",
    "net.pixels_not_list": "pixels must be a list of {n} numbers, got {kind}",
    "net.pixels_numbers": "pixels must hold only numbers",
    "net.pixels_range": "pixels must be numbers in 0..1",
    "net.image_not_string": "image must be a data URL string (data:image/png;base64,...)",
    "net.image_type": "image must be a PNG or JPEG data URL (data:image/png;base64,...)",
    "net.image_base64": "image: the base64 data is corrupt",
    "net.image_too_large": "image: too large (at most {max} a side)",
    "net.image_unreadable": "image: not a picture Pillow can read",
    "net.image_format": "image: the data is {format}, not {expected}",
    "net.image_size": "image: {width}x{height} is too large (at most {max} a side)",
    "net.image_damaged": "image: the picture is damaged",
    "net.dataset": "dataset must be one of {choices}, got {got}",
    "net.hidden": "hidden must be 1 to {layers} layer sizes, each from 1 to {size}, got {got}",
    "net.activation": "activation must be relu, sigmoid or tanh, got {got}",
    "net.optimizer": "optimizer must be one of {choices}, got {got}",
    "net.batchnorm": "batchnorm must be true or false, got {got}",
    "net.iters_or_epochs": "give iters or epochs, not both",
    "net.too_many_iters": "{steps} iterations is more than the lab runs (at most {max}); use "
                          "chainrule train for longer runs",
    "net.too_many_evals": "eval_every {every} gives {evaluations} evaluations; the lab makes "
                          "at most {max} (at least every {least} iterations)",
    "net.too_big": "this run is too big for the lab ({steps} steps x batch {batch} x {weights} "
                   "weights); make it smaller or use chainrule train",
    "net.config": "{reason}",  # TrainConfig's own words
    # the routes (netlab) and the lab's state (this module)
    "net.run_id": 'run must be a run id (a string) or "first"',
    "net.no_test_images": "no {dataset} test images: {reason}",
    "net.no_train_images": "no {dataset} training images to learn among: {reason}",
    "net.index": "index must be a whole number from 0 to {max}",
    "net.images_do_not_fit": "the {dataset} images do not fit the model",
    "net.first_busy": "the lab is still training its first network; try again in a few "
                      "seconds",
    "net.cannot_start": "{reason}",  # the library's words
    "net.no_run": "no run {run!r} in this lab",
    "net.first_not_stoppable": "the first network is still training and cannot be stopped "
                               "from the page; it is ready in a few seconds",
    "net.first_not_ready": "the first network is not ready yet",
    "net.run_not_ready": "run {run} has no trained network yet (it is {status})",
    "net.bad_model": "{reason}",  # LabError's words
    "net.first_training": "the first network is still training; it is ready in a few seconds",
    "net.first_on": "training a first network on {dataset}",
    "net.first_digits": "no MNIST here: training a first network on the bundled 8x8 digits",
    "net.unavailable": "no network to show ({reason}). Start the lab with --model RUN_DIR, "
                       "put MNIST where chainrule finds it (chainrule data fetch mnist, or "
                       "CHAINRULE_DATA), or pip install 'chainrule[digits]' for the bundled "
                       "8x8 digits",
})
"""The network lab's words by code (see :mod:`chainrule.core.messages`); ``reason`` is a
text of the library that has no code, ``status`` a run's status (``msg.term.*``)."""

FIRST_ITERS = {"mnist": 5000, "digits": 3000}
"""The first network: the book's TwoLayerNet, SGD lr 0.1, batch 100, this many steps."""


class LabError(ValueError):
    """The lab cannot start as asked (a bad ``--model``); one line."""


@dataclass
class LabModel:
    """A network the lab predicts with, and what the page says about it."""

    net: Any
    id: str  # "first", or a run id
    dataset: str
    image_shape: tuple[int, int]
    class_names: list[str]
    description: str  # describe_net's English (the command line's words)
    architecture: dict = field(default_factory=dict)  # the same as fields, for the page
    test_acc: float | None = None
    iterations: int | None = None
    path: str | None = None
    source: str = "given"  # given (--model), first (trained on start) or run (from the page)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def input_size(self) -> int:
        return self.image_shape[0] * self.image_shape[1]

    def info(self) -> dict:
        return {"id": self.id, "description": self.description,
                "architecture": self.architecture, "dataset": self.dataset,
                "image_shape": list(self.image_shape), "class_names": self.class_names,
                "test_acc": self.test_acc, "iterations": self.iterations, "path": self.path,
                "source": self.source}


def load_lab_model(target: str | os.PathLike, model_id: str = "first",
                   source: str = "given") -> LabModel:
    """The network in a run folder or model file; :class:`LabError` if it is unusable."""
    try:
        path, saved = find_model(target)
        model = read_model(path)
    except (RunError, CheckpointError, OSError) as exc:
        raise LabError(str(exc)) from None
    net, meta, saved = model.net, model.meta, saved or {}
    size = math.prod(input_shape(net))
    dataset = meta.get("dataset") or saved.get("dataset") or "mnist"
    shape = meta.get("image_shape") or image_shape(dataset, size)
    if not shape or len(shape) != 2 or shape[0] * shape[1] != size:
        raise LabError(f"{path}: the network's {size} inputs are not a square image")
    if not all(np.all(np.isfinite(p)) for p in net.params.values()):
        raise LabError(f"{path}: the network's weights hold NaN or infinite values")
    try:
        outputs = int(net.predict(np.zeros((1, *input_shape(net)), net.dtype)).shape[-1])
        names = list(meta.get("class_names") or class_names(dataset))
    except ValueError as exc:
        raise LabError(f"{path}: {exc}") from None
    if len(names) != outputs:
        names = [str(c) for c in range(outputs)]
    summary = _read_json(Path(path).parent / "summary.json") if saved else {}
    test_acc = summary.get("test_acc")
    return LabModel(net, model_id, dataset, (int(shape[0]), int(shape[1])), names,
                    describe_net(model.config), architecture(model.config),
                    test_acc if isinstance(test_acc, float) else None,
                    summary.get("iteration"), str(path), source)


def _read_json(path: Path) -> dict:
    try:
        return read_json(path, expect=dict)
    except (OSError, ValueError):
        return {}


# ---------------------------------------------------------------- the lab's state


class FirstNetwork:
    """Which network a lab page looks into, and the first one it trains: what the network
    lab and the convolution page share. A subclass sets ``runs``, ``first``, ``model``,
    ``status``, ``message``, ``first_run`` and ``_lock``, says where its first network is
    kept (:meth:`_folder`) and in which words it is unavailable (``UNAVAILABLE``, a code
    with ``{reason}``), and trains it in ``_first_network(dataset)``: in a folder of this
    process's own, renamed into place when complete (:meth:`_first_done`), so two labs
    starting at once never share a half-written folder."""

    UNAVAILABLE = "net.unavailable"
    TRAINING = "net.first_training"

    def _folder(self, dataset: str) -> Path:
        raise NotImplementedError

    def _first_network(self, dataset: str) -> None:
        raise NotImplementedError

    def _kept(self, dataset: str) -> bool:
        """The first network kept from an earlier start is used (True), if it loads."""
        folder = self._folder(dataset)
        if (folder / "model.npz").is_file():
            with contextlib.suppress(LabError):
                self._use_first(load_lab_model(folder, source="first"))
                return True
        return False

    def _first_done(self, live: LiveRun) -> None:
        dataset = live.config.dataset
        if live.status == "completed":
            folder = self._folder(dataset)
            try:
                live.path.rename(folder)
            except OSError:  # another lab got there first: use its network
                shutil.rmtree(live.path, ignore_errors=True)
            try:
                self._use_first(load_lab_model(folder, source="first"))
            except LabError as exc:
                self._unavailable(str(exc))
            return
        shutil.rmtree(live.path, ignore_errors=True)
        if dataset == "mnist" and live.status == "failed":
            self._first_network("digits")
        else:
            self._unavailable(live.message or live.status)

    def _use_first(self, model: LabModel) -> None:
        with self._lock:
            self.first = model
            if self.model is None:
                self.model = model
            self.status, self.message = "ready", ""

    def _unavailable(self, why: str) -> None:
        self.status = "unavailable"
        self.message = said(self.UNAVAILABLE, reason=why)

    def start(self) -> None:
        raise NotImplementedError

    def _check_run(self, live: LiveRun) -> None:
        """Refuse a run this page cannot look into (every run, here)."""

    def use(self, run_id: str) -> LabModel:
        """Look into run ``run_id`` (``"first"``: the given or first network) from now on."""
        if run_id == "first":
            if self.first is None:
                raise RequestError("net.first_not_ready", 409)
            self.model = self.first
            return self.model
        live = self.runs.get(run_id)
        if live is None:
            raise RequestError("net.no_run", 404, run=run_id)
        self._check_run(live)
        if not live.done or not live.has_model:
            raise RequestError("net.run_not_ready", 409, run=run_id, status=live.status)
        try:
            self.model = load_lab_model(live.path, run_id, "run")
        except LabError as exc:
            raise RequestError("net.bad_model", 409, reason=str(exc)) from None
        return self.model

    def current(self) -> LabModel:
        """The network in use; while there is none, a 409 that says why."""
        self.start()
        model = self.model
        if model is None:
            if self.status in ("unavailable", "waiting"):  # the message says why
                raise RequestError.of(self.message, 409)
            raise RequestError(self.TRAINING, 409)
        return model


class NetLab(FirstNetwork):
    """What the network lab keeps between requests.

    ``model``: a run folder or model file (``chainrule serve --model``), loaded now. Without
    it, :meth:`start` trains a first network in the background: the book's TwoLayerNet
    on MNIST (found on disk, else downloaded when ``download`` allows, as ``load_mnist``
    does), else on the bundled ``digits``; kept under ``first_root`` (default: the
    chainrule cache) and reused on the next start. Runs from the page go to ``runs_dir``.
    """

    def __init__(self, model: str | os.PathLike | None = None, *,
                 runs_dir: str | os.PathLike = "runs", data_dir=None, download: bool = True,
                 first_root: str | os.PathLike | None = None, plots: bool = True,
                 first_iters: dict[str, int] | None = None, seed: int | None = None):
        self.runs = LiveRuns(runs_dir)
        self.data_dir, self.download, self.plots = data_dir, download, plots
        self.first_root = Path(first_root) if first_root else cache_dir() / "lab"
        self.first_iters = {**FIRST_ITERS, **(first_iters or {})}
        self.rng = np.random.default_rng(seed)
        self.first: LabModel | None = load_lab_model(model) if model is not None else None
        self.model: LabModel | None = self.first
        self.status = "ready" if self.model else "new"  # new, training, ready, unavailable
        self.message = ""
        self.first_run: LiveRun | None = None
        self._lock = threading.Lock()
        self._datasets: dict[str, Any] = {}

    # -------------------------------------------------------------- the first network

    def start(self) -> None:
        """Begin training (or loading) the first network, once; returns at once."""
        with self._lock:
            if self.status != "new":
                return
            self.status = "training"
        self._first_network(self._first_dataset())

    def _first_dataset(self) -> str:
        """mnist when its files are on disk or it may be downloaded (and no digits network
        is kept from an earlier start without MNIST); else digits."""
        if (self.first_root / "mnist" / "model.npz").is_file():
            return "mnist"
        try:
            found = dataset_status("mnist", self.data_dir).found
        except (OSError, ValueError):
            found = False
        if found:
            return "mnist"
        kept = (self.first_root / "digits" / "model.npz").is_file()
        return "mnist" if offline_reason(self.download) is None and not kept else "digits"

    def _first_network(self, dataset: str) -> None:
        """Use the first network kept in ``first_root/<dataset>``, else train it there.

        It trains in a folder of this process's own and is renamed into place when
        complete, so two labs starting at once never share a half-written folder."""
        if self._kept(dataset):
            return
        work = self.first_root / f"{dataset}-training-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)  # left by an earlier process with our id
        config = TrainConfig(dataset=dataset, iters=self.first_iters[dataset])
        self.message = (said("net.first_on", dataset=dataset) if dataset == "mnist" else
                        said("net.first_digits"))
        try:
            self.first_run = self.runs.start(config, work, data_dir=self.data_dir,
                                             download=self.download, plots=self.plots,
                                             on_end=self._first_done)
        except (TrainingBusy, OSError, ValueError) as exc:
            self._unavailable(str(exc))

    def _folder(self, dataset: str) -> Path:
        return self.first_root / dataset

    def close(self) -> None:
        self.runs.close()

    # -------------------------------------------------------------- which model

    def info(self) -> dict:
        self.start()
        active = self.runs.active()
        return {
            "status": self.status, "message": self.message,
            **coded_fields("message", self.message),
            "model": None if self.model is None else self.model.info(),
            "first_run": None if self.first_run is None else self.first_run.id,
            "training": None if active is None else active.id,
            "runs": [{"id": r.id, "status": r.status, "has_model": r.has_model,
                      "dataset": r.config.dataset, "first": r is self.first_run,
                      "message": r.message, **coded_fields("message", r.message)}
                     for r in self.runs.all()],
        }

    def _data(self, dataset: str):
        """``dataset`` (loaded once, without downloading unless the lab may)."""
        with self._lock:
            if dataset not in self._datasets:
                self._datasets[dataset] = load_data(dataset, self.data_dir,
                                                    download=self.download)
            return self._datasets[dataset]

    def test_set(self, dataset: str):
        """The test images and labels of ``dataset``."""
        data = self._data(dataset)
        return data.x_test, data.t_test

    def train_set(self, dataset: str):
        """The training images and labels of ``dataset``: a step of learning among them."""
        data = self._data(dataset)
        return data.x_train, data.t_train
