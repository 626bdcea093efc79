"""What the generic ``Layer`` wrappers cost in the training loop.

Every ``Layer`` subclass's ``forward`` and ``backward`` are wrapped (the recording
hook and the backward-before-forward check, :mod:`chainrule.core.base`). This times the
chapter-5 step (TwoLayerNet 784-50-10, float32, batch 100: ``gradient`` and an SGD
update) with the wrappers, without the backward check, and with every wrapper
removed, alternating in one process, as CPU time of the thread (BLAS held to one
thread), and prints the medians and their ratios, then the wrappers' cost per call.
No data needed (random images).

    python benchmarks/layer_overhead.py --steps 2000 --repeats 7
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from chainrule import TwoLayerNet
from chainrule.core.base import Layer


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
    """CPU seconds of ``steps`` training steps (BLAS held to this thread)."""
    rng = np.random.default_rng(seed)
    net = TwoLayerNet(784, 50, 10, seed=seed)
    net.params = {k: v.astype(np.float32) for k, v in net.params.items()}
    net = TwoLayerNet.from_params(net.params)
    x = rng.random((1000, 784), dtype=np.float32)
    t = rng.integers(0, 10, 1000)
    start = time.thread_time()  # CPU time of this thread: steadier on a shared machine
    for i in range(steps):
        rows = slice((i * 100) % 1000, (i * 100) % 1000 + 100)
        grads = net.gradient(x[rows], t[rows])
        for key, g in grads.items():
            net.params[key] -= 0.1 * g
    return time.thread_time() - start


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
    low = {k: min(v) for k, v in times.items()}
    for k in ARMS:
        print(f"{k:18} median {med[k]:.3f} s ({1e6 * med[k] / args.steps:.1f} µs/step, "
              f"{med[k] / med['bare']:.4f}x bare), best {low[k]:.3f} s "
              f"({low[k] / low['bare']:.4f}x bare)")
    print(f"{args.steps} steps, {args.repeats} repeats, arms alternating; "
          f"{len(wrapped)} wrapped methods")
    per_call(wrapped)


def per_call(wrapped: dict, number: int = 20000) -> None:
    """The wrappers' own cost per call (best of 7; robust on a busy machine)."""
    import timeit

    from chainrule.core.layers import Relu

    relu, x = Relu(), np.ones(4, dtype=np.float32)
    relu.forward(x)
    forward, backward = wrapped[Relu, "forward"], wrapped[Relu, "backward"]
    cases = {
        "forward wrapped": lambda: relu.forward(x),
        "forward bare": lambda: forward.__wrapped__(relu, x),
        "backward wrapped": lambda: relu.backward(x),
        "backward bare": lambda: backward.__wrapped__(relu, x),
    }
    best = {k: min(timeit.Timer(f, timer=time.thread_time).repeat(number=number, repeat=7))
            / number for k, f in cases.items()}
    extra = (best["forward wrapped"] - best["forward bare"],
             best["backward wrapped"] - best["backward bare"])
    print(f"per call (Relu on 4 floats): forward +{1e9 * extra[0]:.0f} ns, "
          f"backward +{1e9 * extra[1]:.0f} ns; a chapter-5 step makes 4 of each: "
          f"+{4e6 * sum(extra):.2f} µs")

if __name__ == "__main__":
    main()
