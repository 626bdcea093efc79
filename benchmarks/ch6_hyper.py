"""The README's account of the book's hyperparameter search (figure 6-24), reproduced:
the same function the lab's page and ``chainrule experiment hyperparameters`` call, with
the book's settings and seed 0. Prints the best trials, where the best 10 lie, how the
trials below and above a learning rate of 0.001 did, and the time. About 35 s on 2 cores.

    CHAINRULE_DATA=../shared/datasets python benchmarks/ch6_hyper.py
"""

from __future__ import annotations

import time

from chainrule.book.hyperparameters import random_search
from chainrule.data.load import load_mnist


def main() -> int:
    (x, t), _ = load_mnist()
    start = time.perf_counter()
    result = random_search(x, t, seed=0)
    seconds = time.perf_counter() - start
    rows = result.settings["ranked"]
    for i, r in enumerate(rows[:5]):
        print(f"Best-{i + 1}: val acc {r['val_acc']:.2f} (train {r['train_acc']:.4f}) "
              f"lr {r['lr']:.3g}, weight decay {r['weight_decay']:.3g} (trial {r['index'] + 1})")
    span = result.settings["best_spans"]["10"]
    print(f"best 10: lr {span['lr'][0]:.2g} to {span['lr'][1]:.2g}, weight decay "
          f"{span['weight_decay'][0]:.2g} to {span['weight_decay'][1]:.2g}")
    low = [r["val_acc"] for r in rows if r["lr"] < 1e-3]
    high = [r for r in rows if r["lr"] >= 1e-3]
    print(f"{len(low)} trials with lr < 0.001: val acc {min(low):.2f} to {max(low):.2f}; "
          f"the {len(high)} with lr >= 0.001 are the best {len(high)}: "
          f"{rows[:len(high)] == high}")
    print(f"{len(rows)} trials in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
