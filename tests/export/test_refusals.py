"""What cannot be exported or read back is refused in one line that says which layer (or
file) and why; importing chainrule, its export package and its command imports none of
onnx, onnxruntime, safetensors or torch; a missing one is named with the extra to install."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from extras import need

from chainrule import MulLayer, SimpleConvNet, TwoLayerNet
from chainrule.core.conv import Pooling
from chainrule.core.layers import BatchNormalization
from chainrule.export import ExportError, MissingExtra, from_torch, save_torch, to_onnx, to_torch
from chainrule.export.plan import inference_steps
from chainrule.export.plan import need as need_extra


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text
    return text


def test_unknown_layer_is_named():
    net = TwoLayerNet(4, 3, 2, seed=0)
    net.layers["Mul1"] = MulLayer()
    with pytest.raises(ExportError) as err:
        inference_steps(net)
    assert one_line(err.value).startswith("cannot export layer 'Mul1' (MulLayer): ONNX and "
                                          "PyTorch export know Affine, Convolution")


def test_layers_that_do_not_fit_are_named():
    net = TwoLayerNet(4, 3, 2, seed=0)
    net.layers["Pool"] = Pooling(2, 2)
    with pytest.raises(ExportError, match=r"layer 'Pool' \(Pooling\): needs images, the layer "
                                          "before gives 2 values"):
        inference_steps(net)
    net = TwoLayerNet(4, 3, 2, seed=0)
    net.layers["BatchNorm"] = BatchNormalization(np.ones(5), np.zeros(5))
    with pytest.raises(ExportError, match="normalizes 5 activations, the layer before gives 2"):
        inference_steps(net)


def test_a_network_without_layers_or_config():
    class Mine:
        params = {"W1": np.zeros((2, 2))}
        dtype = np.dtype(np.float64)
        input_dim = None

    with pytest.raises(ExportError, match="cannot export Mine: it has no layers to read"):
        inference_steps(Mine())
    net = TwoLayerNet(4, 3, 2, seed=0)
    net.config = None
    with pytest.raises(ExportError, match="cannot export TwoLayerNet to PyTorch: it has no "
                                          "config"):
        save_torch(net, "unused.safetensors")


def test_a_predict_that_is_not_its_layers_is_caught():
    """A learner's network whose predict does something its layers do not say."""
    class Doubled(TwoLayerNet):
        def predict(self, x):
            return 2 * super().predict(x)

    need("onnxruntime")
    with pytest.raises(ExportError, match="does not compute what its predict does"):
        to_onnx(Doubled(784, 20, 10, 0.3, seed=0))


def test_missing_library_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingExtra) as err:
        to_onnx(TwoLayerNet(4, 3, 2, seed=0))
    assert one_line(err.value) == ("ONNX export needs the onnx package: "
                                   "pip install 'chainrule[export]'")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingExtra, match="PyTorch export needs the torch package"):
        to_torch(TwoLayerNet(4, 3, 2, seed=0))
    with pytest.raises(ImportError):
        need_extra("no_such_module_here", "x")


def test_importing_chainrule_imports_no_exporter():
    code = ("import sys, chainrule, chainrule.export, chainrule.cli.export\n"
            "heavy = [m for m in ('onnx', 'onnxruntime', 'safetensors', 'torch') "
            "if m in sys.modules]\n"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- reading back


@pytest.fixture
def saved(tmp_path):
    need("safetensors")
    net = SimpleConvNet((1, 8, 8), {"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1},
                        4, 3, dtype=np.float32, seed=0)
    weights, _ = save_torch(net, tmp_path / "small.safetensors")
    return net, weights


def rewrite(path, state=None, header=None):
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(path), framework="numpy") as f:
        old_state = {k: f.get_tensor(k) for k in f.keys()}
        old_header = f.metadata()
    save_file(state if state is not None else old_state, str(path),
              metadata=header if header is not None else old_header)


def info_of(path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return json.loads(f.metadata()["chainrule"])


def test_files_that_are_not_chainrule_weights(saved, tmp_path):
    _, weights = saved
    text = tmp_path / "notes.safetensors"
    text.write_text("hello, not a tensor file")
    with pytest.raises(ExportError, match="notes.safetensors: not a .safetensors file") as err:
        from_torch(text)
    one_line(err.value)
    with pytest.raises(ExportError, match="no such file"):
        from_torch(tmp_path / "missing.safetensors")
    with pytest.raises(ExportError, match="not a file"):
        from_torch(tmp_path)
    rewrite(weights, header={"format": "pt"})
    with pytest.raises(ExportError, match="not written by chainrule.export.save_torch"):
        from_torch(weights)


def test_weights_that_do_not_fit(saved):
    net, weights = saved
    info = info_of(weights)
    from safetensors import safe_open

    with safe_open(str(weights), framework="numpy") as f:
        state = {k: f.get_tensor(k) for k in f.keys()}
    header = {"format": "chainrule.torch/1", "chainrule": json.dumps(info)}
    rewrite(weights, {k: v for k, v in state.items() if k != "layers.Conv1.bias"}, header)
    with pytest.raises(ExportError, match=r"missing \['layers.Conv1.bias'\]"):
        from_torch(weights)
    rewrite(weights, {**state, "layers.Conv1.bias": state["layers.Conv1.bias"].astype(np.int32)},
            header)
    with pytest.raises(ExportError, match="layers.Conv1.bias is int32"):
        from_torch(weights)
    rewrite(weights, {**state, "layers.Affine1.weight": np.zeros((4, 7), np.float32)}, header)
    with pytest.raises(ExportError, match="W2"):
        from_torch(weights)
    # an entry claiming another place or no transpose is caught against the class's layout
    for i, e in enumerate(info["arrays"]):
        if e["name"] == "W3":
            info["arrays"][i] = {**e, "transpose": False}
    rewrite(weights, {**state, "layers.Affine2.weight": state["layers.Affine2.weight"].T.copy()},
            {"format": "chainrule.torch/1", "chainrule": json.dumps(info)})
    with pytest.raises(ExportError, match="not laid out as a SimpleConvNet's"):
        from_torch(weights)


def test_modules_that_are_not_chainrules():
    torch = need("torch")
    with pytest.raises(ExportError, match="a Linear is not a module made by chainrule"):
        from_torch(torch.nn.Linear(2, 3))
    module = to_torch(TwoLayerNet(4, 3, 2, seed=0)).to(torch.bfloat16)
    with pytest.raises(ExportError, match="bfloat16|BFloat16"):
        from_torch(module)
    module = to_torch(TwoLayerNet(4, 3, 2, seed=0))
    module.layers.Affine1.weight.data = module.layers.Affine1.weight.data.float()
    with pytest.raises(ExportError, match="its arrays mix float32 and float64"):
        from_torch(module)
    assert from_torch(module.float()).dtype == np.float32
    module = to_torch(TwoLayerNet(4, 3, 2, seed=0))
    module.layers.add_module("Extra", torch.nn.Linear(2, 2))
    with pytest.raises(ExportError, match=r"unknown \['layers.Extra.bias', 'layers.Extra.weight'\]"):
        from_torch(module)


def test_nothing_pickles():
    """Neither the export package, its command nor the module file it writes uses
    pickle, ``torch.save`` or ``torch.load``: weights travel as .safetensors."""
    import ast
    from pathlib import Path

    import chainrule.export
    from chainrule.export.plan import inference_steps as steps_of
    from chainrule.export.torch_io import module_source

    src = Path(chainrule.export.__file__).parent
    net = TwoLayerNet(4, 3, 2, seed=0)
    info = {"config": net.config(), "about": {"network": "n", "chainrule.version": "v",
                                              "input_layout": "l", "preprocessing": "p"}}
    texts = [p.read_text() for p in [*src.glob("*.py"), src.parent / "cli" / "export.py"]]
    texts.append(module_source(steps_of(net), info, "w.safetensors", "w"))
    for text in texts:
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any(n.split(".")[0] in ("pickle", "dill", "cloudpickle")
                               for n in names)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                assert (node.value.id, node.attr) not in {("torch", "save"), ("torch", "load")}
