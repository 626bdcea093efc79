"""A batch's work split across cores, with the same numbers as on one.

``split(n, work)`` calls ``work(start, stop)`` on consecutive pieces of ``range(n)``
that cover it once, on the calling thread and on persistent helper threads at the
same time (NumPy releases the GIL in its loops and matrix products), and returns
when every piece is done. Each call writes only its own slice of arrays made
beforehand, and computes each element the same way whatever the slice (one image's
products, an elementwise formula): so the result is the same bits however many
threads take part, including one, and however the pieces fall. Sums across the
pieces (a gradient summed over the batch) are left to the caller, in a fixed order.

The pieces are not dealt out in advance: each thread takes the next one left until
none is, and the caller waits only for pieces a helper has started. So a helper that
the system has not scheduled (another process holds the core) costs nothing: the
caller does its pieces, as it would on one thread.

How many threads: 1 (everything on the caller, no helper started) unless the
calling thread is inside ``with threads(k):``; the trainer uses it during steps and
evaluations. While another thread holds ``reserve()`` (the trainer's evaluation,
running beside the steps), ``split`` uses one thread fewer, so that no core runs two.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import threading
from collections.abc import Callable, Iterator

MIN_PART = 1 << 16
"""Elements of work below which a piece is not worth a thread (handing it over costs
microseconds)."""

BLOCK = 1 << 18
"""Elements of work per piece when ``split`` is asked for blocks: what a core's cache
holds while the few NumPy passes of one piece go over it."""

PIECES = 1
"""Pieces per thread (but blocks): one. Pieces are still taken in turn, so a late
helper's piece is done by the caller. More, smaller pieces were measured slower:
SimpleConvNet's convolution forward on two threads took 1.35 ms in 8 pieces and
0.83 ms in 2 (each piece's patch copy and stacked product have a fixed cost)."""

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


DEFAULT_MAX = 8
"""``threads(None)`` uses one thread per core, at most this many (a mini-batch of a
hundred images leaves little to share beyond that)."""


@contextlib.contextmanager
def threads(k: int | None) -> Iterator[None]:
    """Within the block, ``split`` on this thread uses up to ``k`` threads (None: one
    per core, at most :data:`DEFAULT_MAX`; 1: no helper)."""
    k = min(cores(), DEFAULT_MAX) if k is None else int(k)
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


def split(n: int, work: Callable[[int, int], object], *, size: int = MIN_PART,
          blocks: bool = False, piece: int | None = None) -> None:
    """``work(start, stop)`` over ``range(n)`` in consecutive pieces, in parallel, when
    each item is ``size`` elements of work (a piece gets at least :data:`MIN_PART`);
    with ``blocks``, in pieces of about :data:`BLOCK` elements (for work made of
    several passes over memory); with ``piece``, in pieces of exactly ``piece`` items
    (the last one shorter) however many threads there are: for work whose numbers
    depend on how the items are grouped (one matrix product per piece, partial sums
    per piece). An exception in any piece is raised here, once no piece is running
    any more."""
    size = max(size, 1)
    k = min(current(), n * size // MIN_PART)
    if piece is not None:
        step = max(1, int(piece))
        k = min(k, -(-n // step))
    else:
        step = max(1, BLOCK // size) if blocks else n
        if k > 1:
            step = min(step, max(-(-n // (PIECES * k)), -(-MIN_PART // size)))
    if k <= 1 or step >= n:
        for a in range(0, n, step):
            work(a, min(a + step, n))
        return
    call = _Call(work, n, step)
    for helper in _started(k - 1):
        helper.jobs.put(call)
    call.run_pieces(own=True)


def together(*calls: Callable[[], object]) -> list:
    """``[call() for call in calls]``, the calls run at the same time on up to
    :func:`current` threads (each call whole on one thread, so the same results)."""
    results: list = [None] * len(calls)

    def run(a: int, b: int) -> None:
        for i in range(a, b):
            results[i] = calls[i]()

    split(len(calls), run, size=MIN_PART)  # each call is worth a thread
    return results


class _Call:
    """One ``split``: its pieces, taken in turn by whichever thread is free."""

    def __init__(self, work: Callable[[int, int], object], n: int, step: int):
        self.work, self.n, self.step = work, n, step
        self.pieces = -(-n // step)
        self.take = itertools.count().__next__  # atomic: one C call under the GIL
        self.done: queue.SimpleQueue = queue.SimpleQueue()  # helpers' pieces: None or error

    def run_pieces(self, *, own: bool = False) -> None:
        """Run pieces until none is left; the caller (``own``) then waits for the
        helpers' pieces still running, and raises the first error."""
        mine, error = 0, None
        while (i := self.take()) < self.pieces:
            if error is None or not own:
                try:
                    a = i * self.step
                    self.work(a, min(a + self.step, self.n))
                except BaseException as exc:  # noqa: BLE001 - raised by the caller
                    if not own:
                        self.done.put(exc)
                        continue
                    error = exc  # take (and skip) the rest, so that no helper starts one
            if own:
                mine += 1
            else:
                self.done.put(None)
        if not own:
            return
        for _ in range(self.pieces - mine):
            exc = self.done.get()
            error = error or exc
        if error is not None:
            raise error


class _Helper:
    """A daemon thread taking pieces of the ``split`` calls put on its queue."""

    def __init__(self, number: int):
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._run, name=f"chainrule-part-{number}", daemon=True).start()

    def _run(self) -> None:
        while True:
            call = self.jobs.get()
            call.run_pieces()
            del call


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
