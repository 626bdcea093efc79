"""What the chapter-6 pages share: their words, the MNIST images they train on, their
live runs and the routes that start, follow, stop and save one.

The pages (:mod:`~chainrule.web.ch6_optimizers`, :mod:`~chainrule.web.ch6_init`,
:mod:`~chainrule.web.ch6_batchnorm`, :mod:`~chainrule.web.ch6_overfit`,
:mod:`~chainrule.web.ch6_hyper`) each have
``PAGE`` with ``"group": "ch6"`` (the header shows them as one entry, "Chapter 6", and
a row of the group's pages under it). The three that train run their experiment of
:mod:`chainrule.book.experiments` (or :mod:`chainrule.book.hyperparameters`) as a
:class:`~chainrule.training.jobs.Job`: one of
each kind at a time; a second tab follows the same run. Routes of a training page,
for ``/api/ch6/<kind>``:

- ``POST /api/ch6/<kind>``                the form: ``{"run": ID}``; 409 while a run of
  that kind trains, with ``"running": ID``
- ``GET  /api/ch6/<kind>/latest``         ``{"run": ID or null, "status", "presets"}``: what a
  new tab follows, and the page's presets
- ``GET  /api/ch6/<kind>/<id>/events``    server-sent events, one JSON object per event
- ``POST /api/ch6/<kind>/<id>/stop``      stop after the current step
- ``POST /api/ch6/<kind>/<id>/save``      the curves so far as the book's figure and a
  CSV in a new folder ``<runs_dir>/ch6/<timestamp>`` (as ``chainrule experiment``
  writes them); nothing is written unless asked
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chainrule.core.messages import Catalog, Coded
from chainrule.training.jobs import Job, JobBusy, Jobs
from chainrule.training.tuning import BlasThreads
from chainrule.web.kit import LabState, RequestError, event_stream
from chainrule.web.netlab_input import MAX_FORM, read_object, shown

GROUP = "ch6"
MESSAGES = Catalog("ch6", {
    "ch6.choice": "{field} must be one of {choices}, got {got}",
    "ch6.point": "{field} must be two numbers [x, y], each from {min} to {max}",
    "ch6.optimizers": "optimizers must be an object naming 1 to {max} optimizers ({choices}), "
                      "each with an object of its settings",
    "ch6.setting": "{optimizer} takes {allowed}; got {got}",
    "ch6.scale": "scale must be xavier, he or a number from {min} to {max}, got {got}",
    "ch6.no_run": "no run {run} on this page",
    "ch6.nothing_yet": "run {run} has no curves to save yet",
    "ch6.cannot_save": "cannot save into {path}: {reason}",
    "ch6.no_mnist": "this page trains on MNIST, which could not be loaded: {reason}",
})
"""The chapter-6 pages' words by code (see :mod:`chainrule.core.messages`)."""

DATA_OPTIONS = ("data_dir", "download", "runs_dir")


class Chapter6:
    """The chapter-6 pages' shared state: their jobs and the MNIST images, loaded once."""

    def __init__(self, *, data_dir=None, download: bool = True, runs_dir="runs"):
        self.data_dir, self.download, self.runs_dir = data_dir, download, Path(runs_dir)
        self.jobs = Jobs()
        self._data = None
        self._lock = threading.Lock()

    def mnist(self):
        """MNIST's ``(x_train, t_train, x_test, t_test)`` (images as uint8, read as
        float32 rows when sliced), loaded on first use; a coded error if it cannot be."""
        from chainrule.data.load import load_data

        with self._lock:
            if self._data is None:
                try:
                    self._data = load_data("mnist", self.data_dir, download=self.download)
                except (OSError, ValueError) as exc:
                    raise JobFailed.said("ch6.no_mnist",
                                         reason=str(exc).splitlines()[0]) from None
            return self._data

    def close(self) -> None:
        self.jobs.close()


class JobFailed(Coded, RuntimeError):
    """Why a chapter-6 run could not go on (its end event words it from the code)."""


def chapter6_for(state: LabState) -> Chapter6:
    """The :class:`Chapter6` of the app's shared state, made once (``state.chapter6``)."""
    ch6 = getattr(state, "chapter6", None)
    if ch6 is None:
        ch6 = Chapter6(**{k: v for k, v in state.options.items() if k in DATA_OPTIONS})
        state.chapter6 = ch6
        state.on_shutdown.append(ch6.close)
    return ch6


# ---------------------------------------------------------------- checks


def choice(data: dict, key: str, choices, default):
    v = data.get(key, default)
    if not isinstance(v, str) or v not in choices:
        raise RequestError("ch6.choice", field=key, choices=list(choices), got=shown(v))
    return v


# ---------------------------------------------------------------- live runs


def job_routes(ch6: Chapter6, kind: str, start: Callable[[dict], tuple[Callable, dict]],
               result: Callable[[Job], Any], presets: dict) -> list[BaseRoute]:
    """The routes of a training page (see the module): ``start(form)`` checks the form
    (raising ``RequestError``) and returns the work and its settings; ``result(job)`` is
    the job's curves so far as an ``ExperimentResult`` (None: nothing yet); ``presets``
    (the book's settings, the limits) go out with ``latest``."""
    base = f"/api/ch6/{kind}"

    async def begin(request: Request) -> Response:
        data = await read_object(request, MAX_FORM)
        work, settings = start(data)
        try:
            job = ch6.jobs.start(kind, _one_blas_thread(work), settings)
        except JobBusy as exc:
            active = ch6.jobs.active(kind)
            raise RequestError.of(exc, 409, running=None if active is None else active.id
                                  ) from None
        return JSONResponse({"run": job.id, "settings": job.settings})

    async def latest(request: Request) -> Response:
        job = ch6.jobs.latest(kind)
        return JSONResponse({"run": None if job is None else job.id,
                             "status": None if job is None else job.status,
                             "presets": presets})

    def job_of(request: Request) -> Job:
        run_id = request.path_params["run_id"]
        job = ch6.jobs.get(run_id)
        if job is None or job.kind != kind:
            raise RequestError("ch6.no_run", 404, run=run_id[:200])
        return job

    async def stop(request: Request) -> Response:
        job = job_of(request)
        job.stop()
        return JSONResponse({"run": job.id, "status": job.status})

    async def save(request: Request) -> Response:
        job = job_of(request)
        found = result(job)
        if found is None:
            raise RequestError("ch6.nothing_yet", 409, run=job.id)
        return JSONResponse(await run_in_threadpool(_save, ch6, found))

    async def events(request: Request) -> Response:
        return event_stream(job_of(request), request)

    return [Route(base, begin, methods=["POST"]),
            Route(f"{base}/latest", latest, methods=["GET"]),
            Route(f"{base}/{{run_id}}/events", events, methods=["GET"]),
            Route(f"{base}/{{run_id}}/stop", stop, methods=["POST"]),
            Route(f"{base}/{{run_id}}/save", save, methods=["POST"])]


def _save(ch6: Chapter6, result) -> dict:
    from chainrule.book.figures import plot_experiment, save_csv
    from chainrule.training.folder import RunError, new_run_dir

    root = ch6.runs_dir / "ch6"
    try:
        folder = new_run_dir(root)
        png = plot_experiment(result, folder / f"{result.name}.png")
        csv = save_csv(result, folder / f"{result.name}.csv")
    except (OSError, RunError) as exc:
        raise RequestError("ch6.cannot_save", 409, path=str(root),
                           reason=getattr(exc, "strerror", None) or str(exc)) from None
    return {"folder": str(folder), "files": [str(png), str(csv)]}


def _one_blas_thread(work: Callable[[Job], Any]) -> Callable[[Job], Any]:
    """``work`` with BLAS on one thread: a page's networks are small, and their products
    are faster on one thread (much faster on a busy machine)."""

    def run(job: Job) -> Any:
        with BlasThreads(1):
            return work(job)

    return run
