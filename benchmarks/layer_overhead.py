"""What the generic ``Layer`` wrappers cost in the training loop.

Every ``Layer`` subclass's ``forward`` and ``backward`` are wrapped (the recording
hook and the backward-before-forward check, :mod:`chainrule.base`). This times the
chapter-5 step (TwoLayerNet 784-50-10, float32, batch 100: ``gradient`` and an SGD
update) with the wrappers, without the backward check, and with every wrapper
removed, alternating in one process, and prints the medians and their ratios. No
data needed (random images).

    python benchmarks/layer_overhead.py --steps 2000 --repeats 7
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from chainrule import TwoLayerNet
from chainrule.base import Layer


def layer_classes() -> list[type]:
    found, todo = [], [Layer]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        found.append(cls)
    return found


def unwrapped() -> dict:
    """Each wrapped method of each class, to put back after a bare run."""
    saved = {}
    for cls in layer_classes():
        for name in ("forward", "backward"):
            method = cls.__dict__.get(name)
            if method is not None and hasattr(method, "__wrapped__"):
                saved[cls, name] = method
    return saved


def run(steps: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    net = TwoLayerNet(784, 50, 10, seed=seed)
    net.params = {k: v.astype(np.float32) for k, v in net.params.items()}
    net = TwoLayerNet.from_params(net.params)
    x = rng.random((1000, 784), dtype=np.float32)
    t = rng.integers(0, 10, 1000)
    start = time.perf_counter()
    for i in range(steps):
        rows = slice((i * 100) % 1000, (i * 100) % 1000 + 100)
        grads = net.gradient(x[rows], t[rows])
        for key, g in grads.items():
            net.params[key] -= 0.1 * g
    return time.perf_counter() - start


ARMS = {  # which wrapped methods each arm removes
    "wrapped": (),
    "no backward check": ("backward",),  # as before the check existed
    "bare": ("forward", "backward"),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    wrapped = unwrapped()
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    with threadpool_limits(1, "blas"):
        run(200)  # warm up
        for _ in range(args.repeats):
            for arm, removed in ARMS.items():
                for (cls, name), method in wrapped.items():
                    if name in removed:
                        setattr(cls, name, method.__wrapped__)
                try:
                    times[arm].append(run(args.steps))
                finally:
                    for (cls, name), method in wrapped.items():
                        setattr(cls, name, method)
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print(f"{k:18} {v:.3f} s for {args.steps} steps ({1e6 * v / args.steps:.1f} µs/step), "
              f"{v / med['bare']:.4f}x bare")
    print(f"medians of {args.repeats}, arms alternating; {len(wrapped)} wrapped methods")


if __name__ == "__main__":
    main()
