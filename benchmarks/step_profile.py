"""Where a training step spends its time, part by part, and how far each part is from
what the machine can do: chapter 5's TwoLayerNet, chapter 7's SimpleConvNet, chapter 8's
DeepConvNet.

Runs the steps of ``chainrule train`` for ``--network`` (``mlp``: the chapter-5 default;
``simple-conv``; ``deep-conv``) as the trainer runs them (batch 100, float32, BLAS on one
thread, glibc keeping freed memory, layers in the order the network runs them) and
times the batch, each layer's forward and backward, the loss and the optimizer update
separately: the median of each part over ``--steps`` steps, for each number of threads
in ``--threads`` (default: 1 and every core; the settings' steps alternate, so that
they share the machine's load). One thread: its CPU time (other processes on a busy
machine stretch wall time, much less this); more: wall time.

Each part is set against the machine, measured in the same run (``machine.py``): a
matrix product's GFLOP/s against a 2000x2000 float32 product's (on one thread; with
more, on every core, or on one if that was faster: a busy machine's other cores may not
be there), any other part's GB/s (the bytes it must read and write at the least)
against a memory copy's (in cache when the part's arrays fit in 2 MB, else to and from
memory). "of limit" is the time the part would take at that rate divided by its time:
100% is the machine's limit.

``--torch`` also times the PyTorch peer's step (``torch_peers.py``: the same network,
initialisation and optimizer) on one thread (its CPU time) and on its own threads (wall
time), interleaved with chainrule's steps in the same process. (PyTorch's OpenMP
threads wait for work spinning; on a machine whose other cores are busy, or beside
chainrule's helper thread, that makes its own-threads step much slower than on an idle
machine: ``chapter8.py`` times each side in its own process.)

    CHAINRULE_DATA=../shared/datasets python benchmarks/step_profile.py --network deep-conv --torch
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections import defaultdict

import numpy as np
from machine import describe, peaks, print_peaks

CACHE = 2 << 20
"""Bytes a part may touch and still run at the in-cache copy rate."""


def layer_cost(layer, x_shape, out_shape, backward: bool, input_grad: bool):
    """``("flop", n)`` for a matrix product, ``("byte", n)`` for a pass over memory: the
    work of one layer's forward or backward on float32 arrays."""
    name = type(layer).__name__
    n_in, n_out = math.prod(x_shape), math.prod(out_shape)
    if name == "Convolution":
        fn, c, fh, fw = layer.W.shape
        one = 2 * x_shape[0] * math.prod(out_shape[2:]) * fn * c * fh * fw
        return "flop", one * ((2 if input_grad else 1) if backward else 1)
    if name == "Affine":
        one = 2 * n_in * layer.W.shape[1]
        return "flop", one * ((2 if input_grad else 1) if backward else 1)
    if name == "Pooling":  # forward: read x, write out and the argmax (1 byte)
        return "byte", 4 * n_in + 5 * n_out
    if name in ("Relu", "Dropout"):  # x, out, the mask (1 byte)
        return "byte", 9 * n_in
    return "byte", 4 * (n_in + n_out)


def main() -> int:
    from threadpoolctl import threadpool_limits

    from chainrule.core import parallel
    from chainrule.data.load import load_data
    from chainrule.nn.convnets import _pooled_first
    from chainrule.nn.network import loss_layer
    from chainrule.training.config import TrainConfig
    from chainrule.training.loop import TrainingLoop
    from chainrule.training.tuning import keep_freed_memory

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--network", default="simple-conv", choices=("mlp", "simple-conv", "deep-conv"))
    ap.add_argument("--threads", type=int, nargs="+",
                    help="thread counts to time (default: 1 and every core)")
    ap.add_argument("--torch", action="store_true",
                    help="also PyTorch's step, on one thread and on its own threads")
    args = ap.parse_args()
    settings = args.threads or sorted({1, parallel.cores()})
    keep_freed_memory()
    data = load_data("mnist")
    config = (TrainConfig(iters=1) if args.network == "mlp" else
              TrainConfig.for_network(args.network, iters=1))
    trainer = TrainingLoop.from_config(config, data)
    net, optimizer, last = trainer.net, trainer.optimizer, loss_layer(trainer.net)
    conv = args.network != "mlp"
    in_order = _pooled_first(net._layers) if conv else list(net.layers.values())
    names = {id(layer): name for name, layer in (
        net.layers.items() if isinstance(net.layers, dict) else
        ((f"{type(layer).__name__}{i}", layer) for i, layer in enumerate(net.layers, 1)))}
    layers = [(names[id(layer)], layer) for layer in in_order]
    weighted = net._weighted() if conv else [net.layers["Affine1"], net.layers["Affine2"]]
    rng = np.random.default_rng(0)
    torch_steps = _torch_steps(args.network, data) if args.torch else {}
    times: dict = {k: defaultdict(list) for k in settings}
    costs: dict[str, tuple[str, int, int]] = {}  # part -> kind, amount, bytes touched

    def one_step(k: int) -> None:
        clock = time.thread_time if k == 1 else time.perf_counter
        mine = times[k]

        def timed(name: str, f, *a, **kw):
            t0 = clock()
            out = f(*a, **kw)
            mine[name].append(clock() - t0)
            return out

        t0 = clock()
        batch = rng.integers(len(data.x_train), size=100)
        if conv:
            x, _ = timed("batch (fetch, scale)", lambda b: net._as_images(data.x_train[b]), batch)
        else:
            x = timed("batch (fetch, scale)", lambda b: data.x_train[b], batch)
        costs["batch (fetch, scale)"] = ("byte", 5 * x.size, 5 * x.size)
        shapes = {}
        for name, layer in layers:
            before = x.shape
            x = timed(f"{name} forward", layer.forward, x, True) if name.startswith(
                "Dropout") else timed(f"{name} forward", layer.forward, x)
            shapes[name] = (before, x.shape)
        timed("softmax + loss", last.forward, x, data.t_train[batch])
        d = timed("softmax + loss", last.backward, 1)
        costs["softmax + loss"] = ("byte", 16 * x.size, 16 * x.size)
        for i, (name, layer) in enumerate(reversed(layers)):
            first = i == len(layers) - 1
            d = timed(f"{name} backward", layer.backward, d, **(
                {"input_grad": False} if first else {}))
        for i, (name, layer) in enumerate(layers):
            touched = 4 * (math.prod(shapes[name][0]) + math.prod(shapes[name][1]))
            for direction in ("forward", "backward"):
                kind, amount = layer_cost(layer, *shapes[name], direction == "backward", i > 0)
                costs[f"{name} {direction}"] = (kind, amount, touched)
        grads = {}
        for i, layer in enumerate(weighted, 1):
            grads[f"W{i}"], grads[f"b{i}"] = layer.dW, layer.db
        timed("optimizer update", optimizer.update, net.params, grads)
        size = sum(p.size for p in net.params.values())
        per = 28 if type(optimizer).__name__ == "Adam" else 12  # p, g, m, v in; p, m, v out
        costs["optimizer update"] = ("byte", per * size, per * size)
        mine["whole step"].append(clock() - t0)

    limits = peaks()
    with threadpool_limits(1, "blas"), np.errstate(over="ignore", invalid="ignore"):
        for step in range(args.steps + 10):
            if step == 10:  # warm-up done
                for t in times.values():
                    t.clear()
            for k in settings:
                with parallel.threads(k):
                    one_step(k)
            for name, torch_step in torch_steps.items():
                clock = time.thread_time if name == "one thread" else time.perf_counter
                t0 = clock()
                torch_step(rng.integers(len(data.x_train), size=100))
                times.setdefault(name, defaultdict(list))["whole step"].append(clock() - t0)
    _report(args, settings, times, costs, limits, torch_steps)
    return 0


def _report(args, settings, times, costs, limits, torch_steps) -> None:
    print(f"{args.network}, batch 100, float32: median time per step over {args.steps} steps "
          f"(1 thread: its CPU time; more: wall time)")
    print(f"machine: {describe()}")
    print_peaks(limits)
    medians = {k: {part: 1e3 * statistics.median(v) for part, v in times[k].items()}
               for k in settings}
    parts = sorted((p for p in medians[settings[0]] if p != "whole step"),
                   key=lambda p: -medians[settings[0]][p])
    head = "".join(f" {f'{k} thr ms':>9} {'share':>6} {'rate':>12} {'of limit':>8}"
                   for k in settings)
    print(f"{'part':<24}{head}")
    limit_ms = {k: 0.0 for k in settings}
    for part in parts + ["whole step"]:
        row = ""
        for k in settings:
            v, whole = medians[k].get(part, math.nan), medians[k]["whole step"]
            if part == "whole step":
                row += f" {v:9.2f} {'':6} {'':12} {limit_ms[k] / v:8.0%}"
                continue
            kind, amount, touched = costs.get(part, ("byte", 0, 0))
            if kind == "flop":  # every core can do at least what one does
                peak = (limits["matmul_1"] if k == 1 else
                        max(limits["matmul_1"], limits["matmul_all"])) * 1e9
                rate = f"{amount / (v / 1e3) / 1e9:7.1f} GF/s"
            else:
                peak = limits["copy_cache" if touched <= CACHE else "copy_memory"] * 1e9
                rate = f"{amount / (v / 1e3) / 1e9:7.1f} GB/s"
            best = 1e3 * amount / peak
            limit_ms[k] += best
            row += f" {v:9.2f} {v / whole:6.0%} {rate:>12} {best / v:8.0%}"
        print(f"{part:<24}{row}")
    print("(of limit: the time at the machine's rate, a float32 product's for products, a "
          "copy's for passes over memory, over the time taken; whole step: the parts' "
          "limits added up over the step's time)")
    for name in torch_steps:
        ms = 1e3 * statistics.median(times[name]["whole step"])
        ratios = ", ".join(f"chainrule on {k} / pytorch {medians[k]['whole step'] / ms:.2f}x"
                           for k in settings)
        print(f"PyTorch's step on {name}, interleaved: {ms:.2f} ms ({ratios})")
    print(f"load average at the end: {describe().split('load average ')[1]}")


def _torch_steps(network: str, data) -> dict:
    """PyTorch's step (``torch_peers.step``) taking a batch of indices: on one thread
    and on its own threads, each on its own copy of the network."""
    import torch
    from torch_peers import step

    default = torch.get_num_threads()
    raw = np.asarray(data.x_train.raw)
    one, own = step(network, raw, data.t_train), step(network, raw, data.t_train)

    def on_one(batch):
        torch.set_num_threads(1)
        try:
            one(batch)
        finally:
            torch.set_num_threads(default)

    return {"one thread": on_one, f"its own {default} threads": own}


if __name__ == "__main__":
    sys.exit(main())
