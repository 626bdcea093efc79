"""The batch-normalization page (``/ch6/batchnorm``): figures 6-18 and 6-19, live.

The book's ``batch_norm_test.py`` for one initial weight std the learner picks: a
6-layer ReLU net (five hidden layers of 100) with and without batch norm, SGD lr 0.01,
batches of 100 from the first 1000 MNIST training images, trained side by side
(:class:`~chainrule.book.experiments.BatchNormPair`), the training accuracy of each
told as it is measured, with what reaches each hidden layer's activation function (the
plain net's ``Affine`` output, the batch-norm net's before and after ``BatchNorm``) as
histograms. Routes: ``GET /ch6/batchnorm`` (the page) and those of
:func:`~chainrule.web.chapter6.job_routes` under ``/api/ch6/batchnorm``; the form is
``{"weight_scale", "epochs", "seed"}``.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from chainrule.book.activation_histograms import Histogram, around
from chainrule.book.experiments import (
    BATCHNORM_LABELS,
    BOOK_WEIGHT_SCALES,
    BatchNormPair,
    batchnorm_result,
    streams,
)
from chainrule.core.checks import finite_or_none
from chainrule.training.jobs import Job
from chainrule.web.chapter6 import GROUP, Chapter6, chapter6_for, job_routes
from chainrule.web.kit import LabState, page
from chainrule.web.netlab_input import check_keys, float_field, int_field

PAGE = {"id": "ch6-batchnorm", "path": "/ch6/batchnorm", "group": GROUP}
KIND = "batchnorm"
TRAIN_SIZE, HIDDEN, BATCH, LR = 1000, (100,) * 5, 100, 0.01  # batch_norm_test.py
MAX_EPOCHS = 100  # the book: 20
SCALES = (1e-5, 10.0)
BINS = 30


def hist(values) -> dict:
    return Histogram.of(values, BINS, around(values)).as_json()


def batchnorm_form(data: dict) -> dict:
    check_keys(data, ("weight_scale", "epochs", "seed"))
    lo, hi = SCALES
    return {"weight_scale": float_field(data, "weight_scale", lo, hi, default=0.01),
            "epochs": int_field(data, "epochs", 1, MAX_EPOCHS, 20),
            "seed": int_field(data, "seed", 0, 2**31 - 1, 0)}


def train(ch6: Chapter6, settings: dict, job: Job) -> None:
    """Train the pair and tell each point, with the layers' histograms."""
    data = ch6.mnist()
    x, t = data.x_train[:TRAIN_SIZE], data.t_train[:TRAIN_SIZE]
    init, rng = streams(settings["seed"])
    w = settings["weight_scale"]
    pair = BatchNormPair(x, t, w, hidden_size_list=HIDDEN, batch_size=BATCH, lr=LR,
                         init=init, rng=rng)
    job.result = {"points": [], "diverged": [False, False]}
    job.emit({"type": "start", "labels": list(BATCHNORM_LABELS), "settings": settings,
              "train_size": len(x), "per_epoch": pair.per_epoch, "layers": len(HIDDEN),
              "batch_size": BATCH, "lr": LR, "hidden": list(HIDDEN)})
    for epoch in range(settings["epochs"]):
        if job.stopping:
            return
        accs = pair.next_point()
        diverged = pair.diverged()
        job.result["points"].append(accs)
        job.result["diverged"] = diverged
        layers = [{k: hist(v) for k, v in found.items()} for found in pair.pre_activations(x)]
        job.emit({"type": "point", "epoch": epoch, "iteration": pair.training.iteration,
                  "acc": [finite_or_none(a) for a in accs], "diverged": diverged, "layers": layers})


def result(job: Job):
    """The curves so far as ``chainrule experiment batchnorm`` draws them (one panel)."""
    found = job.result
    if not found or not found["points"]:
        return None
    w = job.settings["weight_scale"]
    return batchnorm_result({w: found["points"]}, {w: found["diverged"]}, {
        "weight_scales": [w], "train_size": TRAIN_SIZE, "hidden_size_list": list(HIDDEN),
        "epochs": len(found["points"]), "batch_size": BATCH, "lr": LR,
        "seed": job.settings["seed"]})


def routes(state: LabState) -> list[BaseRoute]:
    ch6 = chapter6_for(state)

    def start(data: dict):
        settings = batchnorm_form(data)
        return (lambda job: train(ch6, settings, job)), settings

    return [Route(PAGE["path"], page("ch6-batchnorm"), methods=["GET"]),
            *job_routes(ch6, KIND, start, result, PRESETS)]


PRESETS = {"weight_scales": list(BOOK_WEIGHT_SCALES), "weight_scale": BOOK_WEIGHT_SCALES[10],
           "epochs": 20, "max_epochs": MAX_EPOCHS, "train_size": TRAIN_SIZE,
           "hidden": list(HIDDEN), "batch_size": BATCH, "lr": LR}
"""The book's settings: its 16 weight stds (``np.logspace(0, -4, 16)``), 20 epochs."""
