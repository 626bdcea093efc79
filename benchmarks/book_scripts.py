"""The book's own scripts, run with the book's code and on chainrule (the shim first on
PYTHONPATH), after the same ``np.random.seed``: their printed numbers, side by side, and
wall times.

    python benchmarks/book_scripts.py BOOK_DIR [SCRIPT ...] [--seed 0] [--repeats 1]

``BOOK_DIR`` is a checkout of github.com/oreilly-japan/deep-learning-from-scratch (its
code is run, never copied here). Without scripts, every script of chapters 4 to 8 runs;
``ch06/hyperparameter_optimization.py`` runs 10 trials instead of 100 (``--trials``), and
the two convnet trainings (``ch07/train_convnet.py``, ``ch08/train_deepnet.py``) train
on the first 5000 images for 2 epochs instead of all 60000 for 20 (``--train-size``,
``--epochs``; ``--train-size 0 --epochs 20`` runs them as the book has them): the
book's own commented-out lines that keep 5000 training and 1000 test images, put in.
Every script runs in a scratch copy of its folder (the others linked), so
``train_convnet.py`` does not overwrite the book's ``params.pkl``.
The book's ``dataset/mnist.py`` reads the four MNIST ``.gz`` files from
``BOOK_DIR/dataset``; they are copied there from ``$CHAINRULE_DATA/mnist`` when missing.

Each run is a fresh process: ``np.random.seed(SEED)``, matplotlib's Agg backend with
``plt.show`` a no-op, the script run as ``__main__`` in its own folder. The report says,
per script, whether the printed lines and the plotted data are identical, else the
largest relative difference between the numbers that differ.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPTS = [
    "ch04/gradient_1d.py", "ch04/gradient_2d.py", "ch04/gradient_method.py",
    "ch04/gradient_simplenet.py", "ch04/train_neuralnet.py",
    "ch05/buy_apple.py", "ch05/buy_apple_orange.py", "ch05/gradient_check.py",
    "ch05/train_neuralnet.py",
    "ch06/optimizer_compare_naive.py", "ch06/optimizer_compare_mnist.py",
    "ch06/weight_init_activation_histogram.py", "ch06/weight_init_compare.py",
    "ch06/overfit_weight_decay.py", "ch06/overfit_dropout.py", "ch06/batch_norm_test.py",
    "ch06/batch_norm_gradient_check.py", "ch06/hyperparameter_optimization.py",
    "ch07/apply_filter.py", "ch07/gradient_check.py", "ch07/simple_convnet.py",
    "ch07/train_convnet.py", "ch07/visualize_filter.py",
    "ch08/deep_convnet.py", "ch08/awesome_net.py", "ch08/misclassified_mnist.py",
    "ch08/half_float_network.py", "ch08/train_deepnet.py",
]
MNIST = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
DIGEST = "#### "


def shortened(name: str, source: str, trials: int, train_size: int, epochs: int) -> str:
    """The script's source with its long loops cut down (in memory; same code path)."""
    edits: list[tuple[str, str]] = []
    if name == "hyperparameter_optimization.py":
        edits = [("optimization_trial = 100", f"optimization_trial = {trials}")]
    elif name in ("train_convnet.py", "train_deepnet.py"):
        if train_size:
            cut = (f"x_train, t_train = x_train[:{train_size}], t_train[:{train_size}]\n"
                   "x_test, t_test = x_test[:1000], t_test[:1000]\n")
            if name == "train_convnet.py":  # the book's own lines, commented out
                edits = [("#x_train, t_train = x_train[:5000], t_train[:5000]\n"
                          "#x_test, t_test = x_test[:1000], t_test[:1000]\n", cut)]
            else:
                edits = [("network = DeepConvNet()", cut + "network = DeepConvNet()")]
        edits.append(("max_epochs = 20", f"max_epochs = {epochs}") if name == "train_convnet.py"
                     else ("epochs=20,", f"epochs={epochs},"))
    for old, new in edits:
        if source.count(old) != 1:
            raise SystemExit(f"{name}: expected the line {old!r} once (another version of "
                             f"the book's repository?)")
        source = source.replace(old, new)
    return source


def run_script(script: str, seed: int, trials: int, train_size: int, epochs: int) -> None:
    """Inside the child: run ``script`` as the book's reader would, then print what it plotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.axes
    import matplotlib.pyplot as plt
    import numpy as np

    plotted = []

    def recording(name, original, first_only=False):
        def record(*args, **kwargs):
            arrays = [np.asarray(a, dtype=float).ravel() for a in args[1 if first_only else 0:]
                      if not isinstance(a, str)]
            plotted.append((name, arrays[0] if first_only or name == "hist" else arrays[-1]))
            return original(*args, **kwargs)
        return record

    for name in ("plot", "hist", "quiver"):
        setattr(plt, name, recording(name, getattr(plt, name)))
    matplotlib.axes.Axes.imshow = recording("imshow", matplotlib.axes.Axes.imshow, True)
    plt.show = lambda *a, **k: None

    path = Path(script).resolve()
    os.chdir(path.parent)
    sys.path[0] = str(path.parent)
    sys.argv = [str(path)]
    source = shortened(path.name, path.read_text(encoding="utf-8"), trials, train_size, epochs)
    np.random.seed(seed)
    start = time.perf_counter()
    exec(compile(source, str(path), "exec"), {"__name__": "__main__", "__file__": str(path)})
    wall = time.perf_counter() - start
    for name, y in plotted:
        if y.size:
            print(f"{DIGEST}{name} n={y.size} first={y[0]!r} last={y[-1]!r} "
                  f"sum={float(np.nansum(y))!r}")
    common = sys.modules.get("common")
    print(f"{DIGEST}common {getattr(common, '__file__', None)}")
    print(f"{DIGEST}wall {wall:.3f}")


def scratch_copy(book: Path, script: str, where: Path) -> Path:
    """``where`` holding a copy of the script's folder and links to the rest of ``book``."""
    folder = Path(script).parts[0]
    for entry in book.iterdir():
        if entry.name == folder:
            shutil.copytree(entry, where / entry.name)
        else:
            (where / entry.name).symlink_to(entry.resolve())
    return where / script


def child(book: Path, script: str, chainrule: bool, seed: int, trials: int,
          threads: int | None, train_size: int, epochs: int) -> tuple[str, float]:
    env = dict(os.environ, MPLBACKEND="Agg")
    if threads is not None:
        env.update({k: str(threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                               "MKL_NUM_THREADS")})
    env.pop("PYTHONPATH", None)
    if chainrule:
        from chainrule.book_shim import path

        env["PYTHONPATH"] = str(path())
    with tempfile.TemporaryDirectory(prefix="book-scripts-") as scratch:
        path = scratch_copy(book, script, Path(scratch))
        cmd = [sys.executable, __file__, "--child", str(path), str(seed), str(trials),
               str(train_size), str(epochs)]
        start = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{script} ({'chainrule' if chainrule else 'book'}) failed:\n"
                         f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout, wall


def compare(a: str, b: str) -> str:
    """``identical``, or the largest relative difference between numbers of differing lines."""
    lines_a = [x for x in a.splitlines() if not x.startswith((f"{DIGEST}common",
                                                              f"{DIGEST}wall"))]
    lines_b = [x for x in b.splitlines() if not x.startswith((f"{DIGEST}common",
                                                              f"{DIGEST}wall"))]
    if lines_a == lines_b:
        return "identical"
    if len(lines_a) != len(lines_b):
        return f"{len(lines_a)} lines against {len(lines_b)}"
    worst, differing = 0.0, 0
    for x, y in zip(lines_a, lines_b, strict=True):
        if x == y:
            continue
        differing += 1
        nx, ny = NUMBER.findall(x), NUMBER.findall(y)
        if len(nx) != len(ny) or NUMBER.sub("#", x) != NUMBER.sub("#", y):
            return f"line differs in words: {x!r} / {y!r}"
        for u, v in zip(map(float, nx), map(float, ny), strict=True):
            if u != v:
                worst = max(worst, abs(u - v) / max(abs(u), abs(v)))
    return f"{differing} of {len(lines_a)} lines differ, numbers by <= {worst:.1e} (relative)"


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        script, *numbers = sys.argv[2:7]
        run_script(script, *map(int, numbers))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("book", type=Path, help="a checkout of the book's repository")
    parser.add_argument("scripts", nargs="*", help="e.g. ch06/overfit_dropout.py (default: "
                        "chapters 4 to 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="runs per side, alternating")
    parser.add_argument("--trials", type=int, default=10,
                        help="hyperparameter_optimization.py's trials (the book: 100)")
    parser.add_argument("--train-size", type=int, default=5000,
                        help="train_convnet.py's and train_deepnet.py's training images "
                        "(and 1000 test images); 0: all, as the book")
    parser.add_argument("--epochs", type=int, default=2,
                        help="train_convnet.py's and train_deepnet.py's epochs (the book: 20)")
    parser.add_argument("--side", choices=("both", "book", "chainrule"), default="both",
                        help="run one side only")
    parser.add_argument("--show", type=int, default=0, metavar="N",
                        help="print the last N lines each side printed (digests of the "
                        "plots included)")
    parser.add_argument("--blas-threads", type=int, default=None, metavar="N",
                        help="BLAS threads for both sides (steadier times on a busy machine)")
    args = parser.parse_args()
    dataset = args.book / "dataset"
    source = Path(os.environ.get("CHAINRULE_DATA", "")) / "mnist"
    for name in MNIST:
        if not (dataset / name).exists() and (source / name).is_file():
            shutil.copyfile(source / name, dataset / name)
    if os.environ.get("CHAINRULE_DATA"):  # the scripts run in another folder
        os.environ["CHAINRULE_DATA"] = str(Path(os.environ["CHAINRULE_DATA"]).resolve())
    sides = {"both": (False, True), "book": (False,), "chainrule": (True,)}[args.side]
    threads = "default" if args.blas_threads is None else args.blas_threads
    print(f"seed {args.seed}, {args.repeats} run(s) per side, medians of wall time "
          f"(whole process), BLAS threads {threads}; convnet trainings: "
          f"{args.train_size or 'all'} images, {args.epochs} epochs")
    print(f"{'script':<45} {'book s':>8} {'chainrule s':>12}  outputs")
    for script in args.scripts or SCRIPTS:
        walls: dict[bool, list[float]] = {False: [math.nan], True: [math.nan]}
        outs: dict[bool, str] = {}
        for _ in range(args.repeats):
            for side in sides:
                outs[side], wall = child(args.book, script, side, args.seed, args.trials,
                                         args.blas_threads, args.train_size, args.epochs)
                walls[side] = [w for w in walls[side] if w == w] + [wall]
        verdict = compare(outs[False], outs[True]) if len(sides) == 2 else "(one side)"
        print(f"{script:<45} {statistics.median(walls[False]):8.2f} "
              f"{statistics.median(walls[True]):12.2f}  {verdict}", flush=True)
        for side in sides if args.show else ():
            print(f"  {'chainrule' if side else 'book'}:")
            for line in outs[side].splitlines()[-args.show:]:
                print(f"    {line}")


if __name__ == "__main__":
    main()
