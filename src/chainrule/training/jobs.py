"""Work in a background thread, told as a stream of events: the lab's live experiments.

A :class:`Job` runs ``work(job)`` in a thread of its own. The work tells what happens
with ``job.emit({"type": ..., ...})`` (each event gets a sequence number ``seq`` and
the job's ``run`` id), keeps what it has made so far in ``job.result``, and looks at
``job.stopping`` between steps: when it is set, the work returns early. The last event
is always ``{"type": "end", "status", "message"}``: ``completed``, ``stopped`` (a stop
was asked for) or ``failed`` (the work raised: its first line, ``message_code`` and
``message_params`` beside it). :class:`Jobs` runs at most one job of each kind at a
time. Nothing here writes a file, prints, or knows about the web.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable
from typing import Any

from chainrule.core.messages import Catalog, Coded, coded_fields, said

Event = dict[str, Any]
FINAL = ("completed", "stopped", "failed")
MESSAGES = Catalog("job", {
    "job.busy": "another run of this experiment is in progress ({run}); stop it or wait "
                "for it to finish",
    "job.failed": "{reason}",
})
"""The words of the jobs by code."""


class JobBusy(Coded, RuntimeError):
    """A job of the same kind is running; one at a time."""


class EventLog:
    """Events for whoever listens: each gets ``seq`` (its place in :attr:`events`) and
    ``run`` (the owner's ``id``); a listener sees the events so far and then each new one
    (:meth:`subscribe`). What a :class:`Job` and a
    :class:`~chainrule.training.live.LiveRun` tell the lab's pages."""

    id: str

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Event], Any]] = []

    def emit(self, event: Event) -> None:
        """Record ``event`` (with ``seq`` and ``run``) and tell every listener; a listener
        that raises is dropped (its failure must not stop the work)."""
        with self._lock:
            event = {**event, "seq": len(self.events), "run": self.id}
            self.events.append(event)
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - a listener's failure must not stop the work
                with self._lock, contextlib.suppress(ValueError):
                    self._listeners.remove(listener)

    def subscribe(self, listener: Callable[[Event], Any]
                  ) -> tuple[list[Event], Callable[[], None]]:
        """The events so far, and ``listener(event)`` called (in the working thread) for
        every later one; returns them with a function that unsubscribes."""
        with self._lock:
            self._listeners.append(listener)
            past = list(self.events)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return past, unsubscribe


class Job(EventLog):
    """``work(job)`` in a thread, with events for whoever listens (see the module)."""

    def __init__(self, kind: str, job_id: str, work: Callable[[Job], Any],
                 settings: dict[str, Any] | None = None):
        self.kind, self.id, self.settings = kind, job_id, dict(settings or {})
        self.status = "starting"  # starting, running, then one of FINAL
        self.message = ""
        self.result: Any = None  # what the work has made so far
        super().__init__()
        self._work = work
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"chainrule-job-{job_id}",
                                        daemon=True)

    def start(self) -> Job:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the work to stop after the step in progress."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def done(self) -> bool:
        return self.status in FINAL

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True when it has finished."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _main(self) -> None:
        self.status = "running"
        message = ""
        try:
            self._work(self)
            status = "stopped" if self.stopping else "completed"
        except Exception as exc:  # noqa: BLE001 - told as the job's end, one line
            status, message = "failed", _failure(exc)
        self.status, self.message = status, message
        self.emit({"type": "end", "status": status, "message": message,
                   **coded_fields("message", message)})


def _failure(exc: BaseException) -> str:
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    if isinstance(exc, Coded) and exc.code:
        return said(exc.code, **exc.params)
    return said("job.failed", reason=text)


class Jobs:
    """The jobs of one server: at most one of each ``kind`` runs at a time; the last
    ``keep`` of each kind are kept (by id) so their events can still be read."""

    def __init__(self, *, keep: int = 10):
        self.keep = keep
        self._jobs: dict[str, Job] = {}
        self._count = itertools.count(1)
        self._lock = threading.Lock()

    def start(self, kind: str, work: Callable[[Job], Any],
              settings: dict[str, Any] | None = None) -> Job:
        """Start ``work`` as a job of ``kind``; :class:`JobBusy` while one of that kind runs."""
        with self._lock:
            busy = self.active(kind)
            if busy is not None:
                raise JobBusy.said("job.busy", run=busy.id)
            job = Job(kind, f"{kind}-{next(self._count)}", work, settings)
            self._jobs[job.id] = job
            done = [j for j in self._jobs.values() if j.kind == kind and j.done]
            for old in done[:max(len(done) - self.keep, 0)]:
                del self._jobs[old.id]
            job.start()
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def active(self, kind: str) -> Job | None:
        """The job of ``kind`` that is running now, if any."""
        return next((j for j in list(self._jobs.values()) if j.kind == kind and not j.done),
                    None)

    def latest(self, kind: str) -> Job | None:
        """The last job of ``kind`` started, running or not."""
        return next((j for j in reversed(list(self._jobs.values())) if j.kind == kind), None)

    def close(self, timeout: float = 10.0) -> None:
        """Stop every job and wait (up to ``timeout`` seconds) for each."""
        jobs = list(self._jobs.values())
        for j in jobs:
            j.stop()
        for j in jobs:
            j.join(timeout)
