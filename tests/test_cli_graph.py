"""``chainrule graph`` and ``chainrule demo``."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from chainrule import book
from chainrule.cli import demo, graph, main


def test_names_match_the_book_examples():
    assert graph.NAMES == tuple(book.EXAMPLES)
    assert set(demo.NAMES) <= set(book.EXAMPLES)


@pytest.mark.parametrize("name", graph.NAMES)
def test_graph_writes_an_svg(name, tmp_path, capsys):
    out = tmp_path / f"{name}.svg"
    assert main(["graph", name, "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")
    grads = [t for t in root.iter() if t.get("class") == "grad"]
    assert grads


@pytest.mark.parametrize("suffix, start", [(".png", b"\x89PNG"), (".dot", b"digraph"),
                                           (".gv", b"digraph"), (".mmd", b"flowchart")])
def test_graph_format_follows_the_suffix(suffix, start, tmp_path, capsys):
    out = tmp_path / f"g{suffix}"
    assert main(["graph", "apple", "--out", str(out)]) == 0
    assert start in out.read_bytes()[:100]  # Mermaid may open with a title block


def test_graph_default_output_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["graph", "sigmoid"]) == 0
    assert (tmp_path / "sigmoid.svg").is_file()
    assert capsys.readouterr().out.strip() == "wrote sigmoid.svg"


def test_graph_forward_only_draws_no_gradients(tmp_path, capsys):
    out = tmp_path / "g.svg"
    assert main(["graph", "apple-orange", "--forward-only", "-o", str(out)]) == 0
    root = ET.parse(out).getroot()
    assert not [t for t in root.iter() if t.get("class") == "grad"]
    assert "715" in [t.text for t in root.iter() if t.get("class") == "value"]


@pytest.mark.parametrize("argv, message", [
    (["--out", "g.jpg"], "cannot tell the format"),
    (["--out", "no/such/folder/g.svg"], "does not exist"),
    (["--precision", "0"], "--precision"),
])
def test_graph_user_errors(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["graph", "apple", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_graph_unknown_name(capsys):
    with pytest.raises(SystemExit):
        main(["graph", "banana"])
    assert "apple-orange" in capsys.readouterr().err


def test_demo_apple(capsys):
    assert main(["demo", "apple"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "price: 220", "dApple: 2.2", "dApple_num: 110", "dTax: 200"]


def test_demo_apple_orange(capsys):
    assert main(["demo", "apple-orange"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "price: 715", "dApple: 2.2", "dApple_num: 110", "dOrange: 3.3", "dOrange_num: 165",
        "dTax: 650"]


@pytest.mark.parametrize("x", ["1", "-3.5", "0"])
def test_demo_sigmoid_agrees_with_the_fused_layer(x, capsys):
    assert main(["demo", "sigmoid", "--x", x]) == 0
    out = capsys.readouterr().out
    assert "dout * y * (1 - y)" in out
    assert "agree: yes" in out
    assert [line.split()[0] for line in out.splitlines() if "  = " in line] == [
        "/", "+", "exp", "×"]


def test_python_dash_m_runs_the_command(tmp_path):
    out = tmp_path / "g.svg"
    done = subprocess.run([sys.executable, "-m", "chainrule", "graph", "apple-orange",
                           "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "715" in out.read_text(encoding="utf-8")
