"""The optimizers page (``/ch6/optimizers``): figures 6-3 to 6-8, paths you can drag.

Routes (all answers JSON; bad input gets a 4xx with ``{"error", "code", "params"}``):

- ``GET  /ch6/optimizers``          the page
- ``GET  /api/ch6/surfaces``         the functions, their views, starts and presets
- ``GET  /api/ch6/surfaces/NAME``    one function's contour lines
- ``POST /api/ch6/paths``            ``{"surface", "start": [x, y], "iters", "optimizers":
  {name: {"lr", ...}}}``: each optimizer's path with every update's numbers

Every number comes from :mod:`chainrule.book.optimizer_paths` (chainrule's optimizers);
this module checks and answers.
"""

from __future__ import annotations

import functools
import math

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chainrule.book.optimizer_paths import (
    BOOK_RATES,
    OPTIMIZER_NAMES,
    SETTINGS,
    SURFACES,
    contour_lines,
    optimizer_path,
    preset,
)
from chainrule.web.chapter6 import GROUP, choice
from chainrule.web.kit import LabState, RequestError, page
from chainrule.web.netlab_input import MAX_FORM, check_keys, float_field, int_field, read_object

PAGE = {"id": "ch6-optimizers", "path": "/ch6/optimizers", "group": GROUP}
MAX_ITERS = 300
MAX_START = 1000.0  # |x|, |y| of a start point
MAX_RATE = 100.0
MAX_CONSTANT = 0.9999  # momentum, decay_rate, beta1, beta2: in [0, 1)


def number(v) -> float | None:
    """A float for JSON: None for NaN and the infinities."""
    v = float(v)
    return v if math.isfinite(v) else None


def pair(p) -> list:
    return [number(p[0]), number(p[1])]


def surfaces_answer() -> dict:
    return {"optimizers": list(OPTIMIZER_NAMES), "settings": {k: list(v) for k, v in
                                                               SETTINGS.items()},
            "book_rates": BOOK_RATES, "max_iters": MAX_ITERS,
            "surfaces": [{"name": s.name, "formula": s.formula, "view": list(s.view),
                          "start": list(s.start), "iters": s.iters,
                          "minimum": None if s.minimum is None else list(s.minimum),
                          "levels": list(s.levels),
                          "presets": {n: preset(n, s.name) for n in OPTIMIZER_NAMES}}
                         for s in SURFACES.values()]}


@functools.lru_cache(maxsize=len(SURFACES))
def contours_answer(name: str) -> dict:
    return {"name": name, "contours": [
        {"level": c["level"], "lines": [[[round(x, 4), round(y, 4)] for x, y in line]
                                        for line in c["lines"]]}
        for c in contour_lines(name)]}


def path_answer(path) -> dict:
    return {"name": path.name, "settings": path.settings,
            "points": [pair(p) for p in path.points],
            "heights": [number(h) for h in path.heights],
            "grads": [pair(g) for g in path.grads],
            "states": [{k: v if k == "t" else pair(v) for k, v in s.items()}
                       for s in path.states],
            "rates": [number(r) for r in path.rates], "escaped": path.escaped}


def paths_form(data: dict) -> dict:
    """The checked form of ``POST /api/ch6/paths``."""
    check_keys(data, ("surface", "start", "iters", "optimizers"))
    name = choice(data, "surface", tuple(SURFACES), "book")
    s = SURFACES[name]
    start = data.get("start", list(s.start))
    if not (isinstance(start, list) and len(start) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) <= MAX_START
            for v in start)):  # (JSON has no NaN; a huge integer fails the range)
        raise RequestError("ch6.point", field="start", min=-MAX_START, max=MAX_START)
    iters = int_field(data, "iters", 1, MAX_ITERS, s.iters)
    chosen = data.get("optimizers", {n: {} for n in OPTIMIZER_NAMES})
    if not (isinstance(chosen, dict) and 1 <= len(chosen) <= len(OPTIMIZER_NAMES)
            and all(k in SETTINGS and isinstance(v, dict) for k, v in chosen.items())):
        raise RequestError("ch6.optimizers", field="optimizers", max=len(OPTIMIZER_NAMES),
                           choices=list(OPTIMIZER_NAMES))
    settings = {}
    for opt in OPTIMIZER_NAMES:  # in the book's order, whatever the request's
        if opt not in chosen:
            continue
        given = chosen[opt]
        unknown = sorted(str(k)[:40] for k in given if k not in SETTINGS[opt])
        if unknown:
            raise RequestError("ch6.setting", field=opt, optimizer=opt,
                               allowed=list(SETTINGS[opt]), got=unknown)
        named = {f"{opt}.{k}": v for k, v in given.items()}  # the field an error names
        settings[opt] = {
            k: float_field(named, f"{opt}.{k}", 0, MAX_RATE, open_lo=True) if k == "lr"
            else float_field(named, f"{opt}.{k}", 0, MAX_CONSTANT)
            for k in SETTINGS[opt] if given.get(k) is not None}
    return {"surface": name, "start": [float(v) for v in start], "iters": iters,
            "optimizers": settings}


def paths_answer(form: dict) -> dict:
    paths = [optimizer_path(form["surface"], opt, form["start"], form["iters"], **settings)
             for opt, settings in form["optimizers"].items()]
    return {**form, "paths": [path_answer(p) for p in paths]}


def routes(state: LabState) -> list[BaseRoute]:
    async def surfaces(request: Request) -> Response:
        return JSONResponse(surfaces_answer())

    async def contours(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in SURFACES:
            raise RequestError("ch6.choice", 404, field="surface", choices=list(SURFACES),
                               got=name[:40])
        return JSONResponse(await run_in_threadpool(contours_answer, name))

    async def paths(request: Request) -> Response:
        form = paths_form(await read_object(request, MAX_FORM))
        return JSONResponse(await run_in_threadpool(paths_answer, form))

    return [Route(PAGE["path"], page("ch6-optimizers"), methods=["GET"]),
            Route("/api/ch6/surfaces", surfaces, methods=["GET"]),
            Route("/api/ch6/surfaces/{name}", contours, methods=["GET"]),
            Route("/api/ch6/paths", paths, methods=["POST"])]
