"""The smaller figures: gradient-check times (against the book's loop) and import time.

- ``chainrule gradcheck`` quick mode (20 coordinates per parameter + 8 directions), in
  process and as a whole command;
- the full check (every one of TwoLayerNet(784, 50, 10)'s 39760 parameters on the first
  3 MNIST images) against the book's ``numerical_gradient`` loop written out below
  (np.nditer over each parameter, h = 1e-4, the same points);
- ``import chainrule`` against ``import numpy`` in fresh processes.

    CHAINRULE_DATA=../shared/datasets python benchmarks/gradcheck_import.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import numpy as np


def book_numerical_gradient(f, x):
    """The book's common/gradient.py loop (chapter 4), float64, h = 1e-4."""
    h = 1e-4
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        idx = it.multi_index
        tmp_val = x[idx]
        x[idx] = float(tmp_val) + h
        fxh1 = f(x)
        x[idx] = tmp_val - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp_val
        it.iternext()
    return grad


def fresh_process_seconds(code: str, repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    from chainrule import TwoLayerNet, gradient_check, load_mnist

    (x, t), _ = load_mnist(one_hot_label=True)
    x3, t3 = x[:3].astype(np.float64), t[:3].astype(np.float64)
    net = TwoLayerNet(784, 50, 10, seed=0)

    quick = min(_timed(lambda: gradient_check(net, x3, t3, samples=20, directions=8, seed=0))
                for _ in range(5))
    env = {**os.environ}
    command = statistics.median(
        _timed(lambda: subprocess.run([sys.executable, "-m", "chainrule", "gradcheck"],
                                      check=True, env=env, capture_output=True))
        for _ in range(3))
    full = _timed(lambda: gradient_check(net, x3, t3))

    def book():
        loss_w = lambda _w: net.loss(x3, t3)  # noqa: E731 - the book's spelling
        return {k: book_numerical_gradient(loss_w, p) for k, p in net.params.items()}

    book_s = _timed(book)
    numpy_s = fresh_process_seconds("import numpy")
    chainrule_s = fresh_process_seconds("import chainrule")

    print(f"gradcheck quick (in process):     {quick:.3f} s")
    print(f"chainrule gradcheck (command):     {command:.2f} s (includes loading MNIST)")
    print(f"full check, every parameter:       {full:.2f} s")
    print(f"the book's nditer loop, same net:  {book_s:.2f} s  (full / book = {full / book_s:.2f})")
    print(f"python -c 'import numpy':          {numpy_s:.3f} s")
    print(f"python -c 'import chainrule':      {chainrule_s:.3f} s "
          f"(+{chainrule_s - numpy_s:.3f} s over numpy)")
    return 0


def _timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
