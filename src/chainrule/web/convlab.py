"""The convolution page (``/conv``): your digit through a SimpleConvNet's 30 filters, and the
filters forming while a SimpleConvNet trains.

Routes (JSON; bad input gets a 4xx with ``{"error", "code", "params"}``):

- ``GET  /conv``                 the page
- ``GET  /api/conv/model``       the SimpleConvNet in use, the page's status and its runs
- ``POST /api/conv/model``       ``{"run": ID}``: look into that run's SimpleConvNet
  (``"first"``: the ``--model`` one or the first one)
- ``POST /api/conv/probe``       ``{"pixels": [...]}`` or ``{"image": "data:..."}``, optional
  ``"label"``: every filter's maps forward and backward (:mod:`chainrule.web.convlab_answers`)
- ``GET  /api/conv/sample[?index=N]``  a (random) test image of the network's dataset
- ``POST /api/conv/train``       a SimpleConvNet training form: ``{"run": ID, ...}``; its
  events (with ``snapshot`` events carrying the filters) and Stop are the network lab's
  ``/api/train/ID/events`` and ``/api/train/ID/stop``

The page shares the network lab's runs (one training at a time in the whole lab), its
data and its input checks (:mod:`chainrule.web.netlab_input`).
"""

from __future__ import annotations

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chainrule.data.catalog import DATASET_NAMES, DATASETS
from chainrule.nn.convnets import BOOK_CONV_PARAM
from chainrule.nn.optim import OPTIMIZERS
from chainrule.training.config import TrainConfig
from chainrule.training.live import TrainingBusy
from chainrule.web.convlab_answers import filters_of, probe_answer
from chainrule.web.convlab_state import ConvLab, progress_every
from chainrule.web.kit import LabState, RequestError, page
from chainrule.web.netlab import floats, lab_for, which_network
from chainrule.web.netlab_input import (
    MAX_BODY,
    MAX_FORM,
    MAX_LR,
    TRAIN_LIMITS,
    check_keys,
    float_field,
    input_pixels,
    int_field,
    label_field,
    read_object,
    shown,
)

PAGE = {"id": "conv", "path": "/conv", "group": "ch7"}
HIDDEN = 100  # the book's SimpleConvNet: Affine1 has 100 units
TRAIN_KEYS = ("dataset", "optimizer", "lr", "batch_size", "iters", "epochs", "eval_every",
              "seed")


def conv_for(state: LabState) -> ConvLab:
    """The page's :class:`ConvLab`, made once on the lab's shared state (beside the
    network lab's, whose runs, data and first-network folder it shares)."""
    lab = getattr(state, "convlab", None)
    if lab is None:
        lab = ConvLab(lab_for(state), first_iters=state.options.get("conv_first_iters"))
        state.convlab = lab
    return lab


def multiply_adds(dataset: str) -> int:
    """One image's multiply-adds through the book's SimpleConvNet on ``dataset``: the
    convolution, then the two affine layers."""
    h, w = DATASETS[dataset].image_shape
    p = BOOK_CONV_PARAM
    oh, ow = h - p["filter_size"] + 1, w - p["filter_size"] + 1
    conv = oh * ow * p["filter_num"] * p["filter_size"] ** 2
    pooled = p["filter_num"] * (oh // 2) * (ow // 2)
    return conv + pooled * HIDDEN + HIDDEN * len(DATASETS[dataset].class_names)


def train_config(data: dict) -> tuple[TrainConfig, int]:
    """The :class:`TrainConfig` of a SimpleConvNet training form, within the network
    lab's limits (:data:`~chainrule.web.netlab_input.TRAIN_LIMITS`; the work counted
    as steps x batch x one image's multiply-adds), and its number of steps."""
    check_keys(data, TRAIN_KEYS)
    lim = TRAIN_LIMITS
    dataset = data.get("dataset", "mnist")
    if dataset not in DATASET_NAMES:
        raise RequestError("net.dataset", field="dataset", choices=list(DATASET_NAMES),
                           got=shown(dataset))
    optimizer = data.get("optimizer", "adam")
    if optimizer not in OPTIMIZERS:
        raise RequestError("net.optimizer", field="optimizer", choices=list(OPTIMIZERS),
                           got=shown(optimizer))
    if data.get("iters") is not None and data.get("epochs") is not None:
        raise RequestError("net.iters_or_epochs", field="epochs")
    train_size = DATASETS[dataset].train_size
    batch = int_field(data, "batch_size", 1, min(lim["batch_size"], train_size)) or 100
    iters = int_field(data, "iters", 1, lim["iters"])
    epochs = float_field(data, "epochs", 0, lim["epochs"], open_lo=True)
    steps = iters if iters is not None else 600 if epochs is None else round(
        epochs * max(train_size // batch, 1))  # 600 by default: an epoch of MNIST
    if steps > lim["iters"]:
        raise RequestError("net.too_many_iters", steps=steps, max=lim["iters"])
    every = int_field(data, "eval_every", 1, lim["iters"])
    per_epoch = max(train_size // batch, 1)  # left out: once per epoch
    if steps // (every or per_epoch) > lim["evaluations"]:
        raise RequestError("net.too_many_evals", field="eval_every", every=every or per_epoch,
                           evaluations=steps // (every or per_epoch), max=lim["evaluations"],
                           least=-(-steps // lim["evaluations"]))
    work = multiply_adds(dataset)
    if steps * batch * work > lim["work"]:
        raise RequestError("net.too_big", steps=steps, batch=batch, weights=work)
    fields = {"dataset": dataset, "optimizer": optimizer, "batch_size": batch,
              "lr": float_field(data, "lr", 0, MAX_LR, open_lo=True), "eval_every": every,
              "seed": int_field(data, "seed", 0, 2**31 - 1) or 0, "eval_samples": 1000}
    fields.update({"epochs": epochs} if epochs is not None else {"iters": steps})
    try:
        return TrainConfig.for_network("simple-conv", **fields).resolved(), steps
    except ValueError as exc:
        raise RequestError("net.config", reason=str(exc)) from None


def routes(state: LabState) -> list[BaseRoute]:
    """The convolution page's routes, bound to the lab app's shared ``state``."""
    lab = conv_for(state)

    async def probe(request: Request) -> Response:
        data = await read_object(request, MAX_BODY)
        check_keys(data, ("pixels", "image", "label"))
        model = lab.current()
        label = label_field(data, model, required=False)
        x, blank = await run_in_threadpool(input_pixels, data, model)
        return JSONResponse(await run_in_threadpool(probe_answer, model, x, label, blank))

    async def sample(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(_sample, lab, request.query_params))

    async def train(request: Request) -> Response:
        data = await read_object(request, MAX_FORM)
        config, steps = train_config(data)
        netlab = lab.netlab
        try:
            live = await run_in_threadpool(lambda: lab.runs.start(
                config, data_dir=netlab.data_dir, download=netlab.download,
                plots=netlab.plots, snapshot=filters_of,
                progress_every=progress_every(steps)))
        except TrainingBusy as exc:  # one run at a time in the whole lab: say which
            active = lab.runs.active()
            where = {"running": None if active is None else active.id,
                     "first": active is not None and active in (netlab.first_run,
                                                                lab.first_run)}
            raise RequestError.of(exc, 409, **where) from None
        except (OSError, ValueError) as exc:
            raise RequestError("net.cannot_start", reason=str(exc).splitlines()[0]) from None
        return JSONResponse({"run": live.id, "path": str(live.path),
                             "config": live.config.to_dict()})

    return [
        Route("/conv", page("conv"), methods=["GET"]),
        *which_network(lab, "/api/conv/model"),
        Route("/api/conv/probe", probe, methods=["POST"]),
        Route("/api/conv/sample", sample, methods=["GET"]),
        Route("/api/conv/train", train, methods=["POST"]),
    ]


def _sample(lab: ConvLab, params) -> dict:
    """A test image of the model's dataset: ``index``, or a random one."""
    unknown = [k for k in params if k != "index"]
    if unknown:
        raise RequestError("net.unknown_option", names=[shown(unknown[0])], allowed=["index"])
    model = lab.current()
    try:
        x, t = lab.netlab.test_set(model.dataset)
    except (OSError, ImportError, ValueError) as exc:
        raise RequestError("net.no_test_images", 409, dataset=model.dataset,
                           reason=str(exc).splitlines()[0]) from None
    text = params.get("index")
    if text is None:
        index = int(lab.netlab.rng.integers(len(x)))
    elif text.isdigit() and len(text) < 8 and int(text) < len(x):
        index = int(text)
    else:
        raise RequestError("net.index", field="index", max=len(x) - 1)
    pixels = np.asarray(x[index], dtype=np.float64)
    if pixels.size != model.input_size:
        raise RequestError("net.images_do_not_fit", 409, dataset=model.dataset)
    return {"pixels": floats(pixels), "label": int(t[index]), "index": index,
            "shape": list(model.image_shape), "dataset": model.dataset}

