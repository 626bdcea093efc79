"""The lab's request kit: what every page's routes share, in one module.

Every page (the graph lab's :mod:`chainrule.web.graphlab`, the network lab's
:mod:`chainrule.web.netlab`, ...) builds its routes from these; :mod:`chainrule.web.app`
only assembles the pages:

- :class:`LabState`, one per app: the served graph or model and the server's options;
- :func:`json_error` and :class:`RequestError`: every error is ``{"error": message}``
  with a 4xx status (a route raises ``RequestError("inputs.x must be a number")``);
- :func:`read_json`: the body of a POST, checked (``application/json``, size, UTF-8,
  strict JSON: no ``NaN``/``Infinity`` literals, bounded nesting) before it is parsed;
- :class:`Guard`, the outer middleware: a body-size limit counted as bytes arrive,
  an optional ``Host`` check (a page on another site cannot reach the lab through
  DNS rebinding), security headers. It passes every message through as it comes, so
  streamed responses (server-sent events) are never buffered.
"""

from __future__ import annotations

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
from starlette.responses import FileResponse, JSONResponse, Response

STATIC = Path(__file__).with_name("static")
LANGUAGES = ("en", "ja", "zh")
MAX_BODY = 1 << 20  # bytes: no request body may be larger (413)
MAX_JSON = 64 << 10  # bytes: the default limit of read_json
MAX_DEPTH = 32  # nesting of JSON arrays and objects

log = logging.getLogger("chainrule.web")

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'",
}


class RequestError(Exception):
    """Bad input to a route: answered ``{"error": message, **fields}`` with ``status``."""

    def __init__(self, message: str, status: int = 400, **fields: Any):
        super().__init__(message)
        self.message = message
        self.status = status
        self.fields = fields


def json_error(status: int, message: str, **fields: Any) -> JSONResponse:
    """The lab's one error shape: ``{"error": message, ...}`` with a 4xx (or 5xx) status."""
    return JSONResponse({"error": message, **fields}, status_code=status)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (send a finite number)")


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
        raise RequestError("send the body as JSON with Content-Type: application/json", 415)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise RequestError(f"the request body is larger than {max_bytes} bytes", 413)
    if not body.strip():
        raise RequestError("the request body is empty; send a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"the request body is not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise RequestError(f"bad JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                           offset=exc.pos) from None
    except RecursionError:
        raise RequestError(f"the JSON nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # NaN/Infinity, or an integer with thousands of digits
        raise RequestError(f"bad JSON: {exc}") from None
    if _depth(value) > MAX_DEPTH:
        raise RequestError(f"the JSON nests deeper than {MAX_DEPTH} levels")
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
            problem = 400, "unexpected Host header: open the lab at the address it printed"
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or len(length) > 18):
            problem = 400, "bad Content-Length header"
        elif length is not None and int(length) > self.max_body:
            problem = 413, f"the request body is larger than {self.max_body} bytes"
        if problem:
            await _send_error(send, *problem)
            return
        received = 0
        limit = self.max_body

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"the request body is larger than {limit} bytes")
            return message

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    out.setdefault(key, value)
                out.setdefault("cache-control", "no-cache")
            await send(message)

        await self.app(scope, limited_receive, send_with_headers)


async def _send_error(send, status: int, message: str) -> None:
    response = json_error(status, message)
    response.headers.update(SECURITY_HEADERS)
    await response({"type": "http"}, None, send)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    words = {404: "not found: " + request.url.path[:200],
             405: f"method {request.method[:20]} not allowed on {request.url.path[:200]}"}
    message = exc.detail if exc.status_code not in words else words[exc.status_code]
    return JSONResponse({"error": message}, status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


async def request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return json_error(exc.status, exc.message, **exc.fields)


async def client_gone(request: Request, exc: Exception) -> Response:
    """A client that went away before its request's body came: normal (a closed tab, a
    dropped connection), nothing to log; the answer goes nowhere."""
    return Response(status_code=400)


async def server_error(request: Request, exc: Exception) -> Response:
    log.error("internal error on %s %s: %r", request.method, request.url.path, exc)
    return json_error(500, "internal error (a bug in chainrule: please report it)")


def page(name: str) -> Callable:
    """A route endpoint answering ``static/<name>.html``."""
    async def endpoint(request: Request) -> Response:
        return FileResponse(STATIC / f"{name}.html", media_type="text/html; charset=utf-8")
    return endpoint


EXCEPTION_HANDLERS = {HTTPException: http_error, RequestError: request_error,
                      ClientDisconnect: client_gone, Exception: server_error}
"""How the app answers errors: all in the lab's one JSON shape."""
