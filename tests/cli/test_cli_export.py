"""``chainrule export``: a run folder or model file to ONNX or to PyTorch weights and
module, and every bad input in one line with a non-zero exit and nothing written."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from extras import need

from chainrule.cli import main
from chainrule.nn.multilayer import MultiLayerNet
from chainrule.training.checkpoint import save_model

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "run-0.1.0"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def model(tmp_path) -> Path:
    """A MultiLayerNet with batch norm and the book's dropout, as a model file."""
    net = MultiLayerNet(16, [6, 5], 3, use_batchnorm=True, dropout_ratio=0.5,
                        inverted_dropout=False, dtype=np.float32, seed=0)
    meta = {"dataset": "toy", "class_names": ["a", "b", "c"], "image_shape": [4, 4]}
    return save_model(tmp_path / "model.npz", net, meta=meta)


def test_a_run_written_by_0_1_0_exports_both_ways(tmp_path, capsys):
    need("onnx")
    need("onnxruntime")
    need("safetensors")
    run_dir = shutil.copytree(FIXTURE, tmp_path / "run")
    code, out, err = run(capsys, "export", run_dir, "-o", tmp_path / "net.onnx")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"TwoLayerNet 784-10-10 from {run_dir / 'model.npz'}"
    assert lines[1].startswith(f"wrote {tmp_path / 'net.onnx'} (ONNX, opset 17, ")
    assert "input 'image' (N, 784) float32, outputs 'logits' and 'probabilities' (N, 10)" \
        in lines[1]
    assert lines[2].startswith("checked: onnx.checker passes")
    code, out, err = run(capsys, "export", run_dir, "--format", "torch")
    assert code == 0 and err == ""
    assert (run_dir / "model.safetensors").is_file() and (run_dir / "model.py").is_file()
    assert "from model import load" in out
    assert out.splitlines()[-1] == ("checked: read back, every parameter and buffer is the "
                                    "network's, bit for bit")


def test_the_format_follows_the_file_name(tmp_path, capsys, model):
    need("onnx")
    need("onnxruntime")
    need("safetensors")
    assert run(capsys, "export", model, "-o", tmp_path / "a.safetensors")[0] == 0
    assert run(capsys, "export", model, "-o", tmp_path / "b.onnx")[0] == 0
    assert run(capsys, "export", model)[0] == 0  # onnx, beside the model
    assert files(tmp_path) == ["a.py", "a.safetensors", "b.onnx", "model.npz", "model.onnx"]


@pytest.mark.parametrize("args, message", [
    (["--format", "tflite"], "unknown format 'tflite': choose onnx or torch"),
    (["-o", "{tmp}/no/such/folder/x.onnx"], "cannot write {tmp}/no/such/folder/x.onnx: the "
     "folder '{tmp}/no/such/folder' does not exist"),
    (["-o", "{tmp}"], "cannot write {tmp}: it is a folder"),
    (["-o", "{tmp}/model.npz/x.onnx"], "cannot write {tmp}/model.npz/x.onnx: "
     "'{tmp}/model.npz' is not a folder"),
    (["-o", "{tmp}/model.npz"], "cannot write {tmp}/model.npz: it is the model being "
     "exported"),
    (["--format", "torch", "-o", "{tmp}/weights.py"], "{tmp}/weights.py: the weights file "
     "cannot end in .py (the module definition goes beside it as NAME.py)"),
])
def test_bad_output_in_one_line(tmp_path, capsys, model, args, message):
    need("onnx")
    need("safetensors")
    before = files(tmp_path)
    code, out, err = run(capsys, "export", model, *[a.format(tmp=tmp_path) for a in args])
    assert code == 2 and out == ""
    assert one_line(err) == "chainrule export: error: " + message.format(tmp=tmp_path)
    assert files(tmp_path) == before


def test_bad_models_in_one_line(tmp_path, capsys):
    (tmp_path / "notes.npz").write_text("not a model at all")
    (tmp_path / "empty").mkdir()
    for target, message in [(tmp_path / "notes.npz", "notes.npz"),
                            (tmp_path / "empty", "empty"),
                            (tmp_path / "missing", "missing")]:
        before = files(tmp_path)
        code, out, err = run(capsys, "export", target, "-o", tmp_path / "x.onnx")
        assert code == 2 and out == ""
        line = one_line(err)
        assert line.startswith("chainrule export: error: ") and message in line
        assert files(tmp_path) == before


def test_a_network_that_cannot_be_expressed(tmp_path, capsys, monkeypatch):
    """A learner's registered network with a layer export does not know: refused, named."""
    from chainrule import ExpLayer
    from chainrule.nn.registry import NET_CLASSES
    from chainrule.nn.two_layer import TwoLayerNet

    class Exponential(TwoLayerNet):
        def _build(self, params):
            super()._build(params)
            self.layers["Exp1"] = ExpLayer()

    monkeypatch.setitem(NET_CLASSES, "Exponential", Exponential)
    path = save_model(tmp_path / "m.npz", Exponential(16, 4, 3, seed=0), meta={})
    code, out, err = run(capsys, "export", path, "-o", tmp_path / "m.onnx")
    assert code == 2 and out == ""
    assert one_line(err) == ("chainrule export: error: cannot export layer 'Exp1' (ExpLayer): "
                             "ONNX and PyTorch export know Affine, Convolution, Pooling, Relu, "
                             "Sigmoid, Tanh, Dropout, BatchNormalization")
    assert not (tmp_path / "m.onnx").exists()


def test_a_missing_library_is_named(tmp_path, capsys, model, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    code, out, err = run(capsys, "export", model, "-o", tmp_path / "x.onnx")
    assert code == 2 and out == ""
    assert one_line(err) == ("chainrule export: error: ONNX export needs the onnx package: "
                             "pip install 'chainrule[export]'")
    assert not (tmp_path / "x.onnx").exists()


def test_a_full_disk_leaves_nothing_half_written(tmp_path, capsys, model, monkeypatch):
    """The weights and their module are written together: a write that fails leaves
    neither, nor a temporary file."""
    need("safetensors")
    import contextlib

    from chainrule.export import torch_io

    real = torch_io.atomic_open

    @contextlib.contextmanager
    def full(path, mode="wb"):
        with real(path, mode) as f:
            if str(path).endswith(".safetensors"):
                f.write = _no_space
            yield f

    monkeypatch.setattr(torch_io, "atomic_open", full)
    before = files(tmp_path)
    code, out, err = run(capsys, "export", model, "--format", "torch", "-o", tmp_path / "w.safetensors")
    assert code == 2 and out == ""
    assert one_line(err) == (f"chainrule export: error: cannot write {tmp_path / 'w.safetensors'}"
                             ": No space left on device")
    assert files(tmp_path) == before


def _no_space(data):
    raise OSError(28, "No space left on device")
