"""What checking the labels costs the training loop.

``SoftmaxWithLoss.forward`` refuses labels that are not one per sample, index labels out
of range and one-hot rows that are not distributions (``functions.check_labels``);
``TrainingLoop`` checks its label sets once and lets the loss skip the check in its loop.
This times 2000 steps of the chapter-5 step (a 784-50-10 TwoLayerNet, batches of 100,
float32, one BLAS thread) with the check as it is and as it was before (index labels
range-checked at every call, one-hot labels not checked), alternating, in one process,
for index and one-hot labels, two ways: the book's loop calling ``net.gradient``
(checked at every call) and ``TrainingLoop.run`` (no evaluations); prints medians of the
process's CPU time (steady on a shared machine: the loop runs on one thread).

    python benchmarks/label_check.py [--repeats 7] [--steps 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import numpy as np

import chainrule.core.layers as layers
import chainrule.training.loop as train
from chainrule.nn.optim import SGD
from chainrule.nn.two_layer import TwoLayerNet
from chainrule.training.loop import TrainingLoop


def before(y, t, who="labels"):
    """The check before this change: index labels validated, one-hot taken as given."""
    t = np.asarray(t)
    if t.shape == y.shape:
        return t
    if t.size and (t.min() < 0 or t.max() >= y.shape[-1]):
        raise ValueError("out of range")
    return t


def book_loop(net, x, t, batches) -> float:
    start = time.process_time()
    for b in batches:
        net.gradient(x[b], t[b])
    return time.process_time() - start


def trainer_loop(net, x, t, batches) -> float:
    trainer = TrainingLoop(net, SGD(1e-30), x, t, batch_size=100, iters=len(batches),
                      eval_every=10**9, seed=0, step_threads=None, eval_samples=1)
    start = time.process_time()
    trainer.run(handle_sigint=False)
    return time.process_time() - start


@contextlib.contextmanager
def as_before(enabled: bool):
    """The code before the change: no checks in TrainingLoop, the old check in the loss."""
    if not enabled:
        yield
        return
    saved = layers.check_labels, train._check_label_sets, train._labels_checked
    layers.check_labels = before
    train._check_label_sets = lambda *args: None
    train._labels_checked = lambda layer: contextlib.nullcontext()
    try:
        yield
    finally:
        layers.check_labels, train._check_label_sets, train._labels_checked = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.random((60000, 784), dtype=np.float32)
    labels = rng.integers(0, 10, 60000)
    onehot = np.eye(10, dtype=np.float32)[labels]
    batches = [rng.integers(0, 60000, 100) for _ in range(args.steps)]
    net = TwoLayerNet(784, 50, 10, dtype=np.float32, seed=0)
    try:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(1, user_api="blas")  # as the training loop runs
    except ImportError:
        limit = None
    for name, t in (("index labels", labels), ("one-hot labels", onehot)):
        for how, loop in (("net.gradient", book_loop), ("TrainingLoop.run", trainer_loop)):
            times = {"before": [], "checked": []}
            for _ in range(args.repeats):
                for which in times:
                    with as_before(which == "before"):
                        times[which].append(loop(net, x, t, batches))
            b, c = (statistics.median(times[k]) for k in times)
            print(f"{name:15s} {how:13s} {args.steps} steps: before {b:.3f} s, checked "
                  f"{c:.3f} s, ratio {c / b:.3f} ({(c - b) / args.steps * 1e6:+.1f} us/step)")
    if limit is not None:
        limit.restore_original_limits()


if __name__ == "__main__":
    main()
