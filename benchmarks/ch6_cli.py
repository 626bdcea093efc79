"""The README's chapter-6 results table, reproduced with the very commands it quotes.

Each row is one ``chainrule train`` run (seed 0, float32); the script prints its test
accuracy and training time (the ``result:`` line). About 8 minutes on 2 cores.

    CHAINRULE_DATA=../shared/datasets python benchmarks/ch6_cli.py
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tempfile

ROWS = [
    ("mnist", "--hidden 512 256 --activation relu --init he --optimizer adam --lr 0.001 "
              "--epochs 20 --dropout 0.3 --seed 0"),
    ("mnist", "--hidden 256 128 --activation relu --init he --optimizer adam --lr 0.001 "
              "--epochs 20 --batchnorm --dropout 0.2 --seed 0"),
    ("fashion-mnist", "--hidden 512 256 --activation relu --init he --optimizer adam "
                      "--lr 0.001 --epochs 30 --dropout 0.3 --seed 0"),
    ("fashion-mnist", "--hidden 256 128 --activation relu --init he --optimizer adam "
                      "--lr 0.001 --epochs 30 --batchnorm --dropout 0.2 --seed 0"),
]


def main() -> int:
    print(f"{'dataset':<14} {'test acc':>8} {'train s':>8}  command")
    for dataset, flags in ROWS:
        with tempfile.TemporaryDirectory() as out:
            cmd = ["chainrule", "train", "--dataset", dataset, *shlex.split(flags),
                   "--no-plot", "--out", out]
            text = subprocess.run([sys.executable, "-m", *cmd],
                                  check=True, capture_output=True, text=True).stdout
        acc = re.search(r"test_acc=([0-9.]+)", text).group(1)
        loop = re.search(r"loop_s=([0-9.]+)", text).group(1)
        print(f"{dataset:<14} {acc:>8} {loop:>8}  chainrule train --dataset {dataset} {flags}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
