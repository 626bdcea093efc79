"""Where a training step of chapter 7's SimpleConvNet spends its time, layer by layer.

Runs the steps of ``chainrule train --net simple-conv`` (batch 100, float32, Adam, BLAS on
one thread, glibc keeping freed memory, as the trainer runs them) and times each layer's
forward and backward, the loss and the optimizer update separately, as the median of
each part's thread CPU time over ``--steps`` steps (CPU time: other processes on a busy
machine stretch wall time, much less this). ``--network deep-conv`` does the same for
DeepConvNet. ``--torch`` also times the PyTorch peer's step on one thread (the same
network and batch size, torch.set_num_threads(1)), interleaved with chainrule's steps in
the same process: the two per core, under the same load.

    CHAINRULE_DATA=../shared/datasets python benchmarks/chapter7_profile.py [--steps 200] [--torch]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict

import numpy as np


def main() -> int:
    from threadpoolctl import threadpool_limits

    from chainrule.train import TrainConfig, Trainer, keep_freed_memory, load_data

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--network", default="simple-conv", choices=("simple-conv", "deep-conv"))
    ap.add_argument("--torch", action="store_true", help="also PyTorch's step, one thread")
    args = ap.parse_args()
    keep_freed_memory()
    data = load_data("mnist")
    trainer = Trainer.from_config(TrainConfig.for_network(args.network, iters=1), data)
    net, optimizer = trainer.net, trainer.optimizer
    layers = list(net.layers.items()) if isinstance(net.layers, dict) else [
        (f"{type(layer).__name__}{i}", layer) for i, layer in enumerate(net.layers, 1)]
    rng = np.random.default_rng(0)
    torch_step = _torch_step(data) if args.torch else None
    times: dict[str, list[float]] = defaultdict(list)
    clock = time.thread_time

    def timed(name: str, f, *a, **kw):
        t0 = clock()
        out = f(*a, **kw)
        times[name].append(clock() - t0)
        return out

    with threadpool_limits(1, "blas"), np.errstate(over="ignore", invalid="ignore"):
        for step in range(args.steps + 10):
            if step == 10:  # warm-up done
                times.clear()
            t0 = clock()
            batch = rng.integers(len(data.x_train), size=100)
            x, _ = timed("batch (fetch, scale)", lambda b: net._as_images(data.x_train[b]),
                         batch)
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
            times["whole step"].append(clock() - t0)
            if torch_step is not None:
                t0 = clock()
                torch_step(batch)
                times["pytorch step"].append(clock() - t0)

    medians = {k: 1e3 * statistics.median(v) for k, v in times.items()}
    step = medians.pop("whole step")
    torch_ms = medians.pop("pytorch step", None)
    print(f"{args.network}, batch 100, float32: median thread CPU time per step over "
          f"{args.steps} steps")
    print(f"{'part':<24} {'ms':>7} {'share':>6}")
    for k, v in sorted(medians.items(), key=lambda kv: -kv[1]):
        print(f"{k:<24} {v:7.2f} {v / step:6.0%}")
    print(f"{'whole step':<24} {step:7.2f}")
    if torch_ms is not None:
        print(f"PyTorch's step on one thread, interleaved: {torch_ms:.2f} ms "
              f"(chainrule / pytorch {step / torch_ms:.2f}x)")
    return 0


def _torch_step(data):
    """One training step of the PyTorch peer's SimpleConvNet (torch_convnet_protocol.py's
    network, initialisation and Adam) on one thread, taking a batch of indices."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
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
