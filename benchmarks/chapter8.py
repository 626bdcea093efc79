"""Chapter 8's DeepConvNet: chainrule against the PyTorch peer, on this CPU, in one run.

**Step time** (always): each side in its own fresh process, alternately (A B A B ...),
``--rounds`` rounds; each process trains ``--warmup`` steps, then times ``--steps``
steps of the chapter's protocol (batch 100 drawn with replacement, float32, Adam 0.001,
dropout 0.5): chainrule's ``TrainingLoop`` step as ``chainrule train --net deep-conv``
runs it (its layers split each batch between the cores, BLAS on one thread), PyTorch's
the same network (``torch_peers.py``) on its own threads. Each round gives the median
step of each side; the table shows the medians of the rounds and their ratio.
``--one-thread`` adds the same with both sides on one thread (chainrule's
``threads=1``, ``torch.set_num_threads(1)``), timed in process CPU time as well.
``--other SRC`` adds a third side: the chainrule of another tree (``PYTHONPATH=SRC``,
e.g. ``../main/src``), to see what a change did.

**Whole run** (``--epochs E``, e.g. 20 for the chapter's run): ``chainrule train --net
deep-conv --epochs E`` against ``torch_deep_convnet.py --epochs E`` (evaluations on 1000
images after every epoch, the whole test set at the end), alternately, ``--run-rounds``
rounds: wall time, training loop, peak memory, test accuracy.

    CHAINRULE_DATA=../shared/datasets python benchmarks/chapter8.py --rounds 5 --one-thread
    CHAINRULE_DATA=../shared/datasets python benchmarks/chapter8.py --epochs 20 --run-rounds 1

The machine's limits are measured in the same run (``machine.py``) and the step's
FLOP count taken from the shapes (six convolutions' forward, ``dW`` and ``dx`` but the
first's, both Affine layers'): 5.2 GFLOP a step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chapter5 import _find, run_process
from machine import describe, load, peaks, print_peaks

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent


def step_flops(batch: int = 100) -> float:
    """Floating-point operations of the products of one DeepConvNet training step."""
    from torch_peers import DEEP_CONVS

    total, c, s = 0, 1, 28
    for i, (f, pad) in enumerate(DEEP_CONVS):
        out = s + 2 * pad - 2
        one = 2 * batch * out * out * f * c * 9
        total += one * (2 if i == 0 else 3)  # forward, dW; dx but for the first
        c, s = f, out // 2 if i % 2 == 1 else out
    affine = 2 * batch * (c * s * s * 50 + 50 * 10)
    return total + 3 * affine


def driver(side: str, steps: int, warmup: int, threads: int | None) -> None:
    """In a child process: time ``steps`` steps of ``side``; print one JSON line."""
    import numpy as np

    from chainrule.data.load import load_data

    data = load_data("mnist")
    rng = np.random.default_rng(1)
    if side == "chainrule":
        from chainrule.core import parallel
        from chainrule.training.config import TrainConfig
        from chainrule.training.loop import TrainingLoop
        from chainrule.training.tuning import BlasThreads, keep_freed_memory

        keep_freed_memory()
        loop = TrainingLoop.from_config(TrainConfig.for_network("deep-conv", iters=1), data)
        net, update = loop.net, loop.optimizer.update

        def one(batch):
            update(net.params, net.gradient(data.x_train[batch], data.t_train[batch]))

        context = [parallel.threads(threads), BlasThreads(1), np.errstate(over="ignore")]
    else:
        import torch
        from torch_peers import step

        if threads is not None:
            torch.set_num_threads(threads)
        one = step("deep-conv", np.asarray(data.x_train.raw), data.t_train)
        context = []
    walls, cpus = [], []
    for c in context:
        c.__enter__()
    for i in range(warmup + steps):
        batch = rng.integers(len(data.x_train), size=100)
        t0, c0 = time.perf_counter(), time.process_time()
        one(batch)
        if i >= warmup:
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
    import chainrule

    print(json.dumps({"wall_ms": 1e3 * statistics.median(walls),
                      "cpu_ms": 1e3 * statistics.median(cpus), "chainrule": chainrule.__file__}))


def timed_steps(side: str, args, threads: int | None) -> dict:
    cmd = [sys.executable, __file__, "--driver", "torch" if side == "torch" else "chainrule",
           "--steps", str(args.steps), "--warmup", str(args.warmup)] + (
        [] if threads is None else ["--threads", str(threads)])
    env = dict(os.environ)
    if side == "chainrule (other)":  # the chainrule of another source tree
        env["PYTHONPATH"] = os.pathsep.join([str(args.other), env.get("PYTHONPATH", "")])
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{side} step driver failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def whole_run(side: str, env: dict, data: Path, epochs: float, out_dir: str) -> dict:
    if side == "chainrule":
        r = run_process([sys.executable, "-m", "chainrule", "train", "--net", "deep-conv",
                         "--epochs", str(epochs), "--out", out_dir], env)
        r["loop_s"] = float(_find(r"loop_s=([0-9.]+)", r["output"]))
    else:
        r = run_process([sys.executable, str(HERE / "torch_deep_convnet.py"), str(data),
                         "--epochs", str(epochs)], env)
        r["loop_s"] = float(_find(r"wall_s=([0-9.]+)", r["output"]))
    r["test_acc"] = float(_find(r"test_acc=([0-9.]+)", r["output"]))
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of step timing")
    ap.add_argument("--steps", type=int, default=30, help="steps timed per process")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--one-thread", action="store_true",
                    help="also both sides on one thread")
    ap.add_argument("--epochs", type=float, default=0, help="whole runs of E epochs (0: none)")
    ap.add_argument("--run-rounds", type=int, default=1, help="alternating whole runs")
    ap.add_argument("--other", type=Path, metavar="SRC",
                    help="also time the chainrule of another tree's src/ (e.g. main's)")
    ap.add_argument("--json", default="benchmarks/chapter8.json")
    ap.add_argument("--driver", choices=("chainrule", "torch"), help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.driver:
        driver(args.driver, args.steps, args.warmup, args.threads)
        return 0

    data_root = Path(os.environ.get("CHAINRULE_DATA", ROOT.parent / "shared" / "datasets"))
    env = {**os.environ, "CHAINRULE_DATA": str(data_root)}
    subprocess.run([sys.executable, "-c", "import chainrule; chainrule.load_mnist()"],
                   env=env, check=True)  # the data cache, warm for every timed run
    summary: dict = {"machine": describe(), "load_before": load(), "peaks": peaks(),
                     "step_gflop": step_flops() / 1e9, "rounds": args.rounds,
                     "steps_per_round": args.steps}
    settings = {"own threads": None, **({"one thread": 1} if args.one_thread else {})}
    sides = ["chainrule", *(["chainrule (other)"] if args.other else []), "torch"]
    if args.other:
        summary["other"] = str(args.other)
    steps: dict = {f"{side}, {name}": [] for name in settings for side in sides}
    for r in range(args.rounds):
        line = []
        for name, threads in settings.items():
            for side in sides:
                steps[f"{side}, {name}"].append(timed_steps(side, args, threads))
                line.append(f"{side} {steps[f'{side}, {name}'][-1]['wall_ms']:.1f}")
            line[-len(sides)] = f"{name}: " + line[-len(sides)]
        print(f"round {r + 1}/{args.rounds} (load {load()}): {', '.join(line)} ms per step",
              flush=True)
    summary["steps"] = {k: {m: statistics.median(x[m] for x in v) for m in ("wall_ms", "cpu_ms")}
                        | {"rounds_wall_ms": [round(x["wall_ms"], 2) for x in v]}
                        for k, v in steps.items()}
    runs: dict = {"chainrule": [], "torch": []}
    if args.epochs:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.run_rounds):
                runs["chainrule"].append(whole_run("chainrule", env, data_root / "mnist",
                                                   args.epochs, f"{tmp}/run{r}"))
                runs["torch"].append(whole_run("torch", env, data_root / "mnist", args.epochs, ""))
                print(f"whole run {r + 1}/{args.run_rounds} (load {load()}): chainrule "
                      f"{runs['chainrule'][-1]['wall_s']:.1f} s, pytorch "
                      f"{runs['torch'][-1]['wall_s']:.1f} s", flush=True)
        summary["epochs"] = args.epochs
        summary["runs"] = {side: {k: statistics.median(x[k] for x in v) for k in
                                  ("wall_s", "loop_s", "peak_rss_mb", "test_acc")}
                           for side, v in runs.items()}
    summary["load_after"] = load()
    _print(summary, settings)
    Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


def _print(summary: dict, settings: dict) -> None:
    print()
    print(f"machine: {summary['machine'].split('; load')[0]}; load average before "
          f"{summary['load_before']}, after {summary['load_after']}")
    print_peaks(summary["peaks"])
    s, flop = summary["steps"], summary["step_gflop"]
    print(f"DeepConvNet step, batch 100 ({flop:.1f} GFLOP of products): medians of "
          f"{summary['rounds']} alternating rounds of {summary['steps_per_round']} steps, "
          f"each side in its own process")
    print(f"{'':<32} {'ms/step':>8} {'CPU ms':>8} {'GFLOP/s':>8}   rounds (ms)")
    for k, v in s.items():
        print(f"{k:<32} {v['wall_ms']:8.1f} {v['cpu_ms']:8.1f} {flop / v['wall_ms'] * 1e3:8.1f}"
              f"   {', '.join(f'{x:.1f}' for x in v['rounds_wall_ms'])}")
    for name in settings:
        c, t = s[f"chainrule, {name}"], s[f"torch, {name}"]
        summary[f"ratio_step_{name.replace(' ', '_')}"] = c["wall_ms"] / t["wall_ms"]
        cpu = (f", CPU time {c['cpu_ms'] / t['cpu_ms']:.2f}x" if name == "one thread" else "")
        print(f"chainrule / pytorch, {name}: step {c['wall_ms'] / t['wall_ms']:.2f}x{cpu}")
        if f"chainrule (other), {name}" in s:
            o = s[f"chainrule (other), {name}"]
            print(f"chainrule / chainrule (other: {summary['other']}), {name}: step "
                  f"{c['wall_ms'] / o['wall_ms']:.2f}x, CPU time {c['cpu_ms'] / o['cpu_ms']:.2f}x")
    if "runs" in summary:
        r = summary["runs"]
        print(f"whole run, {summary['epochs']:g} epochs:")
        print(f"{'':<10} {'wall s':>8} {'loop s':>8} {'peak MB':>8} {'test acc':>9}")
        for side, v in r.items():
            print(f"{side:<10} {v['wall_s']:8.1f} {v['loop_s']:8.1f} {v['peak_rss_mb']:8.0f} "
                  f"{v['test_acc']:9.4f}")
        summary["ratio_run"] = r["chainrule"]["wall_s"] / r["torch"]["wall_s"]
        print(f"chainrule / pytorch: whole process {summary['ratio_run']:.2f}x, training loop "
              f"{r['chainrule']['loop_s'] / r['torch']['loop_s']:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
