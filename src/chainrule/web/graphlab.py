"""The graph lab's routes: the page at ``/`` and its JSON API.

- ``GET /api/graphs``: the graphs on offer with their inputs and default values;
- ``POST /api/graph``: one graph, computed by the library, as JSON (see
  :func:`chainrule.web.graphs.describe` and the README).

Bad input is a 400 (413, 415) with ``{"error": ..., "code": ..., "params": ...,
"field": ...}`` (codes: :data:`chainrule.web.graphs.MESSAGES`, and for an expression
:data:`chainrule.graph.expression.MESSAGES`, with ``offset`` and ``length`` of the
offending part).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chainrule.web import graphs
from chainrule.web.kit import LabState, RequestError, page, read_json

PAGE = {"id": "graph", "path": "/"}
MAX_BODY = 16 << 10  # bytes of a POST /api/graph body

# What the library raises for inputs it cannot compute with (a log of a negative
# number, an overflow): the message goes back to the page as a 400.
COMPUTE_ERRORS = (ValueError, TypeError, ArithmeticError, KeyError, IndexError,
                  RecursionError)


def _answer(state: LabState, body: Any) -> dict[str, Any]:
    names = {g["name"]: g["inputs"] for g in graphs.catalogue(state.graph)}
    try:
        spec = graphs.parse_request(body, names)
        with np.errstate(all="ignore"):
            if spec.name == graphs.SERVED:  # the one shared graph: one request at a time
                with state.lock:
                    return graphs.describe(graphs.build(spec, state.graph), spec)
            return graphs.describe(graphs.build(spec), spec)
    except graphs.GraphRequestError as exc:
        raise RequestError.of(exc, field=exc.field, **exc.where) from None
    except COMPUTE_ERRORS as exc:
        raise RequestError("graph.cannot_compute", reason=_one_line(exc)) from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def routes(state: LabState) -> list[BaseRoute]:
    async def list_graphs(request: Request) -> Response:
        return JSONResponse({"graphs": graphs.catalogue(state.graph),
                             "default": graphs.SERVED if state.graph is not None else "apple"})

    async def one_graph(request: Request) -> Response:
        body = await read_json(request, MAX_BODY)
        return JSONResponse(await run_in_threadpool(_answer, state, body))

    return [
        Route("/", page("graph"), methods=["GET"]),
        Route("/api/graphs", list_graphs, methods=["GET"]),
        Route("/api/graph", one_graph, methods=["POST"]),
    ]
