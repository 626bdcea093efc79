"""Chapter 5's training run: chainrule against the PyTorch peer, on this CPU, in one run.

Runs ``chainrule train`` with its defaults (the book's protocol, data already cached,
plots written) and
``../shared/bench/torch_seed_protocol.py`` alternately (A B A B ...), each as a fresh
process, and reports medians of whole-process wall time and peak RSS, the ratio
chainrule / PyTorch, both final test accuracies, the training loop alone (each side
prints it), and chainrule's achieved GFLOP/s over its training loop against a
2000x2000 float32 matmul timed in the same invocation.

    CHAINRULE_DATA=../shared/datasets python benchmarks/chapter5.py [--repeats 3] [--json out.json]

``--torch-threads 1`` runs the peer on one thread: on a busy machine PyTorch's default
two OpenMP threads wait for each other at every operation (one round of this
benchmark, load average 10 to 15: chainrule 80 s, the peer 1872 s).

Test accuracy is compared where the peer reports it: at the last scheduled evaluation
(iteration 9600); chainrule's accuracy after all 10000 steps is in the JSON too.

The FLOP count takes the matrix products from the shapes (they are >99% of the work):
per step the forward products of both layers, dW of both, dx of the second (chainrule
skips the first layer's unused dx, PyTorch's autograd does too), and per evaluation the
forward products over all 70000 images.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import load, peer

ROOT = Path(__file__).resolve().parents[1]
PEER = peer("torch_seed_protocol.py")

ITERS, BATCH, EVAL_EVERY = 10000, 100, 600
SIZES = (784, 50, 10)
N_TRAIN, N_TEST = 60000, 10000


def protocol_flops(iters: int = ITERS, batch: int = BATCH) -> float:
    """Floating-point operations of the matrix products of the book's protocol."""
    i, h, o = SIZES
    fwd = 2 * (i * h + h * o)  # per sample
    step = batch * (fwd + 2 * (i * h + h * o) + 2 * h * o)  # forward, dW1 dW2, dx2
    evaluations = len(range(0, iters, EVAL_EVERY))
    return iters * step + evaluations * (N_TRAIN + N_TEST) * fwd


def matmul_gflops(n: int = 2000, repeats: int = 5) -> float:
    """Best-of rate of one n x n float32 product, in this process (same BLAS as chainrule)."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def run_process(cmd: list[str], env: dict) -> dict:
    """Run ``cmd``; return wall seconds, peak RSS (MB) of that process, and its output."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    out = proc.stdout.read()  # drain the pipe, then reap this child alone for its rusage
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with {proc.returncode}:\n{out}")
    return {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "output": out}


def chainrule_run(env: dict, out_dir: str) -> dict:
    r = run_process([sys.executable, "-m", "chainrule", "train", "--out", out_dir], env)
    text = r["output"]
    r["final_test_acc"] = float(_find(r"test[ _]acc\w*[=:]\s*([0-9.]+)", text))
    r["loop_s"] = float(_find(r"loop[ _]s\w*[=:]\s*([0-9.]+)", text))
    # Like the peer, report the last scheduled evaluation (iteration 9600).
    last_row = Path(out_dir, "metrics.csv").read_text().strip().splitlines()[-1]
    r["test_acc"] = float(last_row.split(",")[4])
    r["train_acc"] = float(last_row.split(",")[3])
    r["final_train_acc"] = float(_find(r"train_acc=([0-9.]+)", text))
    return r


def torch_run(env: dict, data: Path, threads: int | None = None) -> dict:
    if threads is not None:  # the peer has no flag for it; torch reads these at start
        env = {**env, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    r = run_process([sys.executable, str(PEER), str(data)], env)
    r["test_acc"] = float(_find(r"test_acc=([0-9.]+)", r["output"]))
    r["loop_s"] = float(_find(r"wall_s=([0-9.]+)", r["output"]))
    return r


def _find(pattern: str, text: str) -> str:
    m = re.findall(pattern, text)
    if not m:
        raise SystemExit(f"could not find {pattern!r} in:\n{text}")
    return m[-1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default="benchmarks/chapter5.json")
    ap.add_argument("--no-torch", action="store_true", help="time chainrule alone")
    ap.add_argument("--torch-threads", type=int, metavar="N",
                    help="PyTorch's threads (OMP_NUM_THREADS; default: its own, one per core)")
    args = ap.parse_args()

    data_root = Path(os.environ.get("CHAINRULE_DATA", ROOT.parent / "shared" / "datasets"))
    env = {**os.environ, "CHAINRULE_DATA": str(data_root)}
    try:
        import torch  # noqa: F401

        have_torch = not args.no_torch
    except ImportError:
        have_torch = False
        print("PyTorch not installed (pip install torch==2.13.0): timing chainrule alone")

    load_before = load()
    # Warm the data cache once so every timed run starts from the same state.
    subprocess.run([sys.executable, "-c", "import chainrule; chainrule.load_mnist()"],
                   env=env, check=True)
    rows: dict[str, list[dict]] = {"chainrule": [], "pytorch": []}
    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeats):
            rates.append(matmul_gflops())
            rows["chainrule"].append(chainrule_run(env, f"{tmp}/run{k}"))
            if have_torch:
                rows["pytorch"].append(torch_run(env, data_root / "mnist", args.torch_threads))
            print(f"round {k + 1}/{args.repeats} (load {load()}): chainrule "
                  f"{rows['chainrule'][-1]['wall_s']:.2f} s"
                  + (f", pytorch {rows['pytorch'][-1]['wall_s']:.2f} s" if have_torch else ""),
                  flush=True)

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in rows[name]) if rows[name] else float("nan")

    flops = protocol_flops()
    summary = {"machine": f"{os.cpu_count()} cores, {_cpu_name()}", "repeats": args.repeats,
               "load_average_before": load_before, "load_average": load(),
               "torch_threads": args.torch_threads,
               "matmul_2000_gflops": statistics.median(rates), "protocol_gflop": flops / 1e9}
    for name in rows:
        if rows[name]:
            keys = ("wall_s", "peak_rss_mb", "loop_s", "test_acc", "final_test_acc",
                    "train_acc", "final_train_acc")
            summary[name] = {k: med(name, k) for k in keys if k in rows[name][0]}
            summary[name]["loop_gflops"] = flops / summary[name]["loop_s"] / 1e9
    c = summary["chainrule"]
    c["loop_share_of_matmul_rate"] = c["loop_gflops"] / summary["matmul_2000_gflops"]
    print()
    print(f"machine: {summary['machine']}; medians of {args.repeats} alternating runs; load "
          f"average (1, 5, 15 min) before {load_before}, at the end {summary['load_average']}")
    print(f"{'':<10} {'wall s':>8} {'loop s':>8} {'peak MB':>8} {'test acc':>9} {'GFLOP/s':>8}")
    for name in rows:
        if rows[name]:
            s = summary[name]
            print(f"{name:<10} {s['wall_s']:8.2f} {s['loop_s']:8.2f} {s['peak_rss_mb']:8.0f} "
                  f"{s['test_acc']:9.4f} {s['loop_gflops']:8.1f}")
    print(f"2000x2000 float32 matmul: {summary['matmul_2000_gflops']:.1f} GFLOP/s; chainrule's "
          f"loop reaches {c['loop_share_of_matmul_rate']:.0%} of it "
          f"({flops / 1e9:.0f} GFLOP of products)")
    if rows["pytorch"]:
        p = summary["pytorch"]
        summary["ratio_wall"] = c["wall_s"] / p["wall_s"]
        summary["ratio_loop"] = c["loop_s"] / p["loop_s"]
        summary["test_acc_gap_points"] = 100 * (c["test_acc"] - p["test_acc"])
        print(f"chainrule / pytorch: whole process {summary['ratio_wall']:.2f}x, "
              f"training loop {summary['ratio_loop']:.2f}x; test accuracy "
              f"{summary['test_acc_gap_points']:+.2f} points")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
