"""The chapter-8 training protocol of Deep Learning from Scratch (ch08/train_deepnet.py), written
with PyTorch (CPU), as a peer to time ``chainrule train --net deep-conv`` against.

DeepConvNet (``torch_peers.py``): six 3x3 convolutions (16, 16, 32, 32, 64, 64 filters, paddings
1, 1, 1, 2, 1, 1) with ReLU and 2x2 max pooling after every second, Affine 50 - ReLU - dropout 0.5 -
Affine 10 - dropout 0.5, softmax cross-entropy; He initialisation, biases 0; Adam lr 0.001; batch
100 drawn with replacement; 20 epochs of 600 iterations; once per epoch, accuracy on the first
1000 training and the first 1000 test images; at the end, accuracy on the full test set (dropout
off when measuring). Prints that and the wall time of the training (data loaded before the clock
starts), as ``../shared/bench/torch_convnet_protocol.py`` does for chapter 7.

    python benchmarks/torch_deep_convnet.py DATA_DIR [--epochs E] [--threads N] [--seed S]
"""

import argparse
import gzip
import struct
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_peers import deep_conv_params, deep_conv_predict  # noqa: E402


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = struct.unpack(">i", data[:4])[0] & 0xFF
    dims = struct.unpack(">" + "i" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--epochs", type=float, default=20)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's own)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    def load(name):
        return torch.tensor(idx(f"{a.data}/{name}"))

    xtr = load("train-images-idx3-ubyte.gz").reshape(-1, 1, 28, 28).float() / 255
    ttr = load("train-labels-idx1-ubyte.gz").long()
    xte = load("t10k-images-idx3-ubyte.gz").reshape(-1, 1, 28, 28).float() / 255
    tte = load("t10k-labels-idx1-ubyte.gz").long()
    t0 = time.perf_counter()
    params = deep_conv_params(torch)
    opt = torch.optim.Adam(params, lr=0.001)

    def acc(x, t):
        with torch.no_grad():
            return sum((deep_conv_predict(F, params, x[i:i + 100], False).argmax(1)
                        == t[i:i + 100]).sum().item() for i in range(0, len(x), 100)) / len(x)

    n, per_epoch = len(xtr), 600
    for i in range(int(a.epochs * per_epoch)):
        k = torch.randint(0, n, (100,))
        loss = F.cross_entropy(deep_conv_predict(F, params, xtr[k], True), ttr[k])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i % per_epoch == 0:
            tr, te = acc(xtr[:1000], ttr[:1000]), acc(xte[:1000], tte[:1000])
            print(f"epoch {i // per_epoch}: train {tr:.3f} test {te:.3f}", flush=True)
    test = acc(xte, tte)
    wall = time.perf_counter() - t0
    print(f"torch {torch.__version__} threads={torch.get_num_threads()} test_acc={test:.4f} "
          f"wall_s={wall:.2f}")


if __name__ == "__main__":
    main()
