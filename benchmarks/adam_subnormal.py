"""Adam's subnormal ``m``: how many there are after a few epochs of SimpleConvNet, what
they cost, and that setting them to 0 changes no number of the run.

Trains the book's ``train_convnet.py`` protocol (``chainrule train --net simple-conv``,
seed 0) for ``--epochs`` epochs twice in this process: as chainrule does (``m``'s
subnormal values set to 0) and with that turned off (the formulas as written). Prints
the share of ``W2``'s ``m`` that is subnormal without the flush, the median time of one
Adam update on that state and on the flushed one, each run's training loop, and
whether the two runs' losses, accuracies and weights are the same bits.

    CHAINRULE_DATA=../shared/datasets python benchmarks/adam_subnormal.py [--epochs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def main() -> int:
    from chainrule.data.load import load_data
    from chainrule.nn import optim
    from chainrule.training.config import TrainConfig
    from chainrule.training.loop import TrainingLoop
    from chainrule.training.tuning import keep_freed_memory

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=float, default=5)
    ap.add_argument("--updates", type=int, default=100, help="Adam updates to time")
    args = ap.parse_args()
    keep_freed_memory()
    data = load_data("mnist")
    runs = {}
    for name, flush in (("flushed (chainrule)", True), ("formulas as written", False)):
        optim._FLUSH_SUBNORMALS = flush
        config = TrainConfig.for_network("simple-conv", epochs=args.epochs)
        trainer = TrainingLoop.from_config(config, data)
        t0 = time.perf_counter()
        trainer.run(handle_sigint=False)
        runs[name] = (trainer, time.perf_counter() - t0)
    optim._FLUSH_SUBNORMALS = True

    plain, _ = runs["formulas as written"]
    m = plain.optimizer.m["W2"]
    tiny = np.finfo(m.dtype).tiny
    subnormal = (m != 0) & (np.abs(m) < tiny)
    print(f"after {plain.iteration} steps: {subnormal.mean():.1%} of W2's m is subnormal "
          f"({int(subnormal.sum())} of {m.size})")

    rng = np.random.default_rng(0)
    p = plain.net.params["W2"].reshape(-1).copy()
    v = plain.optimizer.v["W2"].reshape(-1).copy()
    g = (rng.standard_normal(m.size) * 1e-3).astype(m.dtype)
    g[(np.abs(m) < tiny).reshape(-1)] = 0  # units that get no gradient any more
    states = {"subnormal m, not flushed": (m.reshape(-1), False),
              "the same m flushed to 0": (np.where(subnormal, 0, m).reshape(-1), True)}
    for label, (state, flush) in states.items():
        optim._FLUSH_SUBNORMALS = flush
        times = []
        for _ in range(args.updates):
            mm = state.copy()
            t0 = time.perf_counter()
            optim._adam_slice(p.copy(), g, mm, v.copy(), 0.9, 0.999, 1e-3)
            times.append(time.perf_counter() - t0)
        print(f"one Adam update of W2, {label}: {statistics.median(times) * 1e3:.2f} ms")
    optim._FLUSH_SUBNORMALS = True

    for name, (trainer, wall) in runs.items():
        print(f"{name}: {trainer.iteration} steps in {wall:.1f} s")
    a, b = (t for t, _ in runs.values())
    same = (a.history.to_csv() == b.history.to_csv()
            and np.array_equal(a.history.step_loss, b.history.step_loss)
            and all(a.net.params[k].tobytes() == b.net.params[k].tobytes()
                    for k in a.net.params))
    print(f"the two runs' metrics, step losses and weights are the same bits: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
