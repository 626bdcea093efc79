"""Chapter 6 results: MultiLayerNet configurations against the issue's accuracy targets.

Targets (issue 7): MNIST >= 98.0% test accuracy in under 5 minutes of training on the
2-core build machines; Fashion-MNIST >= 0.88 with a stated configuration.

Each row trains with the library API and the training tool's protocol: weights from
``SeedSequence(seed).spawn(2)[0]``, batches of ``batch_size`` indices drawn with
replacement from ``spawn(2)[1]`` (``rng.integers``), ``60000 // batch_size`` steps per
epoch, float32; test accuracy after every epoch. "train s" counts the steps only,
"total s" adds the per-epoch test evaluations. The reported accuracy is the one after
the last epoch (no picking of the best epoch). The data are read into memory first.

Usage::

    CHAINRULE_DATA=../shared/datasets python benchmarks/ch6_results.py [--only NAME ...]

Wall times depend on the machine's load: on a shared machine they are pessimistic.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from dataclasses import dataclass

import numpy as np

from chainrule import load_mnist
from chainrule.nets import MultiLayerNet
from chainrule.optim import make_optimizer


@dataclass(frozen=True)
class Row:
    name: str
    dataset: str
    hidden: tuple[int, ...]
    activation: str = "relu"
    init: str = "he"
    optimizer: str = "adam"
    lr: float = 0.001
    epochs: int = 20
    batch_size: int = 100
    batchnorm: bool = False
    dropout: float = 0.0
    weight_decay: float = 0.0
    seed: int = 0
    target: float = 0.0

    def describe(self) -> str:
        parts = [f"784-{'-'.join(map(str, self.hidden))}-10 {self.activation} {self.init}",
                 f"{self.optimizer} lr {self.lr:g}", f"batch {self.batch_size}",
                 f"{self.epochs} epochs"]
        if self.batchnorm:
            parts.append("batch norm")
        if self.dropout:
            parts.append(f"dropout {self.dropout:g}")
        if self.weight_decay:
            parts.append(f"weight decay {self.weight_decay:g}")
        return ", ".join(parts)

    def command(self) -> str:
        """The ``chainrule train`` command of issue 7's item 4 that reproduces the row."""
        flags = [f"--dataset {self.dataset}", f"--hidden {' '.join(map(str, self.hidden))}",
                 f"--activation {self.activation}", f"--init {self.init}",
                 f"--optimizer {self.optimizer}", f"--lr {self.lr:g}",
                 f"--batch-size {self.batch_size}", f"--epochs {self.epochs}"]
        if self.batchnorm:
            flags.append("--batchnorm")
        if self.dropout:
            flags.append(f"--dropout {self.dropout:g}")
        if self.weight_decay:
            flags.append(f"--weight-decay {self.weight_decay:g}")
        flags.append(f"--seed {self.seed}")
        return "chainrule train " + " ".join(flags)


ROWS = [
    Row("mnist", "mnist", (512, 256), dropout=0.3, epochs=20, target=0.98),
    Row("mnist-bn", "mnist", (256, 128), batchnorm=True, dropout=0.2, epochs=20, target=0.98),
    Row("fashion", "fashion-mnist", (512, 256), dropout=0.3, epochs=30, target=0.88),
    Row("fashion-bn", "fashion-mnist", (256, 128), batchnorm=True, dropout=0.2, epochs=30,
        target=0.88),
]


def train(row: Row, data, log=None) -> dict:
    (x, t), (xt, tt) = data
    init_seq, batch_seq = np.random.SeedSequence(row.seed).spawn(2)
    net = MultiLayerNet(x.shape[1], list(row.hidden), 10, activation=row.activation,
                        weight_init_std=row.init, weight_decay_lambda=row.weight_decay,
                        dropout_ratio=row.dropout, use_batchnorm=row.batchnorm,
                        dtype=np.float32, rng=np.random.default_rng(init_seq))
    opt = make_optimizer(row.optimizer, row.lr)
    rng = np.random.default_rng(batch_seq)
    per_epoch = max(len(x) // row.batch_size, 1)
    train_s, accs, start = 0.0, [], time.perf_counter()
    for epoch in range(1, row.epochs + 1):
        t0 = time.perf_counter()
        for _ in range(per_epoch):
            batch = rng.integers(len(x), size=row.batch_size)
            opt.update(net.params, net.gradient(x[batch], t[batch]))
        train_s += time.perf_counter() - t0
        accs.append(net.accuracy(xt, tt))
        if log is not None:
            log(f"  {row.name} epoch {epoch:3d}: test {accs[-1]:.4f}  ({train_s:.0f} s)")
    return {"test_acc": accs[-1], "best": max(accs), "train_s": train_s,
            "total_s": time.perf_counter() - start, "curve": accs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="rows to run: " + ", ".join(r.name for r in ROWS))
    parser.add_argument("--data-dir", help="folder holding mnist/ and fashion-mnist/ "
                        "(default: $CHAINRULE_DATA and the loader's search)")
    parser.add_argument("--seed", type=int, help="use this seed for every row (default: "
                        "each row's own, 0)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-epoch lines")
    args = parser.parse_args(argv)
    rows = [r for r in ROWS if args.only is None or r.name in args.only]
    if args.seed is not None:
        rows = [dataclasses.replace(r, seed=args.seed) for r in rows]
    if not rows:
        parser.error(f"no row called {args.only}")
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    results = []
    for row in rows:
        data_dir = os.path.join(args.data_dir, row.dataset) if args.data_dir else None
        (x, t), (xt, tt) = load_mnist(dataset=row.dataset, data_dir=data_dir)
        data = ((np.array(x), np.array(t)), (np.array(xt), np.array(tt)))  # into memory
        results.append((row, train(row, data, log)))
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at the end; numpy {np.__version__}")
    print("| configuration | dataset | test accuracy | target | train s | total s | command |")
    print("|---|---|---|---|---|---|---|")
    for row, r in results:
        ok = "met" if r["test_acc"] >= row.target else "MISSED"
        print(f"| {row.describe()} | {row.dataset} | {r['test_acc']:.4f} (best epoch "
              f"{r['best']:.4f}) | >= {row.target:g}: {ok} | {r['train_s']:.0f} | "
              f"{r['total_s']:.0f} | `{row.command()}` |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
