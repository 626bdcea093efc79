"""Running the lab: a port, uvicorn, the browser; in the foreground or a thread."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn

from chainrule.web.app import create_app

FIRST_PORT = 8000
PORTS_TRIED = 100
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


class PortError(OSError):
    """No port to listen on: the message says which and why."""


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0: any free port)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise PortError(f"cannot listen on host {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def free_socket(host: str, port: int | None, first: int = FIRST_PORT) -> socket.socket:
    """``port`` on ``host``, or the first free port from ``first`` when ``port`` is None."""
    if port is not None:
        if not 0 <= port <= 65535:
            raise PortError(f"port {port} is not between 0 and 65535")
        try:
            return bind(host, port)
        except OSError as exc:
            raise PortError(f"cannot listen on {host}:{port}: "
                            f"{exc.strerror or exc} (try another --port)") from None
    last: OSError | None = None
    for p in range(first, min(first + PORTS_TRIED, 65536)):
        try:
            return bind(host, p)
        except PortError:
            raise
        except OSError as exc:
            last = exc
    raise PortError(f"no free port on {host} from {first} to "
                    f"{first + PORTS_TRIED - 1} ({last and last.strerror}); "
                    "choose one with --port")


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    elif host == "0.0.0.0":
        host = "127.0.0.1"
    return f"http://{host}:{port}/"


def can_open_browser() -> bool:
    """Whether a graphical browser can open (on Linux and BSD: a display is set)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@dataclass
class Running:
    """A lab serving in a background thread (``serve(..., background=True)``)."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def serve(app: Any = None, *, host: str = "127.0.0.1", port: int | None = None,
          open_browser: bool = True, background: bool = False,
          announce: Callable[[str], Any] | None = print, **options: Any) -> Running | None:
    """Serve the lab (``app``, or ``create_app(**options)``) until Ctrl-C.

    Listens on ``host`` (loopback unless told otherwise) at ``port`` or the first free
    port from 8000, says the URL through ``announce``, and opens a browser when
    ``open_browser`` and there is a display. With ``background=True`` (or inside a
    running event loop, as in Jupyter) it serves from a thread and returns a
    :class:`Running`; otherwise it returns when the server stops (Ctrl-C raises
    ``KeyboardInterrupt`` after a clean shutdown).
    """
    if app is None:  # first: an app that cannot be made (a bad --model) takes no port
        options.setdefault("allowed_hosts", LOOPBACK_NAMES if is_loopback(host) else None)
        app = create_app(**options)
    sock = free_socket(host, port)
    url = url_of(sock)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2,
                            lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    if announce is not None:
        announce(f"chainrule lab: {url}  (Ctrl-C stops it)")

    def open_when_started() -> None:
        for _ in range(200):
            if server.started:
                webbrowser.open(url)
                return
            time.sleep(0.05)

    if open_browser and can_open_browser():
        threading.Thread(target=open_when_started, daemon=True).start()
    if background or _in_event_loop():
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                                  name="chainrule-lab", daemon=True)
        thread.start()
        for _ in range(400):
            if server.started or not thread.is_alive():
                break
            time.sleep(0.025)
        if not server.started:
            server.should_exit = True
            raise RuntimeError("the lab's server did not start")
        return Running(url, server, thread)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return None
