"""files.py: JSON read with size and depth limits; atomic writes that leave nothing behind,
even on SIGTERM; printable text for terminals; the start-up Ctrl-C guard's detection."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from chainrule import _startup
from chainrule.cli import printable
from chainrule.store import files
from chainrule.store.files import json_depth, loads_json, read_json


def test_read_json_good_and_typed(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"a": [1, {"b": 2}]}))
    assert read_json(p, expect=dict) == {"a": [1, {"b": 2}]}
    assert json_depth(p.read_text()) == 3
    assert json_depth('{"s": "[[[[{{{{"}') == 1  # brackets inside strings do not count
    assert json_depth('"[\\"]]]"') == 0


@pytest.mark.parametrize("text, message", [
    ("[" * 100_000 + "]" * 100_000, "nested deeper than 32 levels"),
    ('{"a":' * 50_000 + "1" + "}" * 50_000, "nested deeper than 32 levels"),
    ("[1, 2", "not valid JSON"),
    ("[1, 2]", "expected a JSON object, got array"),
    ("3", "expected a JSON object, got number"),
])
def test_read_json_refuses_in_one_line(tmp_path, text, message):
    p = tmp_path / "config.json"
    p.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        read_json(p, expect=dict)
    assert str(p) in str(info.value) and "\n" not in str(info.value)


def test_read_json_size_and_encoding(tmp_path):
    p = tmp_path / "big.json"
    p.write_text("[" + "1," * 1000 + "1]")
    with pytest.raises(ValueError, match="larger than the 100 bytes"):
        read_json(p, max_bytes=100)
    p.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(ValueError, match="not UTF-8"):
        read_json(p)
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="where: JSON nested deeper than 2"):
        loads_json("[[[1]]]", max_depth=2, where="where")


def test_printable_escapes_what_a_terminal_would_obey():
    assert printable("Trouser") == "Trouser" and printable("数字 ７") == "数字 ７"
    assert printable("\x1b[2J\x1b[Hgone") == "\\x1b[2J\\x1b[Hgone"
    assert printable("a\nb\tc\r\u202eevil\x00") == "a\\nb\\tc\\r\\u202eevil\\x00"
    assert printable("x" * 50, 10) == "xxxxxxx..."


def _wait_for(predicate, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_atomic_open_leaves_nothing_on_a_signal(tmp_path, sig):
    """A process killed by SIGTERM (or SIGHUP, or Ctrl-C) while writing leaves neither the
    temporary file nor a half-written target; it still dies of the signal."""
    code = textwrap.dedent(f"""
        import signal, time
        from chainrule.store.files import atomic_open
        signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignored
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        with atomic_open({str(tmp_path / "out.bin")!r}) as f:
            f.write(b"x" * 1000)
            f.flush()
            time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)
    try:
        assert _wait_for(lambda: any(p.name.endswith(".tmp") for p in tmp_path.iterdir()))
        child.send_signal(sig)
        child.wait(timeout=20)
    finally:
        child.kill()
    assert sorted(os.listdir(tmp_path)) == []
    if sig != signal.SIGINT:
        assert child.returncode == -sig  # ended by the signal, as it asked
    else:
        assert b"KeyboardInterrupt" in child.stderr.read()


def test_terminating_raises_leaves_a_custom_handler_alone():
    calls = []
    previous = signal.signal(signal.SIGTERM, lambda s, f: calls.append(s))
    try:
        with files.terminating_raises():
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)
        assert calls == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)
    with files.terminating_raises():
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


@pytest.mark.parametrize("argv0, orig, expected", [
    ("/venv/bin/chainrule", ["/venv/bin/python", "/venv/bin/chainrule", "train"], True),
    ("-m", ["python", "-m", "chainrule", "train"], True),
    ("-m", ["python", "-X", "importtime", "-u", "-m", "chainrule"], True),
    ("-m", ["python", "-mchainrule"], True),
    ("-m", ["python", "-m", "chainrule.cli"], False),
    ("-m", ["python", "-m", "pytest"], False),
    ("-c", ["python", "-c", "import chainrule"], False),
    ("script.py", ["python", "script.py", "-m", "chainrule"], False),
    ("", ["python"], False),
])
def test_startup_guard_knows_the_command(argv0, orig, expected):
    assert _startup.is_command(argv0, orig) is expected
    assert not _startup.is_command()  # the tests are not the command: nothing installed
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
