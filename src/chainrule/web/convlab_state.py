"""The convolution page's state: which SimpleConvNet it looks into, and its first one.

The network, in this order of choice:

1. the ``--model`` run (``chainrule serve --model RUN_DIR``) when it is a SimpleConvNet;
2. a network trained from the page (its filters seen forming), once the learner picks it;
3. else a first SimpleConvNet, trained when the page first asks for a network: the book's
   network and ``train_convnet.py``'s Adam 0.001, batch 100, for :data:`FIRST_ITERS`
   steps (one epoch of MNIST: ~97% on the test set; seconds); kept in the lab's cache
   beside the network lab's first network (``conv-<dataset>/``) and reused on the next
   start. It trains as one of the lab's runs (the network lab's ``LiveRuns``: one run at
   a time), so while another run trains it waits and the page says so; the page can
   follow it and watch its filters form.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from chainrule.core.messages import Catalog, coded_fields, said
from chainrule.data.locate import dataset_status, offline_reason
from chainrule.nn.conv_probe import probeable
from chainrule.training.config import TrainConfig
from chainrule.training.live import LiveRun, TrainingBusy
from chainrule.web.convlab_answers import filters_of
from chainrule.web.kit import RequestError
from chainrule.web.netlab_state import FirstNetwork, LabModel, NetLab

MESSAGES = Catalog("conv", {
    "conv.first_on": "training a first SimpleConvNet on {dataset}",
    "conv.waiting": "a training run is in progress ({run}): the first SimpleConvNet trains "
                    "when it ends",
    "conv.first_training": "the first SimpleConvNet is still training; it is ready in a few "
                           "seconds",
    "conv.unavailable": "no SimpleConvNet to look into ({reason}); train one with the form "
                        "below",
    "conv.not_conv": "run {run} is not a SimpleConvNet",
})
"""The convolution page's words (see :mod:`chainrule.core.messages`)."""

FIRST_ITERS = {"mnist": 600, "digits": 300}
"""Steps of the first SimpleConvNet (Adam 0.001, batch 100): an epoch of MNIST."""


class ConvLab(FirstNetwork):
    """What the convolution page keeps between requests (see the module's docstring)."""

    UNAVAILABLE = "conv.unavailable"
    TRAINING = "conv.first_training"

    def __init__(self, netlab: NetLab, *, first_iters: dict[str, int] | None = None):
        self.netlab, self.runs = netlab, netlab.runs
        self.first_iters = {**FIRST_ITERS, **(first_iters or {})}
        given = netlab.first if netlab.first is not None and netlab.first.source == "given" \
            else None
        self.first: LabModel | None = given if given and probeable(given.net) else None
        self.model: LabModel | None = self.first
        self.status = "ready" if self.model else "new"  # new, waiting, training, ready, unavailable
        self.message = ""
        self.first_run: LiveRun | None = None
        self._lock = threading.Lock()

    # -------------------------------------------------------------- the first network

    def start(self) -> None:
        """Begin training (or loading) the first network unless it is under way; returns
        at once. While another run trains, the status is ``waiting`` and the next call
        tries again."""
        with self._lock:
            if self.status not in ("new", "waiting"):
                return
            self.status = "training"
        # the network lab's first network comes first: the lab trains one run at a time,
        # and that one, refused, would not be tried again (this one waits and retries)
        self.netlab.start()
        self._first_network(self._first_dataset())

    def _first_dataset(self) -> str:
        lab = self.netlab
        if (lab.first_root / "conv-mnist" / "model.npz").is_file():
            return "mnist"
        try:
            found = dataset_status("mnist", lab.data_dir).found
        except (OSError, ValueError):
            found = False
        return "mnist" if found or offline_reason(lab.download) is None else "digits"

    def _first_network(self, dataset: str) -> None:
        lab = self.netlab
        if self._kept(dataset):
            return
        work = lab.first_root / f"conv-{dataset}-training-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        iters = self.first_iters.get(dataset, FIRST_ITERS["mnist"])
        config = TrainConfig.for_network("simple-conv", dataset=dataset, iters=iters,
                                         eval_every=max(iters // 6, 1), eval_samples=1000)
        try:
            self.first_run = self.runs.start(
                config, work, data_dir=lab.data_dir, download=lab.download, plots=lab.plots,
                on_end=self._first_done, snapshot=filters_of,
                progress_every=progress_every(iters))
            self.message = said("conv.first_on", dataset=dataset)
        except TrainingBusy:
            active = self.runs.active()
            self.status = "waiting"
            self.message = said("conv.waiting", run=active.id if active else "?")
        except (OSError, ValueError) as exc:
            self._unavailable(str(exc).splitlines()[0])

    def _folder(self, dataset: str) -> Path:
        return self.netlab.first_root / f"conv-{dataset}"

    # -------------------------------------------------------------- which model

    def conv_runs(self) -> list[LiveRun]:
        """The lab's runs of a SimpleConvNet, the first one included."""
        return [r for r in self.runs.all() if r.config.network == "simple-conv"]

    def info(self) -> dict:
        self.start()
        active = self.runs.active()
        return {
            "status": self.status, "message": self.message,
            **coded_fields("message", self.message),
            "model": None if self.model is None else self.model.info(),
            "first_run": None if self.first_run is None else self.first_run.id,
            "training": None if active is None else active.id,
            "training_conv": active is not None and active.config.network == "simple-conv",
            "runs": [{"id": r.id, "status": r.status, "has_model": r.has_model,
                      "dataset": r.config.dataset, "first": r is self.first_run}
                     for r in self.conv_runs()],
        }

    def _check_run(self, live: LiveRun) -> None:
        if live.config.network != "simple-conv":
            raise RequestError("conv.not_conv", 409, run=live.id)


def progress_every(iters: int) -> int:
    """Steps between progress events (and filter snapshots) of a convnet's live run:
    often enough to see the filters move (about 60 pictures for one epoch), at most
    about 200 events per run."""
    return max(10, iters // 200)
