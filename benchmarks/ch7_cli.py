"""The README's other convnet results (beside ``chapter7.py``'s table), with the very
commands it quotes.

Each row is one ``chainrule train`` run with the chapter's defaults (20 epochs, Adam
0.001, float32, seed 0); the script prints its accuracy on the whole test set, the
training loop's time and the time per step (the ``result:`` line). SimpleConvNet on
Fashion-MNIST takes a few minutes on 2 cores; ``--deep`` adds the book's chapter-8
DeepConvNet on MNIST (about half an hour; run it at low priority, ``nice``).

``--seeds 0 1 2 3 4`` instead trains SimpleConvNet on MNIST (the book's
``train_convnet.py`` protocol, unchanged) once per seed, and the PyTorch peer
(``../shared/bench/torch_convnet_protocol.py --seed S --threads 1``, if PyTorch is
installed; ``--no-torch`` leaves it out; one thread, as its numbers depend on its thread
count and two threads stall on a busy machine) with the same seeds, and prints each
final accuracy on the whole test set with the median, smallest and largest: how far
the protocol's result moves with the seed alone (the seed draws the weights and the batches; the two
libraries draw different numbers from the same seed).

    CHAINRULE_DATA=../shared/datasets python benchmarks/ch7_cli.py [--deep] [--out DIR]
    CHAINRULE_DATA=../shared/datasets python benchmarks/ch7_cli.py --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import peer

ROWS = ["--net simple-conv --dataset fashion-mnist"]
DEEP = ["--net deep-conv"]
PEER = peer("torch_convnet_protocol.py")


def chainrule_train(flags: str, out: Path) -> dict:
    """One ``chainrule train`` run: its final test accuracy, loop time and steps."""
    cmd = ["chainrule", "train", *shlex.split(flags), "--no-plot", "-q", "--out", str(out)]
    text = subprocess.run([sys.executable, "-m", *cmd], check=True, capture_output=True,
                          text=True).stdout
    return {"test_acc": float(re.search(r"test_acc=([0-9.]+)", text).group(1)),
            "loop_s": float(re.search(r"loop_s=([0-9.]+)", text).group(1)),
            "steps": int(re.search(r"iterations=([0-9]+)", text).group(1))}


def torch_accuracy(seed: int) -> float:
    data = Path(os.environ.get("CHAINRULE_DATA", PEER.parents[1] / "datasets")) / "mnist"
    text = subprocess.run([sys.executable, str(PEER), str(data), "--seed", str(seed),
                           "--threads", "1"],
                          check=True, capture_output=True, text=True).stdout
    return float(re.search(r"test_acc=([0-9.]+)", text).group(1))


def seeds_table(seeds: list[int], root: Path, with_torch: bool) -> None:
    print(f"{'seed':>4} {'chainrule':>9} {'pytorch':>8}   (SimpleConvNet, the book's "
          f"train_convnet.py protocol; accuracy on the whole test set)")
    ours, theirs = [], []
    for s in seeds:
        ours.append(chainrule_train(f"--net simple-conv --seed {s}", root / f"seed{s}")
                    ["test_acc"])
        theirs.append(torch_accuracy(s) if with_torch else float("nan"))
        print(f"{s:>4} {ours[-1]:9.4f} {theirs[-1]:8.4f}", flush=True)
    for name, f in (("median", statistics.median), ("min", min), ("max", max)):
        print(f"{name:>6} {f(ours):7.4f} {f(theirs) if with_torch else float('nan'):8.4f}")
    print(f"runs at or above 0.99: chainrule {sum(a >= 0.99 for a in ours)} of {len(ours)}"
          + (f", pytorch {sum(a >= 0.99 for a in theirs)} of {len(theirs)}"
             if with_torch else ""))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--deep", action="store_true", help="also DeepConvNet on MNIST (long)")
    ap.add_argument("--seeds", type=int, nargs="+", metavar="S",
                    help="instead: SimpleConvNet on MNIST once per seed, and PyTorch's peer")
    ap.add_argument("--no-torch", action="store_true", help="with --seeds: chainrule only")
    ap.add_argument("--out", type=Path, help="keep the run folders here (default: temporary)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        if args.seeds:
            with_torch = not args.no_torch and PEER.is_file()
            if with_torch:
                try:
                    import torch  # noqa: F401
                except ImportError:
                    with_torch = False
            seeds_table(args.seeds, root, with_torch)
            return 0
        print(f"{'test acc':>8} {'loop s':>8} {'ms/step':>8}  command")
        for k, flags in enumerate(ROWS + (DEEP if args.deep else [])):
            r = chainrule_train(flags, root / f"run{k}")
            print(f"{r['test_acc']:8.4f} {r['loop_s']:8.1f} "
                  f"{1e3 * r['loop_s'] / r['steps']:8.1f}  chainrule train {flags}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
