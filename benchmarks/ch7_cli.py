"""The README's other convnet results (beside ``chapter7.py``'s table), with the very
commands it quotes.

Each row is one ``chainrule train`` run with the chapter's defaults (20 epochs, Adam
0.001, float32, seed 0); the script prints its accuracy on the whole test set, the
training loop's time and the time per step (the ``result:`` line). SimpleConvNet on
Fashion-MNIST takes a few minutes on 2 cores; ``--deep`` adds the book's chapter-8
DeepConvNet on MNIST (about an hour; run it at low priority, ``nice``).

    CHAINRULE_DATA=../shared/datasets python benchmarks/ch7_cli.py [--deep] [--out DIR]
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROWS = ["--net simple-conv --dataset fashion-mnist"]
DEEP = ["--net deep-conv"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--deep", action="store_true", help="also DeepConvNet on MNIST (long)")
    ap.add_argument("--out", type=Path, help="keep the run folders here (default: temporary)")
    args = ap.parse_args()
    print(f"{'test acc':>8} {'loop s':>8} {'ms/step':>8}  command")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        for k, flags in enumerate(ROWS + (DEEP if args.deep else [])):
            cmd = ["chainrule", "train", *shlex.split(flags), "--no-plot", "-q",
                   "--out", str(root / f"run{k}")]
            text = subprocess.run([sys.executable, "-m", *cmd], check=True,
                                  capture_output=True, text=True).stdout
            acc = float(re.search(r"test_acc=([0-9.]+)", text).group(1))
            loop = float(re.search(r"loop_s=([0-9.]+)", text).group(1))
            steps = int(re.search(r"iterations=([0-9]+)", text).group(1))
            print(f"{acc:8.4f} {loop:8.1f} {1e3 * loop / steps:8.1f}  chainrule train {flags}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
