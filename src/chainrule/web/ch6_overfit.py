"""The overfitting page (``/ch6/overfit``): figures 6-20 to 6-23, live.

The book's ``overfit_weight_decay.py`` and ``overfit_dropout.py`` setting: a 7-layer
ReLU net (six hidden layers of 100) trained with SGD lr 0.01 on the first 300 MNIST
training images, batches of 100; train and test accuracy at the start of each epoch.
The learner's weight decay λ and dropout ratio make one net; when either is set, the
same net without them trains beside it, on the same batches from the same weights
(:class:`~chainrule.book.experiments.Regularized`), so the gap each leaves between
train and test can be compared. Routes: ``GET /ch6/overfit`` (the page) and those of
:func:`~chainrule.web.chapter6.job_routes` under ``/api/ch6/overfit``; the form is
``{"weight_decay", "dropout", "epochs", "test_size", "seed"}``.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from chainrule.book.experiments import Regularized, regularization_result, streams
from chainrule.core.checks import finite_or_none
from chainrule.training.jobs import Job
from chainrule.web.chapter6 import GROUP, Chapter6, chapter6_for, job_routes
from chainrule.web.kit import LabState, page
from chainrule.web.netlab_input import check_keys, float_field, int_field

PAGE = {"id": "ch6-overfit", "path": "/ch6/overfit", "group": GROUP}
KIND = "overfit"
TRAIN_SIZE, HIDDEN, BATCH, LR = 300, (100,) * 6, 100, 0.01  # overfit_weight_decay.py
MAX_EPOCHS, MAX_DECAY, MAX_DROPOUT = 400, 1.0, 0.9
PRESETS = {"weight_decay": 0.1, "dropout": 0.2, "epochs": 201, "max_epochs": MAX_EPOCHS,
           "test_size": 1000, "max_test_size": 10000, "max_weight_decay": MAX_DECAY,
           "max_dropout": MAX_DROPOUT, "train_size": TRAIN_SIZE, "hidden": list(HIDDEN),
           "batch_size": BATCH, "lr": LR}
"""The book's settings (λ = 0.1 in overfit_weight_decay.py, dropout 0.2 in
overfit_dropout.py, 201 epochs); the page tests on the first 1000 test images unless
asked for all 10000, as the book does (a tenth of the time per epoch)."""
PLAIN = "no regularization"


def overfit_form(data: dict) -> dict:
    check_keys(data, ("weight_decay", "dropout", "epochs", "test_size", "seed"))
    return {"weight_decay": float_field(data, "weight_decay", 0, MAX_DECAY, default=0.0),
            "dropout": float_field(data, "dropout", 0, MAX_DROPOUT, default=0.0),
            "epochs": int_field(data, "epochs", 1, MAX_EPOCHS, PRESETS["epochs"]),
            "test_size": int_field(data, "test_size", 100, PRESETS["max_test_size"],
                                   PRESETS["test_size"]),
            "seed": int_field(data, "seed", 0, 2**31 - 1, 0)}


def variants(settings: dict) -> dict[str, dict]:
    """The nets to train: the learner's, and the plain one beside it when they differ."""
    lam, ratio = settings["weight_decay"], settings["dropout"]
    yours = {**({"weight_decay_lambda": lam} if lam else {}),
             **({"dropout_ratio": ratio} if ratio else {})}
    if not yours:
        return {PLAIN: {}}
    words = [f"weight decay (lambda={lam:g})"] * bool(lam) + [f"dropout (ratio={ratio:g})"] * \
        bool(ratio)
    return {PLAIN: {}, ", ".join(words): yours}


def train(ch6: Chapter6, settings: dict, job: Job) -> None:
    data = ch6.mnist()
    x, t = data.x_train[:TRAIN_SIZE], data.t_train[:TRAIN_SIZE]
    n = settings["test_size"]
    xt, tt = data.x_test[:n], data.t_test[:n]
    init, rng = streams(settings["seed"])
    nets = variants(settings)
    race = Regularized(x, t, xt, tt, nets, hidden_size_list=HIDDEN, batch_size=BATCH, lr=LR,
                       init=init, rng=rng)
    job.result = {"labels": list(nets), "measured": []}
    job.emit({"type": "start", "labels": list(nets), "variants": nets, "settings": settings,
              "train_size": len(x), "test_size": len(xt), "per_epoch": race.per_epoch,
              "hidden": list(HIDDEN), "batch_size": BATCH, "lr": LR})
    for epoch in range(settings["epochs"]):
        if job.stopping:
            return
        train_acc, test_acc = race.next_epoch()
        job.result["measured"].append((train_acc, test_acc))
        job.emit({"type": "epoch", "epoch": epoch, "iteration": race.training.iteration,
                  "train": [finite_or_none(a) for a in train_acc],
                  "test": [finite_or_none(a) for a in test_acc],
                  "gap": [finite_or_none(a - b) for a, b in zip(train_acc, test_acc, strict=True)]})


def result(job: Job):
    """The curves so far as ``chainrule experiment overfit`` draws them."""
    found = job.result
    if not found or not found["measured"]:
        return None
    s = job.settings
    return regularization_result(found["labels"], found["measured"], {
        "variants": variants(s), "train_size": TRAIN_SIZE, "test_size": s["test_size"],
        "hidden_size_list": list(HIDDEN), "epochs": len(found["measured"]),
        "batch_size": BATCH, "lr": LR, "seed": s["seed"]})


def routes(state: LabState) -> list[BaseRoute]:
    ch6 = chapter6_for(state)

    def start(data: dict):
        settings = overfit_form(data)
        return (lambda job: train(ch6, settings, job)), settings

    return [Route(PAGE["path"], page("ch6-overfit"), methods=["GET"]),
            *job_routes(ch6, KIND, start, result, PRESETS)]
