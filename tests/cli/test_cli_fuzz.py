"""Every ``chainrule`` command driven with generated bad arguments and files: it ends with
its result or one line saying what is wrong, never a traceback, never the last-resort
"internal error" (exit 70), and a bad model or picture is always a non-zero exit.

The commands and their flags are read from the argparse parser itself, so a command or
flag added later is covered without touching this file. Left out, on purpose:

- ``serve``: it starts a web server and blocks until stopped (its bad input is tested
  through its HTTP endpoints);
- the value ``digits`` (a dataset bundled with scikit-learn): with it ``train``,
  ``evaluate`` and ``gradcheck`` really run, which is slow and not bad input. Every other
  dataset is corrupt or missing here (``CHAINRULE_OFFLINE=1``), so no command trains.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrule.cli import build_parser, main
from chainrule.nn.two_layer import TwoLayerNet
from chainrule.training.checkpoint import save_model

SKIP = {"serve"}
EXAMPLES = int(os.environ.get("CHAINRULE_FUZZ_EXAMPLES", "0")) or 20
"""Per command; the default suite runs the same 20 each time, ``CHAINRULE_FUZZ_EXAMPLES=N``
explores N fresh ones."""


def _commands() -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every runnable command path (``("data",)``, ``("data", "fetch")``...) and its parser."""
    found: dict[tuple[str, ...], argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if path and not any(a.required for a in subs):
            found[path] = parser
        for action in subs:
            for name, sub in action.choices.items():
                if name not in SKIP:
                    walk(sub, (*path, name))

    walk(build_parser(), ())
    return found


COMMANDS = _commands()
INTS = ["-1", "0", "1", "2", "3", "-7", "2147483648", "99999999999999999999", "1.5", "x", ""]
FLOATS = ["nan", "inf", "-inf", "-1", "0", "1e308", "-1e308", "5e-324", "0.5", "x", ""]
TEXT = ["", "-", "x", "\x1b[2J", "é" * 50, "a" * 300, "mnist", "fashion-mnist", "1"]


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> dict[str, list[str]]:
    """Files and folders, mostly bad: ``bad_models``, ``bad_pictures``, and ``paths`` (all).
    A command may write over any of them (``graph --out bad.png``): :func:`_restore` puts
    them back after every example."""
    root = tmp_path_factory.mktemp("fuzz") / "pool"
    root.mkdir()
    net = TwoLayerNet(16, 3, 4, dtype=np.float32, seed=0)
    meta = {"dataset": "mnist", "class_names": list("abcd"), "image_shape": [4, 4]}
    good = save_model(root / "good.npz", net, meta=meta)
    with np.load(good) as f:
        arrays = dict(f)

    def crafted(name, **changes):
        np.savez(root / name, **{**arrays, **{k.replace("__", "/"): v
                                              for k, v in changes.items()}})
        return root / name

    bad_models = [
        crafted("nan.npz", params__W1=np.full((16, 3), np.nan, np.float32)),
        crafted("int.npz", params__W1=np.ones((16, 3), np.int8)),
        crafted("mismatch.npz", params__W2=np.zeros((5, 4), np.float32)),
        crafted("huge-shape.npz", meta=np.array(json.dumps({"image_shape": [10**5, 10**5]}))),
        crafted("deep.npz", meta=np.array("[" * 5000 + "]" * 5000)),
        crafted("names.npz", meta=np.array(json.dumps({"class_names": ["\x1b[2J"]}))),
    ]
    (root / "truncated.npz").write_bytes(good.read_bytes()[:300])
    (root / "empty.npz").write_bytes(b"")
    (root / "garbage.npz").write_bytes(os.urandom(500))
    bad_models += [root / "truncated.npz", root / "empty.npz", root / "garbage.npz",
                   root / "missing.npz", root / "empty-folder"]
    (root / "empty-folder").mkdir()
    for name, config in (("run-list", [1, 2]), ("run-deep", "[" * 10**5 + "]" * 10**5),
                         ("run-number-dir", {"dataset": "mnist", "data_dir": 7})):
        run = root / name
        run.mkdir()
        save_model(run / "model.npz", net, meta=meta)
        (run / "config.json").write_text(config if isinstance(config, str)
                                         else json.dumps(config))

    from PIL import Image

    picture = np.full((10, 10), 255, np.uint8)
    picture[2:8, 4:6] = 0
    Image.fromarray(picture).save(root / "digit.png")
    (root / "blank.png").write_bytes((root / "digit.png").read_bytes()[:40])
    header = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + (9000).to_bytes(4, "big") * 2
    (root / "bomb.png").write_bytes(header + b"\x01\x00\x00\x00\x00" + zlib.crc32(
        header[12:] + b"\x01\x00\x00\x00\x00").to_bytes(4, "big"))
    (root / "garbage.png").write_bytes(os.urandom(200))
    bad_pictures = [root / n for n in ("blank.png", "bomb.png", "garbage.png", "missing.png",
                                       "empty-folder")]
    (root / "deep.json").write_text("[" * 10**5 + "]" * 10**5)
    (root / "file").write_text("a file, not a folder")
    data = root / "data"
    (data / "mnist").mkdir(parents=True)
    (data / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"corrupt")
    os.mkfifo(root / "fifo")
    paths = [*bad_models, *bad_pictures, good, root / "digit.png", root / "deep.json",
             root / "run-list", root / "run-deep", root / "run-number-dir", root / "fifo",
             root / "file", root / "file" / "under" / "x.png", root / "out.svg", root / "out.png",
             root / "new-folder", root / "out.txt", data]
    pristine = root.parent / "pristine"
    shutil.copytree(root, pristine, copy_function=_copy)
    return {"root": [str(root), str(pristine), _fingerprint(root)],
            "bad_models": list(map(str, bad_models)), "bad_pictures": list(map(str, bad_pictures)),
            "paths": list(map(str, paths)), "good": [str(good)], "picture": [str(root / "digit.png")],
            "data": [str(data)]}


def _copy(src: str, dst: str) -> None:
    if stat.S_ISFIFO(os.lstat(src).st_mode):
        os.mkfifo(dst)  # copying would read from it, and block
    else:
        shutil.copy2(src, dst)


def _fingerprint(root) -> list:
    out = []
    for folder, dirs, names in os.walk(root):
        for name in sorted(dirs + names):
            st = os.lstat(os.path.join(folder, name))
            out.append((folder, name, st.st_mode, st.st_size, st.st_mtime_ns))
    return sorted(out)


def _restore(pool) -> None:
    root, pristine, fingerprint = pool["root"]
    if _fingerprint(root) != fingerprint:
        shutil.rmtree(root)
        shutil.copytree(pristine, root, copy_function=_copy)
        pool["root"][2] = _fingerprint(root)


def _value(action: argparse.Action, pool, draw) -> str:
    if action.choices is not None:
        return draw(st.sampled_from([*action.choices, "bogus"]))
    kind = action.type
    if kind is int:
        return draw(st.sampled_from(INTS))
    if kind is float:
        return draw(st.sampled_from(FLOATS))
    return draw(st.sampled_from(pool["paths"] + TEXT + INTS[:4]))


def _count(nargs, draw) -> int:
    if nargs is None:
        return 1
    if isinstance(nargs, int):
        return nargs
    return draw(st.integers({"?": 0, "*": 0, "+": 1}[nargs], {"?": 1, "*": 2, "+": 3}[nargs]))


def _argv(path: tuple[str, ...], parser: argparse.ArgumentParser, pool, draw) -> list[str]:
    argv = list(path)
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction,
                               argparse._SubParsersAction)):
            continue
        if not action.option_strings:  # positional: always given (or a bad count of it)
            argv += [_value(action, pool, draw) for _ in range(_count(action.nargs, draw))]
        elif draw(st.booleans()):
            argv.append(draw(st.sampled_from(action.option_strings)))
            if action.nargs != 0:
                argv += [_value(action, pool, draw) for _ in range(_count(action.nargs, draw))]
    if draw(st.integers(0, 9)) == 0:  # now and then, something argparse must refuse
        argv.insert(draw(st.integers(1, len(argv))), draw(st.sampled_from(["--bogus", "-z"])))
    return argv


@pytest.fixture
def sandbox(tmp_path, monkeypatch, pool):
    monkeypatch.chdir(tmp_path)  # `train` writes runs/ here, `graph` NAME.svg
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("CHAINRULE_DATA", pool["data"][0])
    monkeypatch.setenv("CHAINRULE_OFFLINE", "1")
    monkeypatch.delenv("CHAINRULE_DEBUG", raising=False)


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: --help (0) or a bad flag (2)
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def test_every_command_is_covered():
    assert {p[0] for p in COMMANDS} >= {"train", "evaluate", "predict", "gradcheck", "demo",
                                        "graph", "data", "experiment"}
    assert ("data", "fetch") in COMMANDS


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
@settings(max_examples=EXAMPLES, deadline=None,
          derandomize="CHAINRULE_FUZZ_EXAMPLES" not in os.environ,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_generated_bad_input_never_gives_a_traceback(path, pool, sandbox, capsys, data):
    argv = _argv(path, COMMANDS[path], pool, data.draw)
    try:
        code, out, err = _run(argv, capsys)
    finally:
        _restore(pool)
    assert "Traceback" not in err and "Traceback" not in out, (argv, err)
    assert code != 70, (argv, err)  # the last resort is for bugs, not for bad input
    assert code in (0, 1, 2), (argv, code, err)
    if code != 0 and err.strip():  # (`data` lists a corrupt file on stdout, exit 1)
        assert err.strip().splitlines()[-1].startswith("chainrule"), (argv, err)
    positional = [a for a in argv[len(path):] if not a.startswith("-")]
    if path[0] in ("predict", "evaluate") and positional and positional[0] in pool["bad_models"]:
        assert code != 0, (argv, out)
    if path[0] == "predict" and any(a in pool["bad_pictures"] for a in positional[1:]):
        assert code != 0, (argv, out)
