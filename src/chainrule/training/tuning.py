"""How a training process uses the machine, without changing a number: BLAS threads
during the steps (:class:`BlasThreads`) and glibc's malloc (:func:`keep_freed_memory`)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


class BlasThreads:
    """Within ``with``: BLAS limited to ``n`` threads (via threadpoolctl, if installed);
    ``released()`` lifts the limit for a while."""

    def __init__(self, n: int | None):
        self.n, self.limit = n, None

    def __enter__(self) -> BlasThreads:
        self._apply()
        return self

    def __exit__(self, *exc) -> None:
        self._lift()

    def _apply(self) -> None:
        if self.n is None:
            return
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            self.n = None
            return
        self.limit = threadpool_limits(limits=self.n, user_api="blas")

    def _lift(self) -> None:
        if self.limit is not None:
            self.limit.restore_original_limits()
            self.limit = None

    @contextlib.contextmanager
    def released(self) -> Iterator[None]:
        if self.limit is None:
            yield
            return
        self._lift()
        try:
            yield
        finally:
            self._apply()


def keep_freed_memory() -> None:
    """Ask glibc's malloc to keep freed memory for reuse instead of handing it back to
    the system (Linux only; elsewhere nothing happens).

    Every training step allocates and frees the same large arrays (a convnet's
    activations are megabytes). By default glibc returns such blocks to the system
    (``munmap``, or trimming the heap) and the next step faults the pages back in:
    measured on SimpleConvNet, a third of the step. Blocks up to 32 MB now come from the
    heap, which is trimmed only past 1 GB free. Called by :meth:`TrainingLoop.run`; it
    changes no number, only where memory comes from.
    """
    global _kept
    if _kept or not sys.platform.startswith("linux"):
        return
    _kept = True
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl): leave malloc alone
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 << 20)  # glibc's maximum on 64-bit systems
    mallopt(m_trim_threshold, 1 << 30)


_kept = False
