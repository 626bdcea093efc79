"""Where a training step of chapter 7's SimpleConvNet spends its time, layer by layer.

Runs the steps of ``chainrule train --net simple-conv`` (batch 100, float32, Adam, BLAS on
one thread, glibc keeping freed memory, layers in the order the network runs them, as
the trainer runs them) and times each layer's forward and backward, the loss and the
optimizer update separately, as the median of each part's time over ``--steps`` steps,
for each number of threads in ``--threads`` (default: 1 and every core; the steps of
the settings alternate, so that they share the machine's load). One thread: its CPU
time (other processes on a busy machine stretch wall time, much less this); more:
wall time (the helpers' CPU time is not the caller's). ``--network deep-conv`` does
the same for DeepConvNet. ``--torch`` also times the PyTorch peer's step on one thread
and with its own threads (the same network and batch size), interleaved with
chainrule's steps in the same process.

    CHAINRULE_DATA=../shared/datasets python benchmarks/chapter7_profile.py [--steps 200] [--torch]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict

import numpy as np


def main() -> int:
    from threadpoolctl import threadpool_limits

    from chainrule.core import parallel
    from chainrule.data.load import load_data
    from chainrule.nn.convnets import _pooled_first
    from chainrule.training.config import TrainConfig
    from chainrule.training.loop import TrainingLoop
    from chainrule.training.tuning import keep_freed_memory

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--network", default="simple-conv", choices=("simple-conv", "deep-conv"))
    ap.add_argument("--threads", type=int, nargs="+",
                    help="thread counts to time (default: 1 and every core)")
    ap.add_argument("--torch", action="store_true",
                    help="also PyTorch's step, on one thread and on its own threads")
    args = ap.parse_args()
    settings = args.threads or sorted({1, parallel.cores()})
    keep_freed_memory()
    data = load_data("mnist")
    trainer = TrainingLoop.from_config(TrainConfig.for_network(args.network, iters=1), data)
    net, optimizer = trainer.net, trainer.optimizer
    named = {id(layer): name for name, layer in (
        net.layers.items() if isinstance(net.layers, dict) else
        ((f"{type(layer).__name__}{i}", layer) for i, layer in enumerate(net.layers, 1)))}
    layers = [(named[id(layer)], layer) for layer in _pooled_first(net._layers)]
    rng = np.random.default_rng(0)
    torch_steps = _torch_steps(data) if args.torch else {}
    times: dict[int, dict[str, list[float]]] = {k: defaultdict(list) for k in settings}

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
        x, _ = timed("batch (fetch, scale)", lambda b: net._as_images(data.x_train[b]), batch)
        for name, layer in layers:
            x = timed(f"{name} forward", layer.forward, x, True) if name.startswith(
                "Dropout") else timed(f"{name} forward", layer.forward, x)
        timed("softmax + loss", net.last_layer.forward, x, data.t_train[batch])
        d = timed("softmax + loss", net.last_layer.backward, 1)
        for i, (name, layer) in enumerate(reversed(layers)):
            first = i == len(layers) - 1
            d = timed(f"{name} backward", layer.backward, d, **(
                {"input_grad": False} if first else {}))
        grads = {}
        for i, layer in enumerate(net._weighted(), 1):
            grads[f"W{i}"], grads[f"b{i}"] = layer.dW, layer.db
        timed("Adam update", optimizer.update, net.params, grads)
        mine["whole step"].append(clock() - t0)

    with threadpool_limits(1, "blas"), np.errstate(over="ignore", invalid="ignore"):
        for step in range(args.steps + 10):
            if step == 10:  # warm-up done
                for t in times.values():
                    t.clear()
            for k in settings:
                with parallel.threads(k):
                    one_step(k)
            for name, torch_step in torch_steps.items():
                t0 = time.perf_counter() if name != "one thread" else time.thread_time()
                torch_step(rng.integers(len(data.x_train), size=100))
                t1 = time.perf_counter() if name != "one thread" else time.thread_time()
                times.setdefault(name, defaultdict(list))["whole step"].append(t1 - t0)

    print(f"{args.network}, batch 100, float32: median time per step over {args.steps} "
          f"steps (1 thread: its CPU time; more: wall time); load average "
          f"{os.getloadavg()[0]:.2f}")
    medians = {k: {part: 1e3 * statistics.median(v) for part, v in times[k].items()}
               for k in settings}
    parts = sorted((p for p in medians[settings[0]] if p != "whole step"),
                   key=lambda p: -medians[settings[0]][p])
    head = "".join(f" {f'{k} thr ms':>9} {'share':>6}" for k in settings)
    print(f"{'part':<24}{head}")
    for part in parts + ["whole step"]:
        row = ""
        for k in settings:
            v, whole = medians[k].get(part, float("nan")), medians[k]["whole step"]
            row += f" {v:9.2f} {v / whole:6.0%}" if part != "whole step" else f" {v:9.2f} {'':6}"
        print(f"{part:<24}{row}")
    for name in torch_steps:
        ms = 1e3 * statistics.median(times[name]["whole step"])
        ratios = ", ".join(f"chainrule on {k} / pytorch {medians[k]['whole step'] / ms:.2f}x"
                           for k in settings)
        print(f"PyTorch's step on {name}, interleaved: {ms:.2f} ms ({ratios})")
    return 0


def _torch_steps(data) -> dict:
    """PyTorch's step (torch_convnet_protocol.py's network, initialisation and Adam),
    taking a batch of indices: on one thread (thread CPU time) and on its own threads
    (wall time), each on its own copy of the network."""
    import torch

    default = torch.get_num_threads()
    one, own = _torch_step(data), _torch_step(data)

    def on_one(batch):
        torch.set_num_threads(1)
        try:
            one(batch)
        finally:
            torch.set_num_threads(default)

    return {"one thread": on_one, f"its own {default} threads": own}


def _torch_step(data):
    """One training step of the PyTorch peer's SimpleConvNet, taking a batch of indices."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    x = torch.tensor(np.asarray(data.x_train)).reshape(-1, 1, 28, 28)
    t = torch.tensor(np.asarray(data.t_train, dtype=np.int64))
    params = []
    for shape in ((30, 1, 5, 5), (4320, 100), (100, 10)):
        params += [(0.01 * torch.randn(*shape)).requires_grad_(),
                   torch.zeros(shape[0] if len(shape) == 4 else shape[1], requires_grad=True)]
    w1, b1, w2, b2, w3, b3 = params
    opt = torch.optim.Adam(params, lr=0.001)

    def step(batch):
        k = torch.from_numpy(batch)
        h = F.max_pool2d(torch.relu(F.conv2d(x[k], w1, b1)), 2, 2)
        loss = F.cross_entropy(torch.relu(h.flatten(1) @ w2 + b2) @ w3 + b3, t[k])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


if __name__ == "__main__":
    sys.exit(main())
