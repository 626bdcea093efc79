"""Chapter 7's training run (the book's ``train_convnet.py`` protocol) three ways, on this CPU.

SimpleConvNet (30 filters 5x5, 2x2 max pooling, hidden 100), weights 0.01 * N(0, 1), Adam
lr 0.001, batches of 100 drawn with replacement, 20 epochs of 600 steps, accuracy on the
first 1000 training and test images after each epoch, then on the whole test set:

- **chainrule**: ``chainrule train --net simple-conv`` as a whole process (plots written;
  its steps split each batch between the cores, :mod:`chainrule.core.parallel`);
- **pytorch**: ``../shared/bench/torch_convnet_protocol.py DATA_DIR`` (torch 2.13 CPU, the
  same network, initialisation and schedule, its default threads);
- **book**: the book's own NumPy code (``ch07/simple_convnet.py`` and
  ``common/trainer.py``) from a checkout given with ``--book PATH`` (the column is left out
  without one; nothing of it is copied into chainrule). Its full run takes hours here, so
  in each round it trains ``--book-steps`` steps through its ``Trainer.train_step`` and
  its 20-epoch loop is estimated per step: 12000 steps plus 20 evaluations of 2000
  images and the final 10000.

The three run alternately (A B C A B C ...), each a fresh process; the table shows
medians of whole-process wall time, the training loop as each side reports it, peak RSS,
and the final test accuracy (whole test set), with the ratios; ``--json`` keeps them.
``--one-core`` pins every process to one core (``taskset -c 0``; PyTorch with
``--threads 1``): the three per core.

    git clone https://github.com/oreilly-japan/deep-learning-from-scratch /tmp/dlfs
    CHAINRULE_DATA=../shared/datasets python benchmarks/chapter7.py --repeats 3 --book /tmp/dlfs
    CHAINRULE_DATA=../shared/datasets python benchmarks/chapter7.py --repeats 3 --book /tmp/dlfs \
        --one-core --json benchmarks/chapter7-onecore.json

The FLOP count takes the matrix products from the shapes (per step: the convolution's
forward and dW, both Affine layers' forward, dW and dx; per evaluated image the
forward), 5.3 TFLOP in all.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from chapter5 import _cpu_name, _find, matmul_gflops, run_process
from machine import peer

ROOT = Path(__file__).resolve().parents[1]
PEER = peer("torch_convnet_protocol.py")
STEPS_PER_EPOCH, BATCH, EVAL_SAMPLES, N_TEST = 600, 100, 1000, 10000

# The book's code, driven through its own API from the checkout's ch07 folder: the
# SimpleConvNet and Trainer of train_convnet.py, one train_step at a time so that the
# evaluation steps can be told apart from the others.
BOOK_DRIVER = """
import os, sys, time
os.chdir(sys.argv[2])  # the checkout's ch07 folder, as the book's scripts expect
sys.path[:0] = [os.getcwd(), os.path.dirname(os.getcwd())]
import numpy as np
from dataset.mnist import load_mnist
from simple_convnet import SimpleConvNet
from common.trainer import Trainer
steps = int(sys.argv[1])
np.random.seed(0)
(x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)
network = SimpleConvNet(input_dim=(1, 28, 28),
                        conv_param={'filter_num': 30, 'filter_size': 5, 'pad': 0, 'stride': 1},
                        hidden_size=100, output_size=10, weight_init_std=0.01)
trainer = Trainer(network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100,
                  optimizer='Adam', optimizer_param={'lr': 0.001},
                  evaluate_sample_num_per_epoch=1000, verbose=False)
times = []
for i in range(steps):
    t0 = time.perf_counter()
    trainer.train_step()
    times.append(time.perf_counter() - t0)
t0 = time.perf_counter()
test_acc = network.accuracy(x_test, t_test)
final = time.perf_counter() - t0
print(f"eval_step_s={times[0]} step_s={float(np.median(times[1:]))} final_eval_s={final} "
      f"test_acc={test_acc}")
"""


def protocol_flops(epochs: float) -> float:
    """Floating-point operations of the matrix products of the protocol."""
    conv = 2 * 24 * 24 * 30 * 25  # per image: 576 positions, 30 filters of 25 weights
    affine = 2 * (4320 * 100 + 100 * 10)
    steps = round(epochs * STEPS_PER_EPOCH)
    per_step = BATCH * (2 * conv + 3 * affine)  # conv forward + dW; affine forward, dW, dx
    images = len(range(0, steps, STEPS_PER_EPOCH)) * 2 * EVAL_SAMPLES + N_TEST
    return steps * per_step + images * (conv + affine)


def chainrule_run(env: dict, out_dir: str, epochs: float, prefix: list[str]) -> dict:
    r = run_process([*prefix, sys.executable, "-m", "chainrule", "train", "--net",
                     "simple-conv", "--epochs", str(epochs), "--out", out_dir], env)
    text = r["output"]
    r["test_acc"] = float(_find(r"test_acc=([0-9.]+)", text))
    r["loop_s"] = float(_find(r"loop_s=([0-9.]+)", text))
    return r


def torch_run(env: dict, data: Path, epochs: float, threads: int | None,
              prefix: list[str]) -> dict:
    threads_flag = [] if threads is None else ["--threads", str(threads)]
    r = run_process([*prefix, sys.executable, str(PEER), str(data), "--epochs", str(epochs),
                     *threads_flag], env)
    r["test_acc"] = float(_find(r"test_acc=([0-9.]+)", r["output"]))
    r["loop_s"] = float(_find(r"wall_s=([0-9.]+)", r["output"]))
    return r


def book_checkout(book: Path, data: Path, tmp: str) -> str:
    """A scratch copy of the book's checkout with the MNIST files put where its
    ``dataset/mnist.py`` looks (so it downloads nothing); returns its ch07 folder."""
    work = Path(tmp) / "book"
    for folder in ("common", "dataset", "ch07"):
        shutil.copytree(book / folder, work / folder, dirs_exist_ok=True)
    for f in data.glob("*-ubyte.gz"):
        shutil.copy(f, work / "dataset" / f.name)
    (work / "dataset" / "mnist.pkl").unlink(missing_ok=True)  # made from the files above
    ch07 = str(work / "ch07")
    subprocess.run([sys.executable, "-c", BOOK_DRIVER, "1", ch07], check=True,
                   capture_output=True)  # converts the data once, outside the timing
    return ch07


def book_run(ch07: str, steps: int, epochs: float, prefix: list[str]) -> dict:
    """``steps`` steps of the book's code, and its 20-epoch loop estimated from them."""
    r = run_process([*prefix, sys.executable, "-c", BOOK_DRIVER, str(steps), ch07],
                    {**os.environ})
    out = r["output"]
    step, eval_step = float(_find(r"\bstep_s=([0-9.e-]+)", out)), float(
        _find(r"eval_step_s=([0-9.e-]+)", out))
    final = float(_find(r"final_eval_s=([0-9.e-]+)", out))
    total = round(epochs * STEPS_PER_EPOCH)
    evaluations = len(range(0, total, STEPS_PER_EPOCH))
    r.update(steps=steps, step_s=step, test_acc=float(_find(r"test_acc=([0-9.]+)", out)),
             loop_s=total * step + evaluations * (eval_step - step) + final)
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=float, default=20)
    ap.add_argument("--book", type=Path, help="a checkout of the book's repository")
    ap.add_argument("--book-steps", type=int, default=60,
                    help="training steps of the book's code to time (default 60)")
    ap.add_argument("--json", default="benchmarks/chapter7.json")
    ap.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    ap.add_argument("--torch-threads", type=int, metavar="N",
                    help="PyTorch's threads (default: its own, one per core)")
    ap.add_argument("--one-core", action="store_true",
                    help="pin every process to one core (taskset -c 0), PyTorch on 1 thread")
    args = ap.parse_args()
    prefix = []
    if args.one_core:
        if shutil.which("taskset") is None:
            raise SystemExit("--one-core needs taskset (util-linux)")
        prefix, args.torch_threads = ["taskset", "-c", "0"], 1
    load_before = os.getloadavg()

    data_root = Path(os.environ.get("CHAINRULE_DATA", ROOT.parent / "shared" / "datasets"))
    env = {**os.environ, "CHAINRULE_DATA": str(data_root)}
    try:
        import torch  # noqa: F401

        have_torch = not args.no_torch
    except ImportError:
        have_torch = False
        print("PyTorch not installed (pip install torch==2.13.0): leaving it out")
    if args.book is not None and not (args.book / "ch07" / "simple_convnet.py").is_file():
        raise SystemExit(f"--book {args.book}: no ch07/simple_convnet.py there")

    subprocess.run([sys.executable, "-c", "import chainrule; chainrule.load_mnist()"],
                   env=env, check=True)  # the data cache, warm for every timed run
    rows: dict[str, list[dict]] = {"chainrule": [], "pytorch": [], "book": []}
    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        ch07 = book_checkout(args.book.resolve(), data_root / "mnist", tmp) if args.book else None
        for k in range(args.repeats):
            rates.append(matmul_gflops())
            rows["chainrule"].append(chainrule_run(env, f"{tmp}/run{k}", args.epochs, prefix))
            wall = rows["chainrule"][-1]["wall_s"]
            line = (f"round {k + 1}/{args.repeats} (load {os.getloadavg()[0]:.2f}): "
                    f"chainrule {wall:.1f} s")
            if have_torch:
                rows["pytorch"].append(torch_run(env, data_root / "mnist", args.epochs,
                                                 args.torch_threads, prefix))
                line += f", pytorch {rows['pytorch'][-1]['wall_s']:.1f} s"
            if ch07 is not None:
                rows["book"].append(book_run(ch07, args.book_steps, args.epochs, prefix))
                line += f", book {rows['book'][-1]['step_s'] * 1e3:.0f} ms per step"
            print(line, flush=True)

    flops = protocol_flops(args.epochs)
    summary = {"machine": f"{os.cpu_count()} cores, {_cpu_name()}", "repeats": args.repeats,
               "torch_threads": args.torch_threads, "one_core": args.one_core,
               "load_average_before": load_before, "load_average": os.getloadavg(),
               "epochs": args.epochs, "steps": round(args.epochs * STEPS_PER_EPOCH),
               "matmul_2000_gflops": statistics.median(rates), "protocol_gflop": flops / 1e9}
    for name, runs in rows.items():
        if runs:
            keys = [k for k in ("wall_s", "peak_rss_mb", "loop_s", "test_acc", "step_s")
                    if k in runs[0]]
            summary[name] = {k: statistics.median(r[k] for r in runs) for k in keys}
            summary[name]["loop_gflops"] = flops / summary[name]["loop_s"] / 1e9
            summary[name]["ms_per_step"] = 1e3 * summary[name]["loop_s"] / summary["steps"]
    if rows["book"]:
        summary["book"]["steps_timed"] = args.book_steps
    _print_table(summary, rows)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


def _loads(loads) -> str:
    return " ".join(f"{v:.2f}" for v in loads)


def _print_table(summary: dict, rows: dict) -> None:
    print()
    print(f"machine: {summary['machine']}; {summary['epochs']:g} epochs "
          f"({summary['steps']} steps); medians of {summary['repeats']} alternating runs"
          f"{'; every process on one core' if summary['one_core'] else ''}; load average "
          f"(1, 5, 15 min) before {_loads(summary['load_average_before'])}, at the end "
          f"{_loads(summary['load_average'])}")
    print(f"{'':<10} {'wall s':>8} {'loop s':>8} {'ms/step':>8} {'peak MB':>8} "
          f"{'test acc':>9} {'GFLOP/s':>8}")
    for name in rows:
        if not rows[name]:
            continue
        s = summary[name]
        star = "*" if name == "book" else " "  # a short run; the loop estimated from it
        print(f"{name:<10} {s['wall_s']:8.1f} {s['loop_s']:7.1f}{star} {s['ms_per_step']:8.1f} "
              f"{s['peak_rss_mb']:8.0f} {s['test_acc']:8.4f}{star} {s['loop_gflops']:8.1f}")
    c = summary["chainrule"]
    print(f"2000x2000 float32 matmul: {summary['matmul_2000_gflops']:.1f} GFLOP/s; chainrule's "
          f"loop reaches {c['loop_gflops'] / summary['matmul_2000_gflops']:.0%} of it "
          f"({summary['protocol_gflop']:.0f} GFLOP of products)")
    if rows["pytorch"]:
        p = summary["pytorch"]
        summary["ratio_wall"] = c["wall_s"] / p["wall_s"]
        summary["ratio_loop"] = c["loop_s"] / p["loop_s"]
        summary["ratio_peak_rss"] = c["peak_rss_mb"] / p["peak_rss_mb"]
        summary["test_acc_gap_points"] = 100 * (c["test_acc"] - p["test_acc"])
        print(f"chainrule / pytorch: whole process {summary['ratio_wall']:.2f}x, training loop "
              f"{summary['ratio_loop']:.2f}x, peak memory {summary['ratio_peak_rss']:.2f}x; "
              f"test accuracy {summary['test_acc_gap_points']:+.2f} points")
    if rows["book"]:
        b = summary["book"]
        summary["book_speedup_loop"] = b["loop_s"] / c["loop_s"]
        print(f"book / chainrule: training loop {summary['book_speedup_loop']:.1f}x "
              f"(* the book's code timed on {b['steps_timed']} steps, its 20-epoch loop "
              f"estimated from them; its accuracy is after those steps); its whole "
              f"{b['steps_timed']}-step process took {b['wall_s']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
