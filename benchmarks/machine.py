"""What this machine can do, measured in the same run as the benchmark that quotes it.

``peaks()`` times a large float32 matrix product on one thread and on every core (the
BLAS NumPy uses, the one chainrule's layers call) and a memory copy twice: an array
that stays in a core's cache and one that does not. The benchmarks print each part
of a training step against them: a product's GFLOP/s against the product's peak, a
pass over memory's GB/s against the copy's. ``describe()`` names the machine and its
load average (the machine may be shared: every time it prints is a median of several
rounds, and only ratios measured side by side are compared).

    python benchmarks/machine.py
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

MATMUL_N = 2000
COPY_BIG = 256 << 20  # bytes: far beyond any cache
COPY_SMALL = 512 << 10  # bytes: a core's L2 cache holds source and copy


def peer(name: str) -> Path:
    """A PyTorch peer kept outside the repository: ``shared/bench/NAME`` beside the
    checkout (``../shared/bench``), or beside a folder above it (a worktree's)."""
    here = Path(__file__).resolve().parents[1]
    for folder in here.parents:
        candidate = folder / "shared" / "bench" / name
        if candidate.is_file():
            return candidate
    return here.parent / "shared" / "bench" / name


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load() -> str:
    """The load average over 1, 5 and 15 minutes, as ``uptime`` prints it."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def describe() -> str:
    return f"{cores()} cores, {cpu_name()}; load average {load()}"


def _best(f, repeats: int, clock=time.perf_counter) -> float:
    f()
    best = float("inf")
    for _ in range(repeats):
        t0 = clock()
        f()
        best = min(best, clock() - t0)
    return best


def peaks(repeats: int = 5) -> dict[str, float]:
    """``matmul_1``, ``matmul_all`` (GFLOP/s of a 2000x2000 float32 product on one
    thread, on every core), ``copy_cache`` and ``copy_memory`` (GB/s moved, read plus
    written, by ``np.copyto`` of 512 KB and of 256 MB): best of ``repeats``. What runs on
    one thread is timed in that thread's CPU time (other processes on a busy machine
    stretch wall time, much less this), the product on every core in wall time."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32)
    out = {}
    for name, threads in (("matmul_1", 1), ("matmul_all", cores())):
        with threadpool_limits(threads, "blas"):
            clock = time.thread_time if threads == 1 else time.perf_counter
            out[name] = 2 * MATMUL_N**3 / _best(lambda: a @ a, repeats, clock) / 1e9
    for name, size, times in (("copy_cache", COPY_SMALL, 200), ("copy_memory", COPY_BIG, 1)):
        src = np.ones(size // 4, dtype=np.float32)
        dst = np.empty_like(src)

        def copy(src=src, dst=dst, times=times):
            for _ in range(times):
                np.copyto(dst, src)

        out[name] = 2 * size * times / _best(copy, repeats, time.thread_time) / 1e9
    return out


def print_peaks(p: dict[str, float]) -> None:
    print(f"machine limits: float32 product {p['matmul_1']:.0f} GFLOP/s on one thread, "
          f"{p['matmul_all']:.0f} on {cores()}; copy {p['copy_cache']:.0f} GB/s in cache, "
          f"{p['copy_memory']:.1f} GB/s to and from memory (read + written)")


if __name__ == "__main__":
    print(describe())
    print_peaks(peaks())
    sys.exit(0)
