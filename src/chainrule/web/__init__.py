"""``chainrule serve``: the lab in the browser (``pip install 'chainrule[serve]'``).

Importing this package is cheap; Starlette and uvicorn load when an app is made.

- :func:`create_app` ``(*, graph=None, model=None, max_body=MAX_BODY,
  allowed_hosts=None, **options) -> Starlette``: the app. ``graph`` is a recorded
  :class:`~chainrule.Graph` shown as "your graph"; ``model`` (a run folder) and any
  other option are kept on the state for the pages that use them. The network lab
  loads ``model`` at once (a bad one raises ``netlab_state.LabError``), starts its
  first network with the server when ``train_first`` (``chainrule serve`` sets it;
  otherwise when its page first asks), and takes ``runs_dir``, ``data_dir``,
  ``download``, ``first_root``, ``plots``, ``first_iters`` and ``seed``.
- :func:`serve` ``(app=None, *, host="127.0.0.1", port=None, open_browser=True,
  background=False, **create_app_options)``: run it with uvicorn on the first free
  port from 8000 (or ``port``); blocks until Ctrl-C, or with ``background=True``
  returns a :class:`~chainrule.web.server.Running` (``url``, ``stop()``).
- :func:`serve_graph` ``(graph, **serve_options)``: what ``Graph.serve()`` calls.

The seam between pages (the graph lab in ``graphlab.py``, the network lab in
``netlab.py``, chapter 6's five pages in ``ch6_*.py`` with what they share in
``chapter6.py``, chapter 7's im2col page in ``im2col.py`` and convnet lab in
``convlab.py``, which shares the network lab's runs); what all share is in ``kit.py``,
and ``app.py`` only assembles them:

- A page is a module with ``PAGE = {"id": ..., "path": ...}`` and
  ``routes(state: LabState) -> list[BaseRoute]``, listed in ``app.PAGES``; ``GET
  /api/pages`` lists them so the shared header shows each. Pages with the same
  ``PAGE["group"]`` (``"ch6"``, ``"ch7"``) share one header entry (``nav.<group>``)
  and, on each of them, a row of the group's pages.
- ``kit.LabState``: ``graph``, ``model``, ``options`` (the other ``create_app``
  keywords), ``pages``, ``on_startup`` and ``on_shutdown`` (callables run when the
  server starts and stops: start and stop background work there) and ``lock``.
- Messages as data (:mod:`chainrule.core.messages`): whatever the lab tells the learner
  in words has a stable code, JSON params and one English template, in a ``Catalog``
  next to the code that raises it (``kit.MESSAGES`` ``request.*``, ``graphs.MESSAGES``
  ``graph.*``, ``netlab_state.MESSAGES`` ``net.*``; the library's own: ``expr.*``,
  ``rule.*``, ``diverged.*``, ``live.*``, ``runs.*``). A new page adds its catalog
  (``Catalog("mypage", {"mypage.too_big": "{field} must be at most {max}"})``).
- Errors: ``raise kit.RequestError("net.whole_number", field="batch_size", min=1,
  max=1000, got=0)`` (status 400 unless given; ``fields={...}`` adds top-level keys;
  a param ``field`` is also sent at the top level), or ``RequestError.of(exc)`` for a
  library error that has a code (``ExpressionError``, ``TrainingBusy``, ...). The body
  is ``{"error": English, "code", "params", ...}``; 404, 405, 413 and 415 answer in the
  same shape, and an unexpected exception becomes a JSON 500 without a traceback. A
  text inside an answer (a rule line, a run's end) sends ``X_code`` and ``X_params``
  beside the English ``X`` (``core.messages.said`` and ``coded_fields``).
- Words: the page shows ``message(body)`` (an error) or ``said(text, code, params)``
  (``i18n.js``): ``msg.<code>`` of ``static/i18n/messages.<lang>.json`` with the
  params filled in, the server's English where a language lacks the code. English
  lives only in the catalogs. ``tests/web/test_messages.py`` finds every code in the
  source and fails when one has no English or lacks words (or has other
  ``{placeholders}``) in ja, zh or zh-Hant; ``test_messages_browser.py`` causes each
  kind of error on each page in each language and finds no English word in it.
- Bodies: ``await kit.read_json(request, max_bytes)`` (415 unless
  ``application/json``; 413 past ``max_bytes``; 400 for bad UTF-8, bad JSON,
  ``NaN``/``Infinity``, nesting deeper than ``kit.MAX_DEPTH``). ``kit.Guard`` caps
  every body at ``max_body`` (1 MiB) and passes responses through unbuffered, so a
  ``StreamingResponse`` of server-sent events streams.
- Pages: ``kit.page(name)`` serves ``static/<name>.html``. Shared static files:
  ``common.css`` (header, panels, fonts for each language), ``i18n.js`` (``await
  setup(page)`` loads ``i18n/common.<lang>.json``, ``i18n/<page>.<lang>.json`` and
  ``i18n/messages.<lang>.json`` for ``en``, ``ja``, ``zh`` and ``zh-Hant`` (picked for
  zh-TW, zh-HK, zh-MO and zh-Hant browsers); ``t(key, vars)``; ``data-i18n``
  attributes; ``onLanguage``; ``message``, ``said``)
  and ``chrome.js`` (``mountHeader(page)``: the header with the navigation and the
  language switch).
"""

from __future__ import annotations

from typing import Any

INSTALL_HINT = "pip install 'chainrule[serve]'"


def _need_extra() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"the lab needs Starlette and uvicorn: {INSTALL_HINT}") from exc


def create_app(**options: Any):
    """The lab's Starlette app (see the module docstring for the options)."""
    _need_extra()
    from chainrule.web.app import create_app as make

    return make(**options)


def serve(app: Any = None, **options: Any):
    """Run the lab with uvicorn; see :func:`chainrule.web.server.serve`."""
    _need_extra()
    from chainrule.web.server import serve as run

    return run(app, **options)


def serve_graph(graph: Any, **options: Any):
    """Open ``graph`` in the lab: ``serve(graph=graph, **options)``."""
    return serve(graph=graph, **options)


__all__ = ["create_app", "serve", "serve_graph", "INSTALL_HINT"]
