"""Model files and checkpoints from strangers: sizes and shapes are checked before anything
is allocated or decompressed, and every way a file can be wrong is one CheckpointError
line naming the file (read_model and load_checkpoint)."""

from __future__ import annotations

import io
import json
import os
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from chainrule.nn.multilayer import MultiLayerNet
from chainrule.nn.registry import NET_CLASSES, register_net
from chainrule.nn.two_layer import TwoLayerNet
from chainrule.store.npz import Limits, read_npz
from chainrule.training import checkpoint
from chainrule.training.checkpoint import CheckpointError, load_checkpoint, read_model, save_model


@pytest.fixture
def good(tmp_path) -> Path:
    net = TwoLayerNet(16, 5, 3, dtype=np.float32, seed=1)
    return save_model(tmp_path / "good.npz", net, meta={
        "dataset": "toy", "class_names": ["a", "b", "c"], "image_shape": [4, 4]})


def arrays_of(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return dict(f)


def variant(tmp_path, good, name="bad.npz", **changes) -> Path:
    """``good``'s entries with some replaced (``None`` removes one)."""
    arrays = arrays_of(good)
    for key, value in changes.items():
        key = key.replace("__", "/")
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def npy(shape, dtype, data: bytes = b"", fortran: bool = False) -> bytes:
    """An .npy file's bytes: a header declaring ``shape`` of ``dtype``, then ``data``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": fortran,
        "shape": tuple(shape)})
    return buf.getvalue() + data


def zipped(path: Path, entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def good_entries(good) -> dict[str, bytes]:
    with zipfile.ZipFile(good) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def refused(path, match, reader=read_model) -> str:
    with pytest.raises(CheckpointError, match=match) as info:
        reader(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


# ---------------------------------------------------------------- sizes before allocating


def test_good_file_reads(good):
    model = read_model(good)
    assert model.meta["class_names"] == ["a", "b", "c"] and model.net.params["W1"].shape == (16, 5)


def test_a_huge_declared_array_is_refused_from_its_header(tmp_path, good):
    """8 GiB declared in a few bytes: refused before anything is allocated."""
    entries = good_entries(good)
    entries["params/extra.npy"] = npy((1 << 30,), "<f8", b"\0" * 64)
    refused(zipped(tmp_path / "m.npz", entries), r"entry 'params/extra' declares shape "
            r"\(1073741824,\) of float64, 8589934592 bytes, more than the limit of 536870912")
    entries = good_entries(good)
    entries["params/W1.npy"] = npy((100_000, 100_000), "<f4", b"\0" * 64)
    refused(zipped(tmp_path / "w1.npz", entries), "entry 'params/W1' declares shape")


def test_a_zip_bomb_entry_is_refused_before_it_is_decompressed(tmp_path, good):
    """64 MiB of zeros compressed to 64 KB, with a limit of 8 MiB per array: refused while
    less than a megabyte has been allocated."""
    entries = good_entries(good)
    entries["buffers/zeros.npy"] = npy((8 << 20,), "<f8", bytes(64 << 20))
    path = zipped(tmp_path / "bomb.npz", entries)
    assert path.stat().st_size < 200_000
    limits = Limits(array_bytes=8 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match="more than the limit of 8388608"):
            read_model(path, limits=limits)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_the_total_is_limited_too(tmp_path, good):
    entries = good_entries(good)
    for i in range(3):
        entries[f"buffers/b{i}.npy"] = npy((1 << 17,), "<f8", bytes(1 << 20))
    refused(zipped(tmp_path / "t.npz", entries), "its arrays hold",
            reader=lambda p: read_model(p, limits=Limits(total_bytes=2 << 20)))


def test_too_many_entries_are_refused_from_the_zip_directory(tmp_path, good):
    entries = good_entries(good)
    entries.update({f"params/p{i}.npy": npy((1,), "<f4", bytes(4)) for i in range(20)})
    refused(zipped(tmp_path / "many.npz", entries), "lists 27 entries",
            reader=lambda p: read_model(p, limits=Limits(entries=10)))


def test_an_entry_whose_data_does_not_match_its_header(tmp_path, good):
    entries = good_entries(good)
    entries["params/W1.npy"] = npy((16, 5), "<f4", bytes(16 * 5 * 4 - 8))
    refused(zipped(tmp_path / "short.npz", entries), "but its header declares")
    entries["params/W1.npy"] = npy((-1, 0), "<f4")
    refused(zipped(tmp_path / "negative.npz", entries), r"declares shape \(-1, 0\): a "
            "negative size")


def test_a_damaged_entry_fails_its_crc(tmp_path, good):
    """A flipped byte in stored (uncompressed) weights: np.load would not notice."""
    data = bytearray(good.read_bytes())
    at = data.find(b"params/W1.npy") + 200
    data[at] ^= 0x10
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(bytes(data))
    refused(bad, "Bad CRC-32")


@pytest.mark.parametrize("damage", ["truncated", "empty", "text", "folder", "fifo"])
def test_not_a_zip(tmp_path, good, damage):
    bad = tmp_path / "bad.npz"
    if damage == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif damage == "empty":
        bad.write_bytes(b"")
    elif damage == "text":
        bad.write_text("hello")
    elif damage == "folder":
        bad.mkdir()
    else:
        os.mkfifo(bad)  # opening it would block: it is never opened
    refused(bad, {"folder": "not a regular file", "fifo": "not a regular file",
                  "truncated": "not a readable .npz file"}.get(damage, "not an .npz file"))


def test_an_encrypted_or_odd_zip_is_refused(tmp_path, good):
    data = bytearray(good.read_bytes())
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 1  # "encrypted"
    bad = tmp_path / "enc.npz"
    bad.write_bytes(bytes(data))
    refused(bad, "encrypted")
    entries = good_entries(good)
    entries["params/W1.npy"] += b""
    zipped(tmp_path / "dup.npz", entries)
    with zipfile.ZipFile(tmp_path / "dup.npz", "a") as zf:
        with pytest.warns(UserWarning, match="Duplicate name"):
            zf.writestr("params/W1.npy", entries["params/W1.npy"])
    refused(tmp_path / "dup.npz", "appears twice")
    entries = good_entries(good)
    entries["params/"] = b""
    refused(zipped(tmp_path / "dir.npz", entries), "is not an .npy array")


# ---------------------------------------------------------------- what the format holds


@pytest.mark.parametrize("key, value, match", [
    ("evil", np.zeros(3), r"not a chainrule model or checkpoint \(unexpected entry 'evil'\)"),
    ("params/../../x", np.zeros(3, np.float32), "unexpected entry"),
    ("optimizer/v/W1", np.zeros((16, 5), np.float32), "a model file has no optimizer"),
    ("params/W1", np.zeros((16, 5), complex), "has dtype complex128"),
    ("params/W1", np.zeros((16, 5), "S4"), "has dtype"),
    ("params/W1", np.zeros((16, 5), [("a", "<f4")]), "has dtype"),
    ("params/W1", np.array(["x"] * 80).reshape(16, 5), "text entries must be single strings"),
    ("params/W1", np.ones((16, 5), np.int64), "params/W1 is int64; chainrule networks hold "
                                              "float32 or float64"),
    ("params/W1", np.ones((16, 5), np.int8), "is int8"),
    ("params/W1", np.ones((16, 5), np.float16), "is float16"),
    ("params/W1", np.ones((16, 5), np.float64), "the parameters mix float32 and float64"),
    ("params/W1", np.full((16, 5), np.nan, np.float32), "holds 80 NaN or infinite values"),
    ("params/b2", np.array([0, np.inf, 0], np.float32), "holds 1 NaN or infinite values"),
    ("params/W2", np.zeros((6, 3), np.float32), "do not fit the architecture"),
    ("params/W2", np.zeros((5, 4), np.float32), "do not fit the architecture"),
    ("params/b1", np.zeros(1, np.float32), "do not fit the architecture"),
    ("params/extra", np.zeros(3, np.float32), r"params/extra has shape \(3,\), the network "
                                              "uses none"),
    ("params/b1", np.zeros((1, 5), np.float32), "do not fit the architecture"),
    ("params/W1", np.zeros((16,), np.float32), "do not fit the architecture"),
    ("params/W1", None, "do not fit the architecture"),
    ("params/W3", np.zeros((3, 3), np.float32), "do not fit the architecture"),
    ("format", np.array("chainrule.model/9"), "not a chainrule model"),
    ("format", np.array([1.0]), "not a chainrule model"),
    ("net", np.array("[" * 5000 + "]" * 5000), "JSON nested deeper than 32 levels"),
    ("net", np.array("{"), "'net': not valid JSON"),
    ("net", np.array(json.dumps({"class": ["TwoLayerNet"]})), "must be a name"),
    ("net", np.array(json.dumps({"class": "__class__"})), "unknown network class"),
    ("net", np.array(json.dumps({"class": "TwoLayerNet", "input_size": 16, "hidden_size": 5,
                                 "output_size": 4})), "do not fit"),
    ("meta", np.array('{"a":' * 1000 + "1" + "}" * 1000), "JSON nested deeper"),
    ("meta", np.array("[]"), "'meta' must be a JSON object"),
    ("meta", np.array(json.dumps({"class_names": ["a", "b"]})),
     "class_names must name each of the network's 3 outputs"),
    ("meta", np.array(json.dumps({"class_names": ["a", "b", 3]})), "class_names"),
    ("meta", np.array(json.dumps({"class_names": ["a", "b", "x" * 201]})), "class_names"),
    ("meta", np.array(json.dumps({"image_shape": [100000, 100000]})),
     r"image_shape must be \[height, width\] holding the network's 16 inputs"),
    ("meta", np.array(json.dumps({"image_shape": [2, 8, 1]})), "image_shape"),
    ("meta", np.array(json.dumps({"image_shape": [-4, -4]})), "image_shape"),
    ("meta", np.array(json.dumps({"image_shape": [True, 16]})), "image_shape"),
    ("meta", np.array(json.dumps({"image_shape": "4x4"})), "image_shape"),
    ("meta", np.array(json.dumps({"dataset": 7})), "dataset must be a name"),
])
def test_what_a_model_file_may_hold(tmp_path, good, key, value, match):
    refused(variant(tmp_path, good, **{key.replace("/", "__"): value}), match)


def test_non_finite_values_are_counted_in_chunks():
    a = np.zeros(10_007, np.float32)
    a[[0, 5000, 10_006]] = [np.nan, np.inf, -np.inf]
    assert checkpoint._non_finite(a, chunk=1000) == 3 == checkpoint._non_finite(a)
    assert checkpoint._non_finite(np.zeros((0, 3))) == 0


def test_huge_input_size_is_refused_before_the_probe(tmp_path, good):
    net = {"class": "TwoLayerNet", "input_size": 1 << 30, "hidden_size": 5, "output_size": 3}
    refused(variant(tmp_path, good, net=np.array(json.dumps(net))), "do not fit|more than the "
            "limit")
    assert checkpoint.declared_input_shape({"input_dim": [1, 100000, 100000]},
                                           {}) == (1, 100000, 100000)
    class Loose(TwoLayerNet):  # takes any config: the probe's limit must stop it
        @classmethod
        def from_config(cls, config, params):
            return cls.from_params(params)

    register_net(Loose)
    try:
        conv = {"class": "Loose", "input_dim": [1, 100000, 100000]}
        refused(variant(tmp_path, good, net=np.array(json.dumps(conv))), "more than the limit "
                "of 4194304 values")
        conv["input_dim"] = [1, 4, 4]
        assert read_model(variant(tmp_path, good, net=np.array(json.dumps(conv)))).net
    finally:
        NET_CLASSES.pop("Loose")
    assert checkpoint.declared_input_shape({"input_dim": [0, 3]}, {}) is None
    assert checkpoint.declared_input_shape({"input_size": True}, {}) is None


def test_fortran_order_and_big_endian_are_read_as_what_they_mean(tmp_path, good):
    arrays = arrays_of(good)
    w1 = arrays["params/W1"]
    path = variant(tmp_path, good, params__W1=np.asfortranarray(w1),
                   params__W2=arrays["params/W2"].astype(">f4"),
                   params__b1=arrays["params/b1"].astype(">f4"),
                   params__b2=arrays["params/b2"].astype(">f4"))
    with zipfile.ZipFile(path) as zf, zf.open("params/W1.npy") as f:
        np.lib.format.read_magic(f)
        assert np.lib.format.read_array_header_1_0(f)[1] is True  # stored in Fortran order
    model = read_model(path)
    np.testing.assert_array_equal(model.net.params["W1"], w1)
    assert model.net.params["W1"].flags.c_contiguous
    assert all(p.dtype == np.float32 and p.dtype.isnative for p in model.net.params.values())


def test_multilayer_net_with_batchnorm_and_its_buffers(tmp_path):
    net = MultiLayerNet(16, [6, 5], 3, use_batchnorm=True, dtype=np.float32, seed=0)
    path = save_model(tmp_path / "m.npz", net)
    model = read_model(path)
    assert model.net.config() == net.config()
    x = np.random.default_rng(0).random((2, 16), dtype=np.float32)
    np.testing.assert_array_equal(model.net.predict(x), net.predict(x))
    arrays = arrays_of(path)
    arrays["buffers/running_var1"] = np.full(6, np.nan, np.float32)
    np.savez(tmp_path / "nan.npz", **arrays)
    refused(tmp_path / "nan.npz", "buffers/running_var1 holds 6 NaN")
    arrays = arrays_of(path)
    arrays["params/gamma1"] = np.ones(1, np.float32)
    np.savez(tmp_path / "g.npz", **arrays)
    refused(tmp_path / "g.npz", "do not fit")


def test_read_npz_reads_only_what_is_asked(tmp_path, good):
    got = read_npz(good, accept=lambda k: True, read=lambda k: k.startswith("params/"))
    assert sorted(got) == ["params/W1", "params/W2", "params/b1", "params/b2"]
    assert got["params/W1"].flags.writeable


# ---------------------------------------------------------------- checkpoints


@pytest.fixture
def ckpt(tmp_path) -> Path:
    from chainrule.data.load import Data
    from chainrule.training.checkpoint import save_checkpoint
    from chainrule.training.config import TrainConfig
    from chainrule.training.loop import TrainingLoop

    rng = np.random.default_rng(0)
    x, t = rng.random((40, 12), dtype=np.float32), rng.integers(0, 3, 40)
    tr = TrainingLoop.from_config(TrainConfig(hidden=5, batch_size=4, iters=9, eval_every=3,
                                         optimizer="adam"), Data(x, t, x[:10], t[:10]))
    tr.run(handle_sigint=False)
    return save_checkpoint(tmp_path / "checkpoint.npz", tr)


def test_a_checkpoint_is_checked_like_a_model(tmp_path, ckpt):
    state = load_checkpoint(ckpt)
    assert state["iteration"] == 9 and "v/W1" in state["optimizer"]
    arrays = arrays_of(ckpt)
    for key, value, match in [
        ("optimizer/v/W1", np.full((12, 5), np.inf, np.float32), "optimizer/v/W1 holds NaN"),
        ("params/W1", np.zeros((12, 5), np.int32), "is int32"),
        ("params/W2", np.zeros((6, 3), np.float32),
         r"optimizer/m/W2 has shape \(5, 3\), not the shape of a parameter"),
        ("optimizer/v/W1", np.zeros((120, 5), np.float32), "optimizer/v/W1 has shape"),
        ("optimizer/v/W9", np.zeros((12, 5), np.float32), r"not the shape .* \(None\)"),
        ("history/step_loss", np.zeros(10), "history/step_loss holds 10 values in shape "
         r"\(10,\), more than a run at iteration 9 can have"),
        ("history/loss", np.zeros((2, 2)), "history/loss holds 4 values in shape"),
        ("history/step_loss_from", np.array(9), "step_loss_from .9. and the step losses"),
        ("history/step_loss_from", np.array(-1), "step_loss_from .-1. and the step losses"),
        ("history/step_loss_from", np.array(1.5), "step_loss_from must be a count"),
        ("history/iteration", np.array([0, 3, 9]), "history/iteration holds rows outside"),
        ("trainer", np.array("[" * 100 + "]" * 100), "nested deeper"),
        ("trainer", np.array(json.dumps({"iteration": -3, "rng": {}})), "must be a count"),
        ("trainer", np.array(json.dumps({"iteration": 9})), "lacks iteration or rng"),
        ("history/x", np.array([object()], dtype=object), "has dtype object"),
        ("other/x", np.zeros(2), "unexpected entry 'other/x'"),
    ]:
        bad = dict(arrays)
        bad[key] = value
        np.savez(tmp_path / "bad.npz", **bad)
        refused(tmp_path / "bad.npz", match, reader=load_checkpoint)
    # the network inside a checkpoint, read as a model: optimizer and history are not read
    assert read_model(ckpt).net.params["W1"].shape == (12, 5)


def test_a_history_longer_than_its_run_is_refused_before_it_is_read(tmp_path, ckpt):
    """60 million zeros in history/step_loss (480 MB, deflated to 0.5 MB) of a run at
    iteration 300 took --resume to 3.4 GB. The header says the length: it is refused
    before the array is read (10 million here, 80 MB, streamed into the zip)."""
    arrays = arrays_of(ckpt)
    bad = tmp_path / "bad.npz"
    n = 10_000_000
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as zf:
        for key, a in arrays.items():
            if key != "history/step_loss":
                buf = io.BytesIO()
                np.lib.format.write_array(buf, a, allow_pickle=False)
                zf.writestr(key + ".npy", buf.getvalue())
        with zf.open("history/step_loss.npy", "w", force_zip64=True) as f:
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(
                header, {"descr": "<f8", "fortran_order": False, "shape": (n,)})
            f.write(header.getvalue())
            zeros = bytes(8 * 100_000)
            for _ in range(n // 100_000):
                f.write(zeros)
    assert bad.stat().st_size < 2_000_000
    tracemalloc.start()
    try:
        message = refused(bad, f"history/step_loss holds {n} values in shape "
                               r"\(10000000,\), more than a run at iteration 9",
                          reader=load_checkpoint)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, (peak, message)
