"""The initial-weights page (``/ch6/init``): figures 6-10 to 6-14, and the gradients.

Routes (all answers JSON; bad input gets a 4xx with ``{"error", "code", "params"}``):

- ``GET  /ch6/init``          the page
- ``POST /api/ch6/init``      ``{"activation", "scale", "seed"}``: each layer's activation
  histogram and the histogram of the gradient coming back to it

Every number comes from :func:`chainrule.book.activation_histograms.activation_histograms`
(chainrule's layers, forward and backward); this module checks and answers.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chainrule.book.activation_histograms import activation_histograms
from chainrule.core.checks import finite_or_none
from chainrule.nn.multilayer import ACTIVATIONS
from chainrule.web.chapter6 import GROUP, choice
from chainrule.web.kit import LabState, RequestError, page
from chainrule.web.netlab_input import MAX_FORM, check_keys, got, int_field, read_object

PAGE = {"id": "ch6-init", "path": "/ch6/init", "group": GROUP}
SCALES = (1e-4, 100.0)  # a weight std given as a number
NAMED_SCALES = ("xavier", "he")
MAX_SEED = 2**32 - 1  # RandomState's seeds


def init_form(data: dict) -> dict:
    check_keys(data, ("activation", "scale", "seed"))
    activation = choice(data, "activation", tuple(ACTIVATIONS), "sigmoid")
    scale = data.get("scale", 1.0)
    lo, hi = SCALES
    if not (scale in NAMED_SCALES or (isinstance(scale, (int, float))
                                      and not isinstance(scale, bool) and lo <= scale <= hi)):
        raise RequestError("ch6.scale", field="scale", min=lo, max=hi, got=got(scale))
    return {"activation": activation, "scale": scale if isinstance(scale, str) else
            float(scale), "seed": int_field(data, "seed", 0, MAX_SEED, 0)}


def init_answer(form: dict) -> dict:
    found = activation_histograms(form["activation"], form["scale"], seed=form["seed"])
    return {**form, "std": found.scale, "loss": finite_or_none(found.loss),
            "layers": [{"values": v.as_json(), "grads": g.as_json(),
                        "weight_grad_rms": finite_or_none(r)}
                       for v, g, r in zip(found.values, found.gradients,
                                          found.weight_grad_rms, strict=True)]}


def routes(state: LabState) -> list[BaseRoute]:
    async def histograms(request: Request) -> Response:
        form = init_form(await read_object(request, MAX_FORM))
        return JSONResponse(await run_in_threadpool(init_answer, form))

    return [Route(PAGE["path"], page("ch6-init"), methods=["GET"]),
            Route("/api/ch6/init", histograms, methods=["POST"])]
