"""The README's ten lines of plain onnxruntime code, run as a reader runs them on an
exported SimpleConvNet, print the accuracy ``chainrule evaluate`` prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from extras import need
from zoo import network

from chainrule import load_mnist
from chainrule.export import to_onnx
from chainrule.nn.network import accuracy_of, predict_in_chunks

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_snippet_classifies_as_chainrule(real_data_root, tmp_path):
    need("onnxruntime")
    text = README.read_text(encoding="utf-8")
    snippet = next(b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S)
                   if "ort.InferenceSession" in b)
    assert len(snippet.strip().splitlines()) == 10
    net, *_ = network("simple-conv", True, real_data_root)
    to_onnx(net, tmp_path / "r.onnx")
    (tmp_path / "classify.py").write_text(snippet)
    out = subprocess.run([sys.executable, "classify.py", "r.onnx",
                          str(real_data_root / "mnist")], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout
    _, (x, t) = load_mnist(data_dir=real_data_root / "mnist", download=False, flatten=False)
    ours = accuracy_of(predict_in_chunks(net.predict, x, 100), t)
    assert out == f"accuracy {ours:.4f} ({round(ours * len(t))} of {len(t)})\n"
