"""The network lab (``/net``): draw a digit, see backprop reach the pixels, train live.

Routes (all answers JSON; bad input gets a 4xx with ``{"error": ...}``):

- ``GET  /net``                    the page
- ``GET  /api/model``              which network the lab uses, and the runs it knows
- ``POST /api/model``              ``{"run": ID}``: use that run's network (``"first"``: the
  network trained on start, or the ``--model`` one)
- ``POST /api/predict``            ``{"pixels": [...]}`` or ``{"image": "data:image/png;..."}``,
  optional ``"label"``: probabilities, hidden activations, ``dL/dx``
- ``POST /api/learn``              the same input with a true ``"label"``, optional
  ``"lr"`` and ``"among"`` (k: the step on a batch of the input and k random training
  images): one SGD step on a copy of the network
- ``GET  /api/sample[?index=N]``   a (random) test image of the model's dataset, its label
- ``GET  /api/model.onnx``         the network in use as an ONNX file (409 without the
  ``export`` extra)
- ``POST /api/train``              a training form: ``{"run": ID}`` (409 while a run trains,
  with ``"running": ID`` and ``"first"``: whether it is the lab's first network)
- ``GET  /api/train/ID/events``    server-sent events, one JSON object per event
- ``POST /api/train/ID/stop``      stop after the current step

All numbers come from the library (:mod:`chainrule.nn.probe`, :mod:`chainrule.training.live`,
:mod:`chainrule.data.preprocess`); this module parses, checks and answers.
"""

from __future__ import annotations

import math

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chainrule.export.onnx_graph import to_onnx
from chainrule.export.plan import ExportError, MissingExtra
from chainrule.nn.probe import learn_step, probe
from chainrule.training.live import LiveRun, TrainingBusy
from chainrule.web.kit import LabState, RequestError, event_stream, page
from chainrule.web.netlab_input import (
    MAX_AMONG,
    MAX_BODY,
    MAX_FORM,
    MAX_LR,
    check_keys,
    float_field,
    input_pixels,
    int_field,
    label_field,
    read_object,
    shown,
    train_config,
)
from chainrule.web.netlab_state import FirstNetwork, LabModel, NetLab

# ---------------------------------------------------------------- answers


def floats(a) -> list:
    """An array as a JSON list of numbers (NaN and infinities as null)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    out = a.tolist()
    if not np.all(np.isfinite(a)):
        out = [v if math.isfinite(v) else None for v in out]
    return out


def _number(v: float) -> float | None:
    """A finite number as itself (``-0.0`` as 0: the page shows no negative zero), else
    None."""
    return float(v) + 0.0 if math.isfinite(v) else None


def predict_answer(model: LabModel, x: np.ndarray, label: int | None, seen: dict) -> dict:
    with model.lock:
        p = probe(model.net, x, label)
    return {"predicted": p.predicted, "probabilities": floats(p.probabilities),
            "target": p.target, "loss": _number(p.loss), "class_names": model.class_names,
            "hidden": [{"layer": k, "values": floats(v), "shape": list(np.shape(v))}
                       for k, v in p.hidden.items()],
            "input_grad": floats(p.input_grad), "input": floats(x),
            "shape": list(model.image_shape), **seen, "model": model.id}


def learn_answer(model: LabModel, x: np.ndarray, label: int, lr: float, seen: dict,
                 among: tuple | None = None) -> dict:
    """One SGD step on ``x`` (alone, or ``among=(indices, images, labels)`` of the
    training set) and what it did, as JSON."""
    step = learn_step(model.net, x, label, lr, top=12,
                      among=None if among is None else among[1:])
    b, a = step.before, step.after
    first, last = _end_params(model.net)
    width = model.image_shape[1]

    def change(c) -> dict:
        out = {"param": c.param, "index": list(c.index), "before": _number(c.before),
               "after": _number(c.after), "delta": _number(c.delta)}
        if c.param == first[0] and len(c.index) == 2:
            out["pixel"] = [c.index[0] // width, c.index[0] % width]
        elif c.param in last:
            out["to_class"] = c.index[-1]
        return out

    layers = [{"layer": "Softmax-with-Loss", "grad": floats(step.dout),
               "norm": _number(float(np.linalg.norm(step.dout)))}]
    layers += [{"layer": k, "grad": floats(g), "norm": _number(float(np.linalg.norm(g))),
                "shape": list(np.shape(g))} for k, g in reversed(b.layer_grads.items())]
    layers.append({"layer": "input", "grad": floats(b.input_grad),
                   "norm": _number(float(np.linalg.norm(b.input_grad)))})
    others = np.delete(b.probabilities, label)
    return {
        "label": step.label, "lr": step.lr, "input": floats(x), "shape": list(model.image_shape),
        **seen, "class_names": model.class_names, "model": model.id,
        "n": step.n, "among": None if among is None else {
            "set": "train", "indices": [int(i) for i in among[0]],
            "labels": [int(t) for t in among[2]]},
        "batch_loss": {"before": _number(step.batch_loss[0]),
                       "after": _number(step.batch_loss[1])},
        "y": floats(b.probabilities), "t": floats(np.eye(len(b.probabilities))[label]),
        "dout": floats(step.dout), "layers": layers,
        "before": {"probabilities": floats(b.probabilities), "loss": _number(b.loss),
                   "predicted": b.predicted},
        "after": {"probabilities": floats(a.probabilities), "loss": _number(a.loss),
                  "predicted": a.predicted},
        # the scores before softmax: how far the step moved them explains how far the
        # probabilities moved; the rival is the likeliest class other than the label
        "scores": {"before": floats(b.scores), "after": floats(a.scores),
                   "change": floats(a.scores.astype(np.float64) - b.scores)},
        "rival": int(np.argmax(others) + (np.argmax(others) >= label)),
        "large": bool(abs(float(a.probabilities[label]) - float(b.probabilities[label])) >= 0.5),
        "changes": [change(c) for c in step.changes],
        "param_change": {k: _number(v) for k, v in step.param_change.items()},
    }


def onnx_bytes(model: LabModel) -> bytes:
    """The lab's network as an ONNX file (:func:`chainrule.export.to_onnx`)."""
    meta = {"dataset": model.dataset, "class_names": model.class_names,
            "image_shape": list(model.image_shape)}
    with model.lock:
        return to_onnx(model.net, meta=meta).SerializeToString()


def _end_params(net) -> tuple[tuple, tuple]:
    """The names of the first and the last weight-holding layer's (W, b)."""
    by_id = {id(p): k for k, p in net.params.items()}
    held = [(by_id.get(id(getattr(layer, "W", None))), by_id.get(id(getattr(layer, "b", None))))
            for layer in net.layers.values()]
    held = [h for h in held if h[0] is not None]
    return (held[0], held[-1]) if held else ((None, None), (None, None))


# ---------------------------------------------------------------- routes


PAGE = {"id": "net", "path": "/net"}
LAB_OPTIONS = ("runs_dir", "data_dir", "download", "first_root", "plots", "first_iters", "seed")
"""The options of :class:`NetLab` that ``create_app`` may carry for this page."""


def lab_for(state: LabState) -> NetLab:
    """The :class:`NetLab` of the lab app's shared state, made once (``state.netlab``).

    ``state.model`` is the ``--model`` run (loaded now: a bad one raises
    :class:`LabError`). The first network starts training when the server starts if
    the option ``train_first`` is true (``chainrule serve`` sets it), else when the
    network lab is first asked for it; a run in progress stops (and is saved) when
    the server stops."""
    lab = getattr(state, "netlab", None)
    if lab is None:
        options = {k: v for k, v in state.options.items() if k in LAB_OPTIONS}
        lab = NetLab(state.model, **options)
        state.netlab = lab
        if state.options.get("train_first"):
            state.on_startup.append(lab.start)
        state.on_shutdown.append(lab.close)
    return lab


def routes(state: LabState) -> list[BaseRoute]:
    """The network lab's routes, bound to the lab app's shared ``state``."""
    lab = lab_for(state)
    return [Route("/net", page("net"), methods=["GET"]), *_model_routes(lab),
            *_export_routes(lab), *_train_routes(lab)]


def which_network(lab: FirstNetwork, path: str) -> list[BaseRoute]:
    """``GET path``: the network a page looks into (``lab.info()``); ``POST path``
    ``{"run": ID or "first"}``: look into that one from now on. The network lab's and
    the convnet lab's."""

    async def model_get(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(lab.info))

    async def model_post(request: Request) -> Response:
        data = await read_object(request, MAX_FORM)
        check_keys(data, ("run",))
        run_id = data.get("run")
        if not isinstance(run_id, str) or not run_id:
            raise RequestError("net.run_id", field="run")
        await run_in_threadpool(lab.use, run_id[:200])
        return JSONResponse(await run_in_threadpool(lab.info))

    return [Route(path, model_get, methods=["GET"]), Route(path, model_post, methods=["POST"])]


def _model_routes(lab: NetLab) -> list[BaseRoute]:
    """Which network the lab shows, and one input through it."""

    async def predict(request: Request) -> Response:
        data = await read_object(request, MAX_BODY)
        check_keys(data, ("pixels", "image", "label"))
        model = lab.current()
        label = label_field(data, model, required=False)
        x, seen = await run_in_threadpool(input_pixels, data, model)
        return JSONResponse(await run_in_threadpool(predict_answer, model, x, label, seen))

    async def learn(request: Request) -> Response:
        data = await read_object(request, MAX_BODY)
        check_keys(data, ("pixels", "image", "label", "lr", "among"))
        model = lab.current()
        label = label_field(data, model, required=True)
        lr = float_field(data, "lr", 0, MAX_LR, open_lo=True, default=0.1)
        k = int_field(data, "among", 0, MAX_AMONG, 0)
        x, seen = await run_in_threadpool(input_pixels, data, model)
        among = await run_in_threadpool(_training_images, lab, model, k) if k else None
        return JSONResponse(await run_in_threadpool(learn_answer, model, x, label, lr, seen,
                                                    among))

    async def sample(request: Request) -> Response:
        params = request.query_params
        unknown = [k for k in params if k != "index"]
        if unknown:
            raise RequestError("net.unknown_option", names=[shown(unknown[0])],
                               allowed=["index"])
        model = lab.current()
        try:
            x, t = await run_in_threadpool(lab.test_set, model.dataset)
        except (OSError, ImportError, ValueError) as exc:
            raise RequestError("net.no_test_images", 409, dataset=model.dataset,
                               reason=str(exc).splitlines()[0]) from None
        text = params.get("index")
        if text is None:
            index = int(lab.rng.integers(len(x)))
        elif text.isdigit() and len(text) < 8 and int(text) < len(x):
            index = int(text)
        else:
            raise RequestError("net.index", field="index", max=len(x) - 1)
        pixels = np.asarray(x[index], dtype=np.float64)
        if pixels.size != model.input_size:
            raise RequestError("net.images_do_not_fit", 409, dataset=model.dataset)
        return JSONResponse({"pixels": floats(pixels), "label": int(t[index]),
                             "index": index, "shape": list(model.image_shape),
                             "dataset": model.dataset})

    return [
        *which_network(lab, "/api/model"),
        Route("/api/predict", predict, methods=["POST"]),
        Route("/api/learn", learn, methods=["POST"]),
        Route("/api/sample", sample, methods=["GET"]),
    ]


def _training_images(lab: NetLab, model: LabModel, k: int) -> tuple:
    """``k`` random training images of the model's dataset: (indices, images, labels)."""
    try:
        x, t = lab.train_set(model.dataset)
    except (OSError, ImportError, ValueError) as exc:
        raise RequestError("net.no_train_images", 409, dataset=model.dataset,
                           reason=str(exc).splitlines()[0]) from None
    if x.shape[-1] != model.input_size:
        raise RequestError("net.images_do_not_fit", 409, dataset=model.dataset)
    indices = np.sort(lab.rng.choice(len(x), size=min(k, len(x)), replace=False))
    return indices, np.asarray(x[indices], dtype=np.float64), np.asarray(t[indices])


def _export_routes(lab: NetLab) -> list[BaseRoute]:
    """The network in use, downloaded as an ONNX file."""

    async def model_onnx(request: Request) -> Response:
        if request.query_params:
            raise RequestError("net.onnx_no_options")
        model = lab.current()
        try:
            data = await run_in_threadpool(onnx_bytes, model)
        except MissingExtra as exc:
            raise RequestError("net.onnx_missing", 409, package=exc.package) from None
        except ExportError as exc:
            raise RequestError("net.onnx_refused", 409, reason=str(exc)) from None
        name = "".join(c if c.isalnum() or c in "-_" else "-" for c in model.id)[:80]
        return Response(data, media_type="application/octet-stream", headers={
            "Content-Disposition": f'attachment; filename="chainrule-{name}.onnx"'})

    return [Route("/api/model.onnx", model_onnx, methods=["GET"])]


def _train_routes(lab: NetLab) -> list[BaseRoute]:
    """Training a network from the page, told live as server-sent events."""

    async def train(request: Request) -> Response:
        data = await read_object(request, MAX_FORM)
        config = train_config(data)
        try:
            live = await run_in_threadpool(lambda: lab.runs.start(
                config, data_dir=lab.data_dir, download=lab.download, plots=lab.plots))
        except TrainingBusy as exc:  # one run at a time: say which (the page shows it)
            active = lab.runs.active()
            first = lab.first_run is not None and active is lab.first_run
            where = {"running": None if active is None else active.id, "first": first}
            if first:
                raise RequestError("net.first_busy", 409, fields=where) from None
            raise RequestError.of(exc, 409, **where) from None
        except (OSError, ValueError) as exc:
            raise RequestError("net.cannot_start", reason=str(exc).splitlines()[0]) from None
        return JSONResponse({"run": live.id, "path": str(live.path),
                             "config": live.config.to_dict()})

    def live_run(request: Request) -> LiveRun:
        run_id = request.path_params["run_id"]
        live = lab.runs.get(run_id)
        if live is None:
            raise RequestError("net.no_run", 404, run=run_id[:200])
        return live

    async def stop(request: Request) -> Response:
        live = live_run(request)
        if live is lab.first_run and not live.done:  # the page's network: it ends soon
            raise RequestError("net.first_not_stoppable", 409)
        live.stop()
        return JSONResponse({"run": live.id, "status": live.status})

    async def events(request: Request) -> Response:
        return event_stream(live_run(request), request, waiting="still training")

    return [
        Route("/api/train", train, methods=["POST"]),
        Route("/api/train/{run_id}/events", events, methods=["GET"]),
        Route("/api/train/{run_id}/stop", stop, methods=["POST"]),
    ]

