"""``predict``, ``evaluate``, ``experiment`` and ``demo`` given files and values that are
wrong on purpose: each ends with its result or one line naming what is wrong, never a
traceback; unexpected failures get the last-resort line (exit 70), Ctrl-C during start-up
one line (exit 130)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.nn.two_layer import TwoLayerNet
from chainrule.training.checkpoint import save_model

PIL = pytest.importorskip("PIL.Image")


def model_file(path: Path, inputs=16, outputs=3, info=None, **replace) -> Path:
    """A TwoLayerNet model file, with some entries replaced after saving."""
    net = TwoLayerNet(inputs, 5, outputs, dtype=np.float32, seed=1)
    side = int(round(inputs ** 0.5))
    info = {"dataset": "toy", "class_names": [f"c{i}" for i in range(outputs)],
            "image_shape": [side, side]} if info is None else info
    save_model(path, net, meta=info)
    if replace:
        with np.load(path) as f:
            arrays = dict(f)
        arrays.update({k.replace("__", "/"): v for k, v in replace.items()})
        np.savez(path, **arrays)
    return path


def picture(path: Path, value: int = 0, size: int = 12) -> Path:
    a = np.full((size, size), 255, np.uint8)
    a[2:-2, size // 2 - 1:size // 2 + 1] = value  # a dark stroke on white paper
    PIL.fromarray(a).save(path)
    return path


def png_bomb(path: Path, width: int = 12000, height: int = 12000) -> Path:
    """A valid 1-bit PNG of ``width`` x ``height`` white pixels: a few KB on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    body = zlib.compressobj(9)
    idat = b"".join(body.compress(row) for _ in range(height)) + body.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(
        ">IIBBBBB", width, height, 1, 0, 0, 0, 0)) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# ---------------------------------------------------------------- predict


@pytest.mark.parametrize("replace, meta, message", [
    ({"params__W1": np.full((16, 5), np.nan, np.float32)}, None, "holds 80 NaN or infinite"),
    ({"params__b2": np.array([0, np.inf, 0], np.float32)}, None, "NaN or infinite"),
    ({"params__W2": np.zeros((6, 3), np.float32)}, None, "do not fit the architecture"),
    ({"params__W1": np.ones((16, 5), np.int64)}, None, "is int64"),
    ({"params__W1": np.ones((16, 5), np.int8)}, None, "is int8"),
    ({}, {"class_names": ["only one"]}, "class_names must name each"),
    ({}, {"image_shape": [100000, 100000]}, "image_shape must be"),
    ({}, {"image_shape": [3, 5]}, "image_shape must be"),
    ({"meta": np.array("[" * 3000 + "]" * 3000)}, None, "nested deeper"),
])
def test_predict_refuses_a_bad_model_in_one_line(tmp_path, capsys, replace, meta, message):
    model = model_file(tmp_path / "model.npz", info=meta, **replace)
    code, out, err = run(capsys, "predict", model, picture(tmp_path / "d.png"))
    assert code == 2 and out == ""
    line = one_line(err)
    assert line.startswith(f"chainrule predict: error: {model}: ") and message in line


def test_predict_goes_on_past_bad_pictures(tmp_path, capsys):
    model = model_file(tmp_path / "model.npz")
    good = [picture(tmp_path / f"good{i}.png", value=i) for i in range(3)]
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "garbage.png").write_bytes(os.urandom(300))
    (tmp_path / "half.png").write_bytes(good[0].read_bytes()[:60])
    (tmp_path / "folder.png").mkdir()
    blank = tmp_path / "blank.png"
    PIL.fromarray(np.full((9, 9), 255, np.uint8)).save(blank)
    bad = [tmp_path / n for n in ("empty.png", "garbage.png", "half.png", "folder.png",
                                  "missing.png", "blank.png")]
    images = [good[0], *bad[:3], good[1], *bad[3:], good[2], good[0]] * 15  # 150 files
    code, out, err = run(capsys, "predict", model, *images)
    assert code == 2
    assert sum(line.startswith(str(tmp_path / "good")) for line in out.splitlines()) == 60
    lines = err.strip().splitlines()
    assert len(lines) == 91 and lines[-1] == ("chainrule predict: 90 of 150 pictures could not "
                                              "be read (see above)")
    for path, text in [(bad[0], "not a readable picture"), (bad[3], "a folder"),
                       (bad[4], "cannot be read (No such file"), (bad[5], "blank")]:
        assert any(line.startswith(f"chainrule predict: {path}: ") and text in line
                   for line in lines), (path, text)


@pytest.mark.parametrize("side, message", [
    (7000, "7000x7000 pixels, more than the 40000000 read here"),  # below Pillow's limit
    (12000, "refused: Image size (144000000 pixels) exceeds limit"),  # Pillow's own warning
])
def test_a_picture_bomb_is_refused_from_its_header(tmp_path, capsys, side, message):
    """A 144-megapixel PNG of 20 KB: refused before it is decoded."""
    bomb = png_bomb(tmp_path / "bomb.png", side, side)
    assert bomb.stat().st_size < 40_000
    code, out, err = run(capsys, "predict", model_file(tmp_path / "m.npz"), bomb)
    assert code == 2 and f"chainrule predict: {bomb}: {message}" in err


def test_pillow_own_bomb_limit_is_an_error_too(tmp_path, monkeypatch):
    from PIL import Image

    from chainrule.data.preprocess import ImageError, read_image

    bomb = png_bomb(tmp_path / "bomb.png", 3000, 3000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)  # warning above, error at 2x
    with pytest.raises(ImageError, match="refused: .*decompression bomb"):
        read_image(bomb)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5_000_000)
    with pytest.raises(ImageError, match="refused: .*decompression bomb"):
        read_image(bomb)


def test_a_picture_can_come_as_a_file_object(tmp_path):
    import io

    from chainrule.data.preprocess import ImageError, read_image

    data = picture(tmp_path / "d.png").read_bytes()
    assert read_image(io.BytesIO(data)).shape == (12, 12)
    with pytest.raises(ImageError, match="the picture: not a readable picture"):
        read_image(io.BytesIO(data[:30]))
    with pytest.raises(ImageError, match="the picture: 7000x7000 pixels"):
        read_image(io.BytesIO(png_bomb(tmp_path / "b.png", 7000, 7000).read_bytes()))


def test_a_large_picture_is_shrunk_before_it_becomes_numbers(tmp_path):
    from chainrule.data.preprocess import WORK_SIDE, load_image, read_image

    a = np.full((3000, 2000), 255, np.uint8)
    a[500:2500, 900:1100] = 0
    PIL.fromarray(a).save(tmp_path / "photo.png")
    gray = read_image(tmp_path / "photo.png")
    assert gray.shape == (WORK_SIDE, round(2000 * WORK_SIDE / 3000))
    x = load_image(tmp_path / "photo.png")
    assert x.shape == (28, 28) and x.max() > 0.9 and x[14, 14] > 0.5


def test_class_names_cannot_drive_the_terminal(tmp_path, capsys):
    names = ["\x1b[2J\x1b[Hwiped", "ok", "bell\x07\nnext"]
    model = model_file(tmp_path / "model.npz",
                       info={"class_names": names, "image_shape": [4, 4]})
    evil = tmp_path / "\x1b[31mred.png"
    picture(evil)
    code, out, err = run(capsys, "predict", model, evil)
    assert code == 0 and "\x1b" not in out and "\x07" not in out
    assert "\\x1b[2J\\x1b[Hwiped" in out and "bell\\x07\\nnext" in out
    assert "\\x1b[31mred.png" in out


# ---------------------------------------------------------------- evaluate


@pytest.fixture
def digits_model(tmp_path):
    pytest.importorskip("sklearn")
    return model_file(tmp_path / "model.npz", inputs=64, outputs=10,
                      info={"dataset": "digits", "image_shape": [8, 8]})


def test_evaluate_refuses_int8_weights_in_one_line(tmp_path, capsys):
    model = model_file(tmp_path / "model.npz", inputs=64, outputs=10,
                       params__W1=np.ones((64, 5), np.int8))
    code, out, err = run(capsys, "evaluate", model, "--dataset", "digits")
    assert code == 2 and "params/W1 is int8" in one_line(err)


@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".pdf", b"%PDF"),
                                           (".PNG", b"\x89PNG")])
def test_evaluate_writes_the_format_the_name_asks_for(tmp_path, capsys, digits_model,
                                                      suffix, magic):
    out_file = tmp_path / f"matrix{suffix}"
    code, out, err = run(capsys, "evaluate", digits_model, "--png", out_file)
    assert code == 0 and f"confusion matrix drawn in {out_file}" in out
    assert out_file.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("name, message", [("matrix.txt", "cannot tell the figure format"),
                                           ("matrix", "cannot tell the figure format"),
                                           ("no/such/folder.png", "does not exist")])
def test_evaluate_refuses_a_figure_it_cannot_write_before_evaluating(
        tmp_path, capsys, digits_model, name, message, monkeypatch):
    from chainrule.cli import evaluate as command

    monkeypatch.setattr(command, "evaluate", lambda *a, **k: pytest.fail("evaluated"))
    code, out, err = run(capsys, "evaluate", digits_model, "--png", tmp_path / name)
    assert code == 2 and message in one_line(err)


@pytest.mark.parametrize("config, code, message", [
    ([1, 2, 3], 0, None),  # unreadable config: the model file's own meta is used
    ("[" * 100_000 + "]" * 100_000, 0, None),
    ({"dataset": "digits", "data_dir": 123}, 2, "data_dir must be a folder name, got 123"),
    ({"dataset": ["digits"]}, 2, "unknown dataset ['digits']"),
])
def test_evaluate_with_a_broken_run_config(tmp_path, capsys, digits_model, config, code,
                                           message):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    digits_model.rename(run_dir / "model.npz")
    (run_dir / "config.json").write_text(config if isinstance(config, str)
                                         else json.dumps(config))
    got, out, err = run(capsys, "evaluate", run_dir, "--no-plot")
    assert got == code
    if message:
        assert message in one_line(err)
    else:
        assert "accuracy" in out


# ---------------------------------------------------------------- experiment, demo


def test_experiment_test_size_beyond_the_test_set(real_data_root, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CHAINRULE_DATA", str(real_data_root))
    code, out, err = run(capsys, "experiment", "overfit", "--test-size", "100000",
                         "--out", tmp_path)
    assert code == 2 and ("--test-size must be at most the 10000 test images of mnist, got "
                          "100000") in one_line(err)


@pytest.mark.parametrize("argv, message", [
    (["experiment", "optimizers", "--iters", "1000000000000"], "--iters must be between 1"),
    (["experiment", "overfit", "--epochs", "0"], "--epochs must be between 1"),
    (["demo", "sigmoid", "--x", "nan"], "--x must be a number from -700 to 700"),
    (["demo", "sigmoid", "--x=-800"], "overflows below -709"),
    (["graph", "apple", "--precision", "2147483648"], "--precision must be from 1 to 17"),
])
def test_out_of_range_values_are_one_line(tmp_path, capsys, argv, message):
    code, out, err = run(capsys, *argv, *(["--out", tmp_path] if argv[0] == "experiment"
                                          else []))
    assert code == 2 and message in one_line(err)


# ---------------------------------------------------------------- the last resort


@pytest.fixture
def broken_demo(monkeypatch):
    from chainrule.cli import demo

    def explode(exc):
        def run(args):
            raise exc
        return run

    def use(exc):
        monkeypatch.setattr(demo, "run", explode(exc))
    return use


def test_an_unexpected_error_is_one_line_with_exit_70(capsys, broken_demo, monkeypatch):
    broken_demo(ZeroDivisionError("a bug\x1b[2J"))
    monkeypatch.delenv("CHAINRULE_DEBUG", raising=False)
    code, out, err = run(capsys, "demo", "apple")
    assert code == 70 and one_line(err) == (
        "chainrule demo: internal error: ZeroDivisionError: a bug\\x1b[2J; please report it "
        "(CHAINRULE_DEBUG=1 shows the traceback)")
    monkeypatch.setenv("CHAINRULE_DEBUG", "1")
    assert main(["demo", "apple"]) == 70
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().endswith("shows the traceback)")


@pytest.mark.parametrize("exc, code, text", [
    (MemoryError("Unable to allocate 3.6 TiB"), 1, "chainrule demo: error: not enough memory "
                                                   "(Unable to allocate 3.6 TiB)"),
    (OSError(28, "No space left on device"), 1, "chainrule demo: error: [Errno 28] No space"),
    (KeyboardInterrupt(), 130, "chainrule: interrupted"),
])
def test_system_troubles_are_one_line(capsys, broken_demo, exc, code, text):
    broken_demo(exc)
    got, out, err = run(capsys, "demo", "apple")
    assert got == code and one_line(err).startswith(text)


def _startup_hook(tmp_path: Path, target: str) -> dict:
    """An environment whose Python sends itself SIGINT while importing ``target``: Ctrl-C
    in the middle of start-up, every time."""
    (tmp_path / "sitecustomize.py").write_text(
        "import os, signal, sys\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal\n"
        "class _Hook:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {target!r}:\n"
        "            sys.meta_path.remove(self)\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Hook())\n")
    return {**os.environ, "PYTHONPATH": str(tmp_path)}


@pytest.mark.parametrize("target", ["numpy", "chainrule.cli", "argparse"])
@pytest.mark.parametrize("how", ["script", "module"])
def test_ctrl_c_during_start_up_is_one_line(tmp_path, target, how):
    script = Path(sys.executable).parent / "chainrule"
    if how == "script" and not script.exists():
        pytest.skip("the chainrule script is not installed beside this Python")
    argv = [str(script)] if how == "script" else [sys.executable, "-m", "chainrule"]
    done = subprocess.run([*argv, "demo", "apple"], env=_startup_hook(tmp_path, target),
                          capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr
    assert done.returncode == 130 and done.stderr == "chainrule: interrupted\n"


def test_bad_input_never_shows_a_traceback_in_a_real_process(tmp_path):
    bomb = png_bomb(tmp_path / "bomb.png")
    model = model_file(tmp_path / "model.npz", params__W2=np.zeros((6, 3), np.float32))
    (tmp_path / "garbage.npz").write_bytes(os.urandom(1000))
    for argv in (["predict", model, bomb], ["predict", tmp_path / "garbage.npz", bomb],
                 ["evaluate", tmp_path / "missing"], ["demo", "sigmoid", "--x", "inf"],
                 ["experiment", "overfit", "--test-size", "-1"]):
        done = subprocess.run([sys.executable, "-m", "chainrule", *map(str, argv)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "Traceback" not in done.stderr, (argv, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
