"""``chainrule serve``: starts, prints its address, answers, stops on Ctrl-C cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from chainrule.cli import main


def start(*args: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "serve", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not match:
        proc.kill()
        raise AssertionError(f"no address printed: {line!r} {proc.stderr.read()}")
    return proc, match.group(0)


def get_json(url: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return json.loads(r.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def stop(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, err


def test_serve_prints_the_address_answers_and_stops_on_ctrl_c():
    proc, url = start("--no-browser", "--port", "0")
    try:
        pages = get_json(url + "api/pages")
        assert pages["pages"][0]["id"] == "graph"
        with urllib.request.urlopen(url, timeout=5) as r:
            assert b"graph.js" in r.read()
    finally:
        code, err = stop(proc)
    assert code in (0, 130), err
    assert "Traceback" not in err
    assert err.strip() in ("", "stopped")


def test_both_labs_answer_at_once_while_the_first_network_trains(tmp_path):
    """Without --model the network lab trains a first network behind the server, which
    answers meanwhile; Ctrl-C stops that run and leaves no half-trained folder."""
    from chainrule.data.locate import cache_dir

    proc, url = start("--no-browser", "--port", "0")
    try:
        ids = [p["id"] for p in get_json(url + "api/pages")["pages"]]
        assert ids[:2] == ["graph", "net"]  # then the chapters' pages
        assert {"ch6-optimizers", "ch6-init", "ch6-batchnorm", "ch6-overfit"} <= set(ids)
        assert {"im2col", "conv"} <= set(ids)
        model = get_json(url + "api/model")
        assert model["status"] in ("training", "ready"), model  # ready: kept from before
        with urllib.request.urlopen(url + "net", timeout=5) as r:
            assert b"net.js" in r.read()
        assert get_json(url + "api/graphs")["default"] == "apple"
    finally:
        code, err = stop(proc)
    assert code in (0, 130) and "Traceback" not in err, err
    assert err.strip() in ("", "stopped")
    assert list((cache_dir() / "lab").glob("*-training-*")) == []


def test_a_model_that_is_not_one_is_one_line(tmp_path, capsys):
    junk = tmp_path / "model.npz"
    junk.write_bytes(b"not a zip")
    (tmp_path / "run").mkdir()
    for target in (tmp_path / "nothing", junk, tmp_path / "run"):
        assert main(["serve", "--no-browser", "--port", "0", "--model", str(target)]) == 2
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(
            f"chainrule serve: error: --model: {target}"), lines
        assert "pickle" not in lines[0]
        assert out == ""  # no address: the server never started


def test_without_a_port_it_takes_the_first_free_one_from_8000():
    proc, url = start("--no-browser")
    try:
        assert int(url.rsplit(":", 1)[1].strip("/")) >= 8000
        assert get_json(url + "api/graphs")["default"] == "apple"
    finally:
        stop(proc)


def test_a_port_in_use_moves_to_the_next_and_a_taken_port_is_one_line():
    from chainrule.web.server import PortError, free_socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        got = free_socket("127.0.0.1", None, first=port)
        try:
            assert got.getsockname()[1] > port
        finally:
            got.close()
        with pytest.raises(PortError, match=f"cannot listen on 127.0.0.1:{port}"):
            free_socket("127.0.0.1", port)
        done = subprocess.run([sys.executable, "-m", "chainrule", "serve", "--no-browser",
                               "--port", str(port)], capture_output=True, text=True,
                              timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "--port" in lines[0]
    assert done.stdout == ""


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_bad_port_is_one_line(capsys, port):
    assert main(["serve", "--no-browser", "--port", port]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "between 0 and 65535" in err[0]


def test_another_host_warns(monkeypatch, capsys):
    import chainrule.web.server as server

    seen = {}

    def fake_serve(**options):
        seen.update(options)

    monkeypatch.setattr(server, "serve", fake_serve)
    assert main(["serve", "--host", "0.0.0.0", "--no-browser", "--model", "runs/x"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "0.0.0.0" in err
    assert seen["host"] == "0.0.0.0" and str(seen["model"]) == "runs/x"
    assert seen["open_browser"] is False
    assert main(["serve", "--host", "localhost", "--no-browser"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_without_the_extra_it_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "starlette", None)  # import starlette now fails
    assert main(["serve", "--no-browser"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'chainrule[serve]'" in err[0]


def test_import_chainrule_does_not_import_the_web_libraries():
    code = ("import sys, chainrule, chainrule.web, chainrule.graph.record\n"
            "from chainrule.cli import build_parser\n"
            "build_parser()\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in "
            "('starlette', 'uvicorn', 'PIL', 'anyio')]\n"
            "print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_browser_opens_only_with_a_display(monkeypatch):
    from chainrule.web import server

    monkeypatch.setattr(server.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert not server.can_open_browser()
    monkeypatch.setenv("DISPLAY", ":0")
    assert server.can_open_browser()
    opened = []
    monkeypatch.setattr(server.webbrowser, "open", opened.append)
    running = server.serve(port=0, background=True, announce=None)
    try:
        for _ in range(100):
            if opened:
                break
            time.sleep(0.05)
        assert opened == [running.url]
    finally:
        running.stop()
    assert not running.thread.is_alive()
