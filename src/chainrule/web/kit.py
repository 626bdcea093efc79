"""The lab's request kit: what every page's routes share, in one module.

Every page (the graph lab's :mod:`chainrule.web.graphlab`, the network lab's
:mod:`chainrule.web.netlab`, ...) builds its routes from these; :mod:`chainrule.web.app`
only assembles the pages:

- :class:`LabState`, one per app: the served graph or model and the server's options;
- :func:`json_error` and :class:`RequestError`: every error is ``{"error": English,
  "code": ..., "params": {...}}`` with a 4xx status: a route raises
  ``RequestError("net.whole_number", field="batch_size", min=1, max=1000, got=0)``, the
  code's English template in a :class:`~chainrule.core.messages.Catalog` (this module's
  :data:`MESSAGES` for its own), its words in each language in
  ``static/i18n/messages.<lang>.json`` (see :mod:`chainrule.web`);
- :func:`read_json`: the body of a POST, checked (``application/json``, size, UTF-8,
  strict JSON: no ``NaN``/``Infinity`` literals, bounded nesting) before it is parsed;
- :class:`Guard`, the outer middleware: a body-size limit counted as bytes arrive,
  an optional ``Host`` check (a page on another site cannot reach the lab through
  DNS rebinding), security headers. It passes every message through as it comes, so
  streamed responses (server-sent events) are never buffered;
- :func:`event_stream`: a training's events (a network lab's run, a chapter-6 job) as
  server-sent events, resumed after the ``Last-Event-ID`` a reconnecting browser sends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse

from chainrule.core.messages import Catalog, Coded, json_params, say

STATIC = Path(__file__).with_name("static")
LANGUAGES = ("en", "ja", "zh", "zh-Hant")
MAX_BODY = 1 << 20  # bytes: no request body may be larger (413)
MAX_JSON = 64 << 10  # bytes: the default limit of read_json
MAX_DEPTH = 32  # nesting of JSON arrays and objects

log = logging.getLogger("chainrule.web")

MESSAGES = Catalog("request", {
    "request.content_type": "send the body as JSON with Content-Type: application/json",
    "request.too_large": "the request body is larger than {max} bytes",
    "request.empty": "the request body is empty; send a JSON object",
    "request.not_utf8": "the request body is not UTF-8 (byte {byte})",
    "request.bad_json": "bad JSON at line {line} column {column}: {reason}",
    "request.not_finite": "bad JSON: {name} is not a JSON number (send a finite number)",
    "request.bad_value": "bad JSON: {reason}",
    "request.too_deep": "the JSON nests deeper than {max} levels",
    "request.host": "unexpected Host header: open the lab at the address it printed",
    "request.content_length": "bad Content-Length header",
    "request.not_found": "not found: {path}",
    "request.method": "method {method} not allowed on {path}",
    "request.http": "{reason}",  # another HTTP error, in Starlette's words
    "request.internal": "internal error (a bug in chainrule: please report it)",
})
"""The words of the errors every page shares (``reason``: the words of the JSON parser
or of Starlette, which have no code)."""

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'",
}


class RequestError(Exception):
    """Bad input to a route, answered with ``status`` and ``{"error": the English of
    code, "code": code, "params": params, **fields}``.

    ``code`` is a message code with an English template in a
    :class:`~chainrule.core.messages.Catalog` (KeyError here if it has none); ``params``
    fill it in. A param named ``field`` (the request's field at fault) is also sent at
    the top level, as are ``fields`` (``offset``, ``running``, ...).
    """

    def __init__(self, code: str, status: int = 400, *, fields: dict[str, Any] | None = None,
                 **params: Any):
        self.message = say(code, **params)
        super().__init__(self.message)
        self.code, self.params, self.status = code, json_params(params), status
        self.fields = {**({"field": params["field"]} if "field" in params else {}),
                       **(fields or {})}

    @classmethod
    def of(cls, error: Coded, status: int = 400, **fields: Any) -> RequestError:
        """A library's coded error (an ``ExpressionError``, ...) as the lab's answer: its
        own message as ``error``, its code and params."""
        out = cls.__new__(cls)
        Exception.__init__(out, str(error))
        out.message, out.code, out.params = str(error), error.code, dict(error.params)
        out.status, out.fields = status, fields
        return out


def json_error(status: int, code: str, *, fields: dict[str, Any] | None = None,
               **params: Any) -> JSONResponse:
    """The lab's one error shape, ``{"error", "code", "params", ...}``, with a 4xx (or
    5xx) status: :class:`RequestError` as a response."""
    return error_response(RequestError(code, status, fields=fields, **params))


def error_response(exc: RequestError, headers: Any = None) -> JSONResponse:
    return JSONResponse({"error": exc.message, "code": exc.code, "params": exc.params,
                         **exc.fields}, status_code=exc.status, headers=headers)


class _NotANumber(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NotANumber(name)


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest (iteratively: no recursion limit)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, level)
            todo.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


async def read_json(request: Request, max_bytes: int = MAX_JSON) -> Any:
    """The request's JSON body, or a :class:`RequestError` (400, 413 or 415) saying why.

    Checks the content type (``application/json``: a form on another site cannot send
    it without the browser asking first), the size as the bytes arrive, the encoding,
    and the JSON itself: ``NaN``, ``Infinity``, numbers that overflow a float and
    nesting deeper than ``MAX_DEPTH`` are refused.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise RequestError("request.content_type", 415)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise RequestError("request.too_large", 413, max=max_bytes)
    if not body.strip():
        raise RequestError("request.empty")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError("request.not_utf8", byte=exc.start) from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise RequestError("request.bad_json", fields={"offset": exc.pos}, line=exc.lineno,
                           column=exc.colno, reason=exc.msg) from None
    except RecursionError:
        raise RequestError("request.too_deep", max=MAX_DEPTH) from None
    except _NotANumber as exc:  # NaN/Infinity
        raise RequestError("request.not_finite", name=str(exc)) from None
    except ValueError as exc:  # an integer with thousands of digits
        raise RequestError("request.bad_value", reason=str(exc)) from None
    if _depth(value) > MAX_DEPTH:
        raise RequestError("request.too_deep", max=MAX_DEPTH)
    return value


@dataclass
class LabState:
    """What the routes of every page share: one per app."""

    graph: Any = None  # a chainrule Graph to show (Graph.serve), or None
    model: Any = None  # a run folder for the network lab (chainrule serve --model)
    options: dict[str, Any] = field(default_factory=dict)  # other create_app keywords
    pages: list[dict[str, str]] = field(default_factory=list)  # {"id", "path"} per page
    on_startup: list[Callable[[], Any]] = field(default_factory=list)  # when serving starts
    on_shutdown: list[Callable[[], Any]] = field(default_factory=list)  # when it stops
    lock: threading.Lock = field(default_factory=threading.Lock)  # guards `graph`


def _host_name(host: str) -> str:
    if host.startswith("["):  # [::1]:8000
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    """Outer ASGI middleware: body-size limit, Host check, security headers.

    It wraps ``receive`` and ``send`` and passes every message on as it comes.
    """

    def __init__(self, app, *, max_body: int = MAX_BODY,
                 allowed_hosts: set[str] | None = None):
        self.app = app
        self.max_body = max_body
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = None
        if self.allowed_hosts is not None and \
                _host_name(headers.get("host", "")).lower() not in self.allowed_hosts:
            problem = RequestError("request.host")
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or len(length) > 18):
            problem = RequestError("request.content_length")
        elif length is not None and int(length) > self.max_body:
            problem = RequestError("request.too_large", 413, max=self.max_body)
        if problem:
            await _send_error(send, problem)
            return
        received = 0
        limit = self.max_body

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestError("request.too_large", 413, max=limit)
            return message

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    out.setdefault(key, value)
                out.setdefault("cache-control", "no-cache")
            await send(message)

        await self.app(scope, limited_receive, send_with_headers)


async def _send_error(send, problem: RequestError) -> None:
    response = error_response(problem)
    response.headers.update(SECURITY_HEADERS)
    await response({"type": "http"}, None, send)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path[:200]
    if exc.status_code == 404:
        error = RequestError("request.not_found", 404, path=path)
    elif exc.status_code == 405:
        error = RequestError("request.method", 405, method=request.method[:20], path=path)
    else:
        error = RequestError("request.http", exc.status_code, reason=str(exc.detail)[:300])
    return error_response(error, headers=getattr(exc, "headers", None))


async def request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return error_response(exc)


async def client_gone(request: Request, exc: Exception) -> Response:
    """A client that went away before its request's body came: normal (a closed tab, a
    dropped connection), nothing to log; the answer goes nowhere."""
    return Response(status_code=400)


async def server_error(request: Request, exc: Exception) -> Response:
    log.error("internal error on %s %s: %r", request.method, request.url.path, exc)
    return json_error(500, "request.internal")


def page(name: str) -> Callable:
    """A route endpoint answering ``static/<name>.html``."""
    async def endpoint(request: Request) -> Response:
        return FileResponse(STATIC / f"{name}.html", media_type="text/html; charset=utf-8")
    return endpoint


EXCEPTION_HANDLERS = {HTTPException: http_error, RequestError: request_error,
                      ClientDisconnect: client_gone, Exception: server_error}
"""How the app answers errors: all in the lab's one JSON shape."""


def event_stream(source, request: Request, *, waiting: str = "still running") -> StreamingResponse:
    """``source``'s events as server-sent events: those after the ``Last-Event-ID`` the
    browser sends back when it reconnects, then each as it comes, until the ``end`` event.
    ``source.subscribe(callback)`` answers the events so far and a function that
    unsubscribes (:class:`~chainrule.training.live.LiveRun`,
    :class:`~chainrule.training.jobs.Job`); ``waiting`` is the comment sent every 15 s
    of silence, which keeps proxies from closing the connection."""
    last = request.headers.get("last-event-id", "")
    after = int(last) if last.isdigit() and len(last) < 10 else -1
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    past, unsubscribe = source.subscribe(lambda e: loop.call_soon_threadsafe(queue.put_nowait, e))

    async def stream():
        try:
            yield "retry: 2000\n\n"
            for event in past:
                if event["seq"] > after:
                    yield _sse(event)
                if event["type"] == "end":
                    return
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), 15)
                except asyncio.TimeoutError:
                    yield f": {waiting}\n\n"
                    continue
                if event["seq"] > after:
                    yield _sse(event)
                if event["type"] == "end":
                    return
        finally:
            unsubscribe()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no"})


def _sse(event: dict) -> str:
    return f"id: {event['seq']}\ndata: {json.dumps(event, allow_nan=False)}\n\n"
