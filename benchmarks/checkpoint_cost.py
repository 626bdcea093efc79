"""What a run's checkpoints cost: bytes written over a whole run, and the time of one.

A run folder's ``checkpoint.npz`` is rewritten after every evaluation (and every 60 s).
It used to hold every step's loss, so the bytes written grew with the square of the
run's length; it now holds the losses since the last evaluation, and every step's loss
is appended once to ``step_loss.f64``. For the chapter-5 network (784-50-10, float32,
SGD) evaluated every 600 steps, this writes the checkpoint of each evaluation both ways
for runs of 10000 and 100000 steps and sums the bytes, then times one checkpoint as
``Run`` writes it (median of ``--repeats``; the disk's flush included).

    python benchmarks/checkpoint_cost.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from chainrule.nn.optim import SGD
from chainrule.nn.two_layer import TwoLayerNet
from chainrule.training.checkpoint import save_checkpoint
from chainrule.training.history import History
from chainrule.training.loop import TrainingLoop


def trainer_at(steps: int, every: int) -> TrainingLoop:
    """A trainer whose history is that of ``steps`` steps evaluated every ``every``."""
    x = np.zeros((60000, 784), dtype=np.float32)
    t = np.zeros(60000, dtype=np.int64)
    tr = TrainingLoop(TwoLayerNet(784, 50, 10, dtype=np.float32, seed=0), SGD(0.1), x, t,
                 batch_size=100, iters=steps, eval_every=every, seed=0)
    rng = np.random.default_rng(0)
    rows = list(range(0, steps, every))
    tr.history = History(iteration=rows, epoch=[i / 600 for i in rows],
                         loss=list(rng.random(len(rows))), train_acc=list(rng.random(len(rows))),
                         test_acc=list(rng.random(len(rows))),
                         step_loss=list(rng.random(steps)))
    tr.iteration = steps
    return tr


def written(steps: int, every: int, folder: Path) -> tuple[int, int]:
    """Bytes of all the checkpoints of a ``steps``-step run: (every loss, since the last row)."""
    full = trainer_at(steps, every)
    totals = [0, 0]
    for end in range(1, steps + 1, every):  # the checkpoint after the evaluation of end - 1
        h = full.history
        k = sum(1 for i in h.iteration if i < end)
        part = trainer_at(1, every)
        part.history = History(**{c: getattr(h, c)[:k] for c in History.COLUMNS},
                               step_loss=h.step_loss[:end])
        part.iteration = end
        for j, all_steps in enumerate((True, False)):
            path = save_checkpoint(folder / "c.npz", part, all_steps=all_steps)
            totals[j] += path.stat().st_size
    return totals[0], totals[1] + 8 * steps  # the new way also appends 8 bytes a step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for steps in (10000, 100000):
            before, after = written(steps, 600, folder)
            print(f"{steps:6d} steps, evaluated every 600: checkpoints wrote "
                  f"{before / 1e6:6.1f} MB before, {after / 1e6:6.1f} MB now "
                  f"(step_loss.f64 included)")
        tr = trainer_at(601, 600)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            path = save_checkpoint(folder / "c.npz", tr, all_steps=False)
            times.append(time.perf_counter() - start)
        print(f"one checkpoint: {path.stat().st_size / 1e3:.0f} KB in "
              f"{statistics.median(times) * 1e3:.1f} ms (median of {args.repeats})")


if __name__ == "__main__":
    main()
