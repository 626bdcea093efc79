"""Model files and checkpoints: npz without pickle, exact round trips, atomic writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule.data.load import Data
from chainrule.nn.registry import NET_CLASSES, register_net
from chainrule.nn.two_layer import TwoLayerNet
from chainrule.store.files import atomic_open, write_json, write_text
from chainrule.store.npz import write_npz
from chainrule.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_model,
    read_model,
    save_checkpoint,
    save_model,
)
from chainrule.training.config import TrainConfig
from chainrule.training.loop import TrainingLoop


@pytest.fixture
def net():
    return TwoLayerNet(12, 5, 3, dtype=np.float32, seed=1)


def test_model_roundtrip_is_exact_and_plain_npz(tmp_path, net):
    path = save_model(tmp_path / "model.npz", net, meta={"dataset": "mnist"})
    with np.load(path, allow_pickle=False) as f:  # readable without chainrule, no pickle
        assert sorted(f.files) == ["format", "meta", "net", "params/W1", "params/W2",
                                   "params/b1", "params/b2"]
        assert json.loads(str(f["net"]))["class"] == "TwoLayerNet"
    model = read_model(path)
    assert model.meta == {"dataset": "mnist"} and model.config == net.config()
    x = np.random.default_rng(0).random((4, 12), dtype=np.float32)
    assert np.array_equal(model.net.predict(x), net.predict(x))
    assert all(model.net.params[k].dtype == np.float32 for k in net.params)
    assert isinstance(load_model(path), TwoLayerNet)


def test_checkpoint_roundtrip_restores_everything(tmp_path):
    rng = np.random.default_rng(0)
    x, t = rng.random((40, 12), dtype=np.float32), rng.integers(0, 3, 40)
    data = Data(x, t, x[:10], t[:10])
    tr = TrainingLoop.from_config(TrainConfig(hidden=5, batch_size=4, iters=25, eval_every=7), data)
    tr.run(handle_sigint=False)
    path = save_checkpoint(tmp_path / "c.npz", tr, meta={"k": 1})
    state = load_checkpoint(path)
    assert state["iteration"] == 25 and state["meta"] == {"k": 1}
    assert state["rng"] == tr.rng.bit_generator.state
    assert state["net"] == tr.net.config()
    for k, p in tr.net.params.items():
        assert np.array_equal(state["params"][k], p) and state["params"][k].dtype == p.dtype
    assert state["history"]["step_loss"].tolist() == tr.history.step_loss
    assert isinstance(load_model(path), TwoLayerNet)  # a checkpoint holds a model too


def test_unknown_class_is_an_error_and_registering_fixes_it(tmp_path, net):
    class Custom(TwoLayerNet):
        pass

    save_model(tmp_path / "m.npz", Custom.from_params(net.params))
    with pytest.raises(CheckpointError, match="unknown network class 'Custom'"):
        load_model(tmp_path / "m.npz")
    register_net(Custom)
    try:
        assert type(load_model(tmp_path / "m.npz")) is Custom
    finally:
        NET_CLASSES.pop("Custom")


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04garbage"])
def test_garbage_file_is_a_clear_error(tmp_path, content):
    bad = tmp_path / "model.npz"
    bad.write_bytes(content)
    with pytest.raises(CheckpointError, match="model.npz"):
        load_model(bad)


def test_foreign_npz_and_wrong_shapes_are_errors(tmp_path, net):
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a chainrule model"):
        load_model(tmp_path / "other.npz")
    save_model(tmp_path / "m.npz", net)
    with np.load(tmp_path / "m.npz") as f:
        arrays = dict(f)
    arrays["params/W2"] = np.zeros((5, 4), np.float32)  # does not fit b2
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_model(tmp_path / "bad.npz")
    with pytest.raises(CheckpointError, match="not a chainrule checkpoint"):
        load_checkpoint(tmp_path / "m.npz")


def test_pickled_object_arrays_are_never_loaded(tmp_path, net):
    save_model(tmp_path / "m.npz", net)
    with np.load(tmp_path / "m.npz") as f:
        arrays = dict(f)
    arrays["net"] = np.array([{"class": "TwoLayerNet"}], dtype=object)
    np.savez(tmp_path / "evil.npz", **arrays)
    with pytest.raises(CheckpointError):
        load_model(tmp_path / "evil.npz")
    with pytest.raises(TypeError, match="pickle"):
        write_npz(tmp_path / "x.npz", {"o": np.array([None], dtype=object)})


def test_a_file_that_is_no_npz_is_named_so_without_pickle_advice(tmp_path):
    for name, data in (("text.npz", b"not a model\n"), ("empty.npz", b""),
                       ("bytes.npz", b"\x80\x04K\x01.")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError, match="not an .npz file") as refused:
            load_model(tmp_path / name)
        assert "pickle" not in str(refused.value)


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, net, monkeypatch):
    path = save_model(tmp_path / "model.npz", net)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(RuntimeError):
        save_model(path, net)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_atomic_open_text_and_partial_write(tmp_path):
    target = tmp_path / "a.txt"
    write_text(target, "old")
    with pytest.raises(ValueError), atomic_open(target, "w") as f:
        f.write("half")
        raise ValueError
    assert target.read_text() == "old"
    write_json(target, {"x": 1})
    assert json.loads(target.read_text()) == {"x": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
