"""The hyperparameter-search page (``/ch6/hyperparameters``): figure 6-24, live.

The book's ``hyperparameter_optimization.py`` (:class:`~chainrule.book.hyperparameters.
RandomSearch`): random learning rates and weight decays, each trial a 7-layer ReLU net
trained with SGD on 400 of the first 500 MNIST training images and scored on the other
100, told as it ends, with the best trials so far (ranked here, in Python) and how far
apart their learning rates and weight decays lie. Routes: ``GET /ch6/hyperparameters``
(the page) and those of :func:`~chainrule.web.chapter6.job_routes` under
``/api/ch6/hyperparameters``; the form is ``{"trials", "epochs", "log_lr": [lo, hi],
"log_weight_decay": [lo, hi], "seed"}`` (base-10 exponents).
"""

from __future__ import annotations

import math

from starlette.routing import BaseRoute, Route

from chainrule.book.hyperparameters import (
    BEST_SPANS,
    BOOK_SEARCH,
    RandomSearch,
    Trial,
    best_spans,
    ranked,
    search_result,
)
from chainrule.core.checks import finite_or_none
from chainrule.core.messages import Catalog
from chainrule.training.jobs import Job
from chainrule.web.chapter6 import GROUP, Chapter6, chapter6_for, job_routes
from chainrule.web.kit import LabState, RequestError, page
from chainrule.web.netlab_input import check_keys, got, int_field, shown

PAGE = {"id": "ch6-hyperparameters", "path": "/ch6/hyperparameters", "group": GROUP}
KIND = "hyperparameters"
MAX_TRIALS, MAX_EPOCHS = 500, 200
MAX_WORK = 20_000
"""At most this many trial-epochs (``trials * epochs``; the book's search: 5000, about
35 s on a 2-core machine)."""
LOG_LR, LOG_WEIGHT_DECAY = (-8.0, 0.0), (-10.0, 0.0)
"""Where the exponents of the two ranges may lie."""
SHOWN = BEST_SPANS[-1]  # the best trials each event names
MESSAGES = Catalog("hyper", {
    "hyper.range": "{field} must be two exponents [low, high] with {min} <= low < high "
                   "<= {max}, got {got}",
    "hyper.too_much": "trials × epochs must be at most {max}, got {trials} × {epochs}",
})
"""The page's words by code (see :mod:`chainrule.core.messages`)."""


def exponent_range(data: dict, key: str, bounds: tuple[float, float], default) -> list[float]:
    v = data.get(key)
    v = list(default) if v is None else v
    lo, hi = bounds
    ok = (isinstance(v, list) and len(v) == 2
          and all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in v)
          and all(lo <= e <= hi for e in v) and v[0] < v[1])  # the range check rejects NaN
    if not ok:
        raise RequestError("hyper.range", field=key, min=lo, max=hi,
                           got=shown(v) if isinstance(v, list) else got(v))
    return [float(e) for e in v]


def hyper_form(data: dict) -> dict:
    """The form checked (fields, sizes, the work in all) before anything is allocated."""
    check_keys(data, ("trials", "epochs", "log_lr", "log_weight_decay", "seed"))
    form = {"trials": int_field(data, "trials", 1, MAX_TRIALS, BOOK_SEARCH["trials"]),
            "epochs": int_field(data, "epochs", 1, MAX_EPOCHS, BOOK_SEARCH["epochs"]),
            "log_lr": exponent_range(data, "log_lr", LOG_LR, BOOK_SEARCH["log_lr"]),
            "log_weight_decay": exponent_range(data, "log_weight_decay", LOG_WEIGHT_DECAY,
                                               BOOK_SEARCH["log_weight_decay"]),
            "seed": int_field(data, "seed", 0, 2**31 - 1, 0)}
    if form["trials"] * form["epochs"] > MAX_WORK:
        raise RequestError("hyper.too_much", field="trials", max=MAX_WORK,
                           trials=form["trials"], epochs=form["epochs"])
    return form


def trial_event(trial: Trial, trials: list[Trial]) -> dict:
    """What the page draws of a finished trial: its point, its curves, and the best so far
    (their indices, best first, and the spans of :func:`best_spans`)."""
    return {"type": "trial", "index": trial.index, "lr": trial.lr,
            "weight_decay": trial.weight_decay, "log_lr": math.log10(trial.lr),
            "log_weight_decay": math.log10(trial.weight_decay),
            "val": [finite_or_none(a) for a in trial.val_acc.tolist()],
            "train": [finite_or_none(a) for a in trial.train_acc.tolist()],
            "final_val": trial.final_val, "final_train": trial.final_train,
            "diverged": trial.diverged,
            "best": [tr.index for tr in ranked(trials)[:SHOWN]],
            "spans": {str(k): span for k, span in best_spans(trials).items()}}


def train(ch6: Chapter6, settings: dict, job: Job) -> None:
    data = ch6.mnist()
    search = RandomSearch(data.x_train, data.t_train, **settings)
    job.result = {"settings": search.settings(), "trials": []}
    job.emit({"type": "start", "settings": settings, "train_size": len(search.x_train),
              "validation_size": len(search.x_val), "per_epoch": search.per_epoch,
              "hidden": search.hidden_size_list, "batch_size": search.batch_size,
              "shown": SHOWN})
    trials = job.result["trials"]
    for k in range(search.trials):
        found = search.run(k, lambda: job.stopping)
        if found is None:
            return
        trials.append(found)
        job.emit(trial_event(found, trials))
        if job.stopping:
            return


def result(job: Job):
    """The trials so far as ``chainrule experiment hyperparameters`` draws them."""
    found = job.result
    if not found or not found["trials"]:
        return None
    return search_result(found["trials"], found["settings"])


def routes(state: LabState) -> list[BaseRoute]:
    ch6 = chapter6_for(state)

    def start(data: dict):
        settings = hyper_form(data)
        return (lambda job: train(ch6, settings, job)), settings

    return [Route(PAGE["path"], page("ch6-hyperparameters"), methods=["GET"]),
            *job_routes(ch6, KIND, start, result, PRESETS)]


PRESETS = {**{k: list(v) if isinstance(v, tuple) else v for k, v in BOOK_SEARCH.items()},
           "max_trials": MAX_TRIALS, "max_epochs": MAX_EPOCHS, "max_work": MAX_WORK,
           "log_lr_bounds": list(LOG_LR), "log_weight_decay_bounds": list(LOG_WEIGHT_DECAY),
           "shown": list(BEST_SPANS)}
"""The book's settings (100 trials of 50 epochs, lr 10^[-6, -2], weight decay
10^[-8, -4]) and the limits."""
