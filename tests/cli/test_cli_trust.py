"""The last internal errors and the console, as processes meet them: closed standard
streams, a deleted working folder, names holding escape characters, Ctrl-C at random
moments of start-up, clients that drop their request, model files that would allocate
terabytes."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import main

pytest.importorskip("sklearn", reason="the digits dataset needs scikit-learn")
Image = pytest.importorskip("PIL.Image")

DIGITS = ["train", "--dataset", "digits", "--no-plot", "--iters", "30"]
ESC = "run\x1b[31mred\x07"  # an escape sequence and a bell


def cli(*argv) -> list[str]:
    return [sys.executable, "-m", "chainrule", *map(str, argv)]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "run"
    assert main([*DIGITS, "-q", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pictures") / "digit.png"
    Image.fromarray((np.eye(8) * 255).astype(np.uint8)).save(path)
    return path


# ---------------------------------------------------------------- the streams


@pytest.mark.parametrize("closed", [1, 2, (1, 2)])
def test_closed_standard_streams_are_no_internal_error(tmp_path, closed):
    """`chainrule train >&-` was "internal error: AttributeError: 'NoneType' object has
    no attribute 'flush'"; and no file the run opens takes the stream's number."""
    closed = closed if isinstance(closed, tuple) else (closed,)
    out = tmp_path / "r"
    done = subprocess.run(cli(*DIGITS, "--out", out), stderr=subprocess.PIPE
                          if 2 not in closed else None, stdout=subprocess.PIPE, text=True,
                          preexec_fn=lambda: [os.close(fd) for fd in closed], timeout=120)
    assert done.returncode == 0, done.stderr
    if 2 not in closed:
        assert done.stderr == ""
    assert (out / "step_loss.f64").stat().st_size == 8 * 30
    assert (out / ".run.lock").read_text().strip().isdigit()
    assert (out / "summary.json").read_text().startswith("{")


def test_a_deleted_working_folder_is_said(tmp_path):
    """`chainrule train` from a folder that was deleted said "No such file or directory:
    'runs'"."""
    gone = tmp_path / "gone"
    gone.mkdir()
    script = f"cd {gone} && rmdir {gone} && exec {' '.join(cli(*DIGITS))}"
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PWD": str(gone)})
    assert done.returncode == 2
    assert done.stderr == (f"chainrule train: error: the working folder {gone} no longer "
                           "exists (it was deleted or moved); cd to a folder that exists\n")


# ---------------------------------------------------------------- names


def test_control_characters_in_names_are_escaped_in_every_command(tmp_path, model, picture,
                                                                  capsys, monkeypatch):
    """`chainrule train --out` a folder whose name held ESC and BEL printed them raw."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / ESC
    esc_png = tmp_path / f"{ESC}.png"
    esc_png.write_bytes(picture.read_bytes())
    runs = [
        (0, [*DIGITS, "--out", out]),
        (0, ["train", "--resume", out, "--iters", 40, "--no-plot"]),
        (0, ["evaluate", out, "--png", tmp_path / f"{ESC}.svg"]),
        (0, ["predict", out, esc_png]),
        (2, ["predict", model, tmp_path / f"{ESC}-missing.png"]),
        (0, ["graph", "apple", "-o", tmp_path / f"{ESC}.svg"]),
        (2, [*DIGITS, "--out", esc_png]),
        (2, ["train", "--resume", tmp_path / f"{ESC}-missing"]),
        (2, ["serve", "--host", f"{ESC}.invalid", "--no-browser", "--model", model]),
    ]
    for code, argv in runs:
        assert main(list(map(str, argv))) == code, (argv, capsys.readouterr())
        shown = "".join(capsys.readouterr())
        assert "\x1b" not in shown and "\x07" not in shown, (argv, shown)
        assert "run\\x1b[31mred\\x07" in shown, (argv, shown)
    data = tmp_path / f"data{ESC}"
    monkeypatch.setenv("CHAINRULE_DATA", str(data))
    main(["data", "-v"])
    shown = "".join(capsys.readouterr())
    assert "\x1b" not in shown and "data" + "run\\x1b[31mred\\x07" in shown


# ---------------------------------------------------------------- signals


def _startup_outcome(argv: list[str], delay: float) -> str:
    """What one Ctrl-C ``delay`` seconds after the process starts gives: ``done``,
    ``interrupted`` (one line; 130, or killed by SIGINT, which a shell reports as 130),
    ``before`` (Python's own start-up, before any of
    chainrule runs: killed silently, or Python's traceback through its own modules only)
    or ``BROKEN: ...``."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0 and err == "":
        return "done"
    if proc.returncode in (130, -signal.SIGINT) and err == "chainrule: interrupted\n":
        return "interrupted"  # (-SIGINT: CPython ends so when a C extension saw the signal)
    if proc.returncode == -signal.SIGINT and err == "":
        return "before"
    frames = re.findall(r'File "([^"]+)", line \d+, in (\S+)', err)
    # before chainrule can take SIGINT: importing its __init__, or _startup deciding
    # whether this is the command (its module code and is_command, before the handler)
    taking = ("<module>", "is_command")
    ours = [f for f, where in frames if os.sep + "chainrule" + os.sep in f
            and not f.endswith(os.sep + "chainrule" + os.sep + "__init__.py")
            and not (f.endswith(os.sep + "_startup.py") and where in taking)]
    frames = [f for f, _ in frames]
    if (err.rstrip().endswith("KeyboardInterrupt") and not ours
            and not any("numpy" in f or "PIL" in f for f in frames)):
        return "before"  # in Python's start-up, or loading the module that takes SIGINT
    return f"BROKEN: {proc.returncode} {err[-500:]}"


def test_ctrl_c_at_random_moments_of_start_up_is_one_line(model, picture):
    """Ctrl-C 10 to 30 ms after `chainrule demo` or `predict` started printed a traceback
    in 28 of 160 tries: a bare KeyboardInterrupt, or NumPy's "ImportError ...
    PyCapsule_Import could not import module datetime" when it landed in NumPy's import.
    Many signals at small random delays: every one that lands once chainrule runs gives
    the one line."""
    rng = random.Random()
    script = Path(sys.executable).parent / "chainrule"
    launchers = [[sys.executable, "-m", "chainrule"]] + ([[str(script)]] if script.exists()
                                                         else [])
    seen = {}
    for command in (["demo", "apple"], ["predict", str(model), str(picture)]):
        for i in range(24):
            argv = launchers[i % len(launchers)] + command
            outcome = _startup_outcome(argv, rng.uniform(0.005, 0.15))
            assert not outcome.startswith("BROKEN"), (argv, outcome)
            seen[outcome] = seen.get(outcome, 0) + 1
    assert seen.get("interrupted", 0) >= 12, seen  # most land once chainrule runs


# ---------------------------------------------------------------- files that allocate


def test_a_convnet_file_that_would_allocate_terabytes_is_one_line(tmp_path, picture, capsys,
                                                                  monkeypatch):
    """A 188 KB model.npz of a SimpleConvNet with pad 7000: `chainrule evaluate` reached
    3.2 GB before "not enough memory (Unable to allocate 147 GiB ...)"."""
    sys.path.insert(0, str(Path(__file__).parent.parent / "training"))
    try:
        from test_sizes import absurd_model
    finally:
        sys.path.pop(0)
    from chainrule.training import build

    monkeypatch.setattr(build, "physical_memory", lambda: 16 * 10**9)
    path = absurd_model(tmp_path / "model.npz")
    for argv in (["evaluate", path, "--no-plot"], ["predict", path, picture],
                 ["serve", "--model", path, "--no-browser"]):
        assert main(list(map(str, argv))) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "pads them to 1x40028x40028" in err, err


def test_an_initial_scale_that_overflows_is_one_line_and_no_warning(tmp_path):
    """--init 1e30 printed two raw RuntimeWarning lines, then blamed the learning rate."""
    done = subprocess.run(cli(*DIGITS, "--init", "1e30", "--out", tmp_path / "r"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == ("chainrule train: error: --init 1e+30 overflows the first forward "
                           "pass (the network's scores are not finite in float32); use he, "
                           "xavier or a smaller standard deviation\n")
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------- the lab's console


def test_clients_that_drop_their_request_leave_no_traceback(model, tmp_path):
    """60 clients dropping a slow request body left 60 ClientDisconnect tracebacks on
    `chainrule serve`'s console."""
    pytest.importorskip("starlette")
    proc = subprocess.Popen(cli("serve", "--no-browser", "--port", "0", "--model", model),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", line).group(1))
        for path in ("/api/predict", "/api/graph", "/api/learn", "/api/train", "/api/model"):
            for _ in range(4):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                              "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
                              '{"pixels": [0.1, '.encode())
                    time.sleep(0.02)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert "Traceback" not in err and "ClientDisconnect" not in err, err
    assert "internal error" not in err and len(err.splitlines()) <= 1, err
