"""The README's "Take it further" commands, run as a reader runs them, with what they print.

Trains SimpleConvNet for one epoch (``chainrule train --net simple-conv --epochs 1``),
exports it to ONNX and to PyTorch, classifies the 10000 MNIST test images with the
README's ten lines of plain onnxruntime code (taken from the README itself) and with
``chainrule evaluate``, and prints both accuracies, how many images the two classify
differently, the same for the written PyTorch module, whether ``from_torch`` gives every
parameter back bit for bit, and how long each command took.

    CHAINRULE_DATA=../shared/datasets python benchmarks/export_check.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def readme_snippet() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return next(b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S)
                if "ort.InferenceSession" in b)


def timed(argv: list[str], cwd: Path) -> tuple[str, float]:
    t0 = time.perf_counter()
    out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode:
        sys.exit(f"{' '.join(argv)} failed ({out.returncode}):\n{out.stderr}")
    return out.stdout, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep its files")
    args = parser.parse_args()
    data = os.environ.get("CHAINRULE_DATA")
    if not data:
        sys.exit("set CHAINRULE_DATA to the folder holding mnist/")
    work = Path(args.keep or tempfile.mkdtemp(prefix="export-check-"))
    work.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "chainrule"]
    _, t_train = timed([*cli, "train", "--net", "simple-conv", "--epochs", "1", "--out", "r"],
                       work)
    onnx_out, t_onnx = timed([*cli, "export", "r", "--format", "onnx", "-o", "r.onnx"], work)
    torch_out, t_torch = timed([*cli, "export", "r", "--format", "torch", "-o",
                                "r.safetensors"], work)
    (work / "classify.py").write_text(readme_snippet())
    ort_out, t_ort = timed([sys.executable, "classify.py", "r.onnx",
                            str(Path(data).resolve() / "mnist")], work)
    evaluate_out, _ = timed([*cli, "evaluate", "r", "--no-plot"], work)
    print(onnx_out + torch_out, end="")
    print(f"README's onnxruntime lines: {ort_out.strip()}")
    print(f"chainrule evaluate r:       {evaluate_out.splitlines()[2]}")
    compare(work, Path(data).resolve())
    print(f"wall: train {t_train:.1f} s, export onnx {t_onnx:.1f} s, export torch "
          f"{t_torch:.1f} s, onnxruntime on 10000 images (whole process) {t_ort:.1f} s")
    print(f"files in {work}")


def compare(work: Path, data: Path) -> None:
    """Image by image: onnxruntime and the written PyTorch module against chainrule."""
    import importlib.util

    import onnxruntime as ort
    import torch

    from chainrule import load_mnist
    from chainrule.export import from_torch
    from chainrule.nn.network import predict_in_chunks
    from chainrule.training.checkpoint import load_model

    net = load_model(work / "r" / "model.npz")
    _, (x, _) = load_mnist(data_dir=data / "mnist", download=False, flatten=False)
    ours = predict_in_chunks(net.predict, x, 100).argmax(axis=1)
    session = ort.InferenceSession(str(work / "r.onnx"), providers=["CPUExecutionProvider"])
    theirs = session.run(["logits"], {"image": x})[0].argmax(axis=1)
    print(f"onnxruntime and chainrule classify {int(np.sum(theirs != ours))} of {len(x)} "
          "test images differently")
    spec = importlib.util.spec_from_file_location("r", work / "r.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.load()
    with torch.no_grad():
        torch_classes = model(torch.from_numpy(x)).argmax(dim=1).numpy()
    print(f"the PyTorch module r.py and chainrule classify {int(np.sum(torch_classes != ours))} "
          f"of {len(x)} test images differently")
    back = from_torch(model)
    same = all(back.params[k].tobytes() == p.tobytes() for k, p in net.params.items())
    print(f"from_torch(r.py's module) gives every parameter back bit for bit: {same}")


if __name__ == "__main__":
    main()
