"""``chainrule graph`` and ``chainrule demo``."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from chainrule.book import examples as book
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


# -- chainrule graph --expr ------------------------------------------------------------------
def test_graph_of_an_expression(tmp_path, capsys):
    out = tmp_path / "g.svg"
    assert main(["graph", "--expr", "(x + y) ** 2", "--at", "x=1", "y=2", "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "f = 9 at x = 1, y = 2; df/dx = 6, df/dy = 6", f"wrote {out}"]
    root = ET.parse(out).getroot()
    values = [t.text for t in root.iter() if t.get("class") == "value"]
    grads = [t.text for t in root.iter() if t.get("class") == "grad"]
    labels = [t.text for t in root.iter() if t.get("class") == "label"]
    assert labels == ["+", "**2"] and "9" in values and grads.count("6") == 3


def test_graph_of_an_expression_default_name_and_forward_only(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["graph", "-e", "log(x)", "--at", "x=0", "--forward-only"]) == 0
    assert "f = -inf at x = 0; df/dx = inf" in capsys.readouterr().out
    root = ET.parse(tmp_path / "expression.svg").getroot()
    assert not [t for t in root.iter() if t.get("class") == "grad"]


def test_graph_of_a_book_example_with_other_inputs(tmp_path, capsys):
    out = tmp_path / "a.svg"
    assert main(["graph", "apple-orange", "--at", "apple=150", "--out", str(out)]) == 0
    assert "825" in [t.text for t in ET.parse(out).getroot().iter() if t.get("class") == "value"]


@pytest.mark.parametrize("argv, message", [
    (["--expr", "__import__('os')", "--at", "x=1"], "--expr: calling __import__ is not allowed"),
    (["--expr", "x.y * 2"], "attribute access (.) is not allowed (at column 2: '.y')"),
    (["--expr", "x ** 1e9", "--at", "x=1"], "exponent is too large"),
    (["--expr", "x * y", "--at", "x=1"], "--at: the expression uses 'y'"),
    (["--expr", "x * 2", "--at", "x=1", "y=2"], "--at: input 'y' is not used"),
    (["--expr", "x * 2", "--at", "x"], "expected NAME=VALUE"),
    (["--expr", "x * 2", "--at", "x=abc"], "'abc' is not a number"),
    (["--expr", "x * 2", "--at", "x=nan"], "must be finite"),
    (["--expr", "x * 2", "--at", "x=1", "x=2"], "given twice"),
    (["--expr", "x * 2", "--at", "=2"], "expected NAME=VALUE"),
    (["--expr", "x +" * 400, "--at", "x=1"], "too long"),
    (["--expr", "\x1b[2J", "--at", "x=1"], "'\\x1b' is not allowed"),
    (["apple", "--expr", "x * 2"], "not both"),
    ([], "give NAME"),
    (["apple", "--at", "banana=1"], "apple has no input 'banana'"),
    (["two-layer-net", "--at", "x=1"], "its inputs: none"),
    (["--expr", "x * 2", "--at", "x=1", "--out", "g.jpg"], "cannot tell the format"),
])
def test_graph_expression_errors_are_one_line(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["graph", *argv]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and len(captured.err.strip().splitlines()) == 1
    assert "\x1b" not in captured.err
    assert not list(tmp_path.iterdir())


def test_the_readme_expression_example(tmp_path, capsys):
    out = tmp_path / "s.svg"
    argv = ["graph", "--expr", "sigmoid(w * x + b)", "--at", "w=0.5", "x=2", "b=-1"]
    assert main([*argv, "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "f = 0.5 at w = 0.5, x = 2, b = -1; df/dw = 0.5, df/dx = 0.125, df/db = 0.25")
