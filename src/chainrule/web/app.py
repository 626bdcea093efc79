"""The Starlette app of ``chainrule serve``: the pages' routes assembled, under
:class:`~chainrule.web.kit.Guard`. What the routes share is in :mod:`chainrule.web.kit`."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from chainrule.web import (
    ch6_batchnorm,
    ch6_hyper,
    ch6_init,
    ch6_optimizers,
    ch6_overfit,
    convlab,
    graphlab,
    im2col,
    netlab,
)
from chainrule.web.kit import (
    EXCEPTION_HANDLERS,
    LANGUAGES,
    MAX_BODY,
    STATIC,
    Guard,
    LabState,
)

PAGES = (graphlab, netlab, ch6_optimizers, ch6_init, ch6_batchnorm, ch6_overfit, ch6_hyper,
         im2col, convlab)
"""The page modules, in the header's order: each has ``PAGE = {"id": ..., "path": ...}``
(and ``"group"``: pages of one group share one entry of the header) and
``routes(state) -> list[BaseRoute]``."""


def create_app(*, graph: Any = None, model: Any = None, max_body: int = MAX_BODY,
               allowed_hosts: set[str] | None = None, **options: Any) -> Starlette:
    """The lab's Starlette app; see :mod:`chainrule.web` for the options."""
    state = LabState(graph=graph, model=model, options=options)
    routes: list[BaseRoute] = []
    for module in PAGES:
        state.pages.append(dict(module.PAGE))
        routes += module.routes(state)

    async def pages(request: Request) -> Response:
        return JSONResponse({"pages": state.pages, "languages": list(LANGUAGES)})

    routes += [Route("/api/pages", pages, methods=["GET"]),
               Mount("/static", StaticFiles(directory=STATIC), name="static")]

    @asynccontextmanager
    async def lifespan(app):
        for hook in state.on_startup:
            hook()
        try:
            yield
        finally:
            for hook in state.on_shutdown:
                hook()

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=EXCEPTION_HANDLERS)
    app.router.redirect_slashes = False
    app.state.lab = state
    app.add_middleware(Guard, max_body=max_body, allowed_hosts=allowed_hosts)
    return app
