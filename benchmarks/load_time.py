"""How long ``load_mnist()`` takes the first time (no .npy cache) and later (cached).

Each measurement is a fresh process timing the call alone; "first" uses a new, empty
``XDG_CACHE_HOME``. Prints medians of ``--repeats`` runs.

    CHAINRULE_DATA=../shared/datasets python benchmarks/load_time.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

CODE = ("import time; from chainrule import load_mnist; t = time.perf_counter(); "
        "load_mnist(dataset={!r}); print(time.perf_counter() - t)")


def timed_load(dataset: str, cache: str) -> float:
    env = {**os.environ, "XDG_CACHE_HOME": cache}
    out = subprocess.run([sys.executable, "-c", CODE.format(dataset)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return float(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    print(f"{'dataset':<14} {'first load':>11} {'later loads':>12}")
    for dataset in ("mnist", "fashion-mnist"):
        first, later = [], []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as cache:
                first.append(timed_load(dataset, cache))
                later.append(timed_load(dataset, cache))
        print(f"{dataset:<14} {statistics.median(first):10.3f}s "
              f"{statistics.median(later):11.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
