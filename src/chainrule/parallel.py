"""A batch's work split across cores, with the same numbers as on one.

``split(n, work)`` calls ``work(start, stop)`` on consecutive slices of ``range(n)``:
the first on the calling thread, the others on persistent helper threads, all at the
same time (NumPy releases the GIL in its loops and matrix products), and returns
when every slice is done. Each call writes only its own slice of arrays made
beforehand, and computes each element the same way whatever the slice (one image's
products, an elementwise formula): so the result is the same bits however many
threads take part, including one. Sums across the slices (a gradient summed over the
batch) are left to the caller, in a fixed order.

How many threads: 1 (everything on the caller, no helper started) unless the
calling thread is inside ``with threads(k):``; the trainer uses it during steps and
evaluations. While another thread holds ``reserve()`` (the trainer's evaluation,
running beside the steps), ``split`` uses one thread fewer, so that no core runs two.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterator

_local = threading.local()
_lock = threading.Lock()
_helpers: list[_Helper] = []
_reserved = 0


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def current() -> int:
    """The threads a ``split`` on this thread would use now."""
    return max(1, getattr(_local, "threads", 1) - _reserved)


@contextlib.contextmanager
def threads(k: int | None) -> Iterator[None]:
    """Within the block, ``split`` on this thread uses up to ``k`` threads (None: as
    many as :func:`cores`; 1: no helper)."""
    k = cores() if k is None else int(k)
    if k < 1:
        raise ValueError(f"threads: need at least 1, got {k}")
    before = getattr(_local, "threads", 1)
    _local.threads = k
    try:
        yield
    finally:
        _local.threads = before


@contextlib.contextmanager
def reserve() -> Iterator[None]:
    """Within the block, every ``split`` uses one thread fewer: this thread has a core."""
    global _reserved
    with _lock:
        _reserved += 1
    try:
        yield
    finally:
        with _lock:
            _reserved -= 1


MIN_PART = 1 << 16
"""Elements of work below which a slice is not worth a thread (handing it over costs
tens of microseconds)."""


BLOCK = 1 << 18
"""Elements of work per call of ``work`` when ``split`` is asked for blocks: what a
core's cache holds while the few NumPy passes of one call go over it."""


def split(n: int, work: Callable[[int, int], object], *, size: int = MIN_PART,
          blocks: bool = False) -> None:
    """``work(start, stop)`` over ``range(n)`` in consecutive slices, in parallel, when
    each item is ``size`` elements of work (a slice gets at least :data:`MIN_PART`);
    with ``blocks``, each slice in calls of about :data:`BLOCK` elements (for work made
    of several passes over memory). An exception in any slice is raised here, after
    all have finished."""
    size = max(size, 1)
    if blocks and n * size > BLOCK:
        step, whole = max(1, BLOCK // size), work

        def work(start: int, stop: int) -> None:
            for a in range(start, stop, step):
                whole(a, min(a + step, stop))

    k = min(current(), n * size // MIN_PART)
    if k <= 1:
        work(0, n)
        return
    bounds = [n * i // k for i in range(k + 1)]
    done: queue.SimpleQueue = queue.SimpleQueue()
    helpers = _started(k - 1)
    for helper, start, stop in zip(helpers, bounds[1:-1], bounds[2:], strict=True):
        helper.jobs.put((work, start, stop, done))
    try:
        work(0, bounds[1])
    finally:
        errors = [done.get() for _ in helpers]
    for exc in errors:
        if exc is not None:
            raise exc


class _Helper:
    """A daemon thread running ``work(start, stop)`` jobs from its queue, in order."""

    def __init__(self, number: int):
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._run, name=f"chainrule-part-{number}", daemon=True).start()

    def _run(self) -> None:
        while True:
            work, start, stop, done = self.jobs.get()
            try:
                work(start, stop)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
                done.put(exc)
            else:
                done.put(None)
            del work, done


def _forget_helpers() -> None:  # a forked child has none of its parent's threads
    global _lock, _reserved
    _lock = threading.Lock()
    _helpers.clear()
    _reserved = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_helpers)


def _started(k: int) -> list[_Helper]:
    with _lock:
        while len(_helpers) < k:
            _helpers.append(_Helper(len(_helpers) + 1))
        return _helpers[:k]
