"""The README's gradient-check snippet prints the table the README shows."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
ROW = re.compile(r"^(\w+)\s+([0-9.e+-]+)\s+([0-9.e+-]+)\s+(\d+)\s+(ok|FAIL)$", re.M)


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_the_gradient_check_snippet_prints_the_readme_table(real_data_root, monkeypatch):
    text = README.read_text(encoding="utf-8")
    code = next(b for b in _blocks(text, "python") if "gradient_check(net" in b)
    shown = re.search(r"```\n(param +mean \|diff\|.*?)```", text, flags=re.S).group(1)
    monkeypatch.setenv("CHAINRULE_DATA", str(real_data_root))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})  # the README's own code, as a reader runs it
    printed = out.getvalue()
    rows, expected = ROW.findall(printed), ROW.findall(shown)
    assert [r[0] for r in rows] == [r[0] for r in expected] == ["W1", "b1", "W2", "b2"]
    for got, want in zip(rows, expected, strict=True):
        assert got[3:] == want[3:]  # coordinates checked, verdict
        # the last printed digit may differ with the BLAS build; the figures may not
        assert float(got[1]) == pytest.approx(float(want[1]), rel=0.02, abs=0)
        assert float(got[2]) == pytest.approx(float(want[2]), rel=0.02, abs=0)
    assert printed.strip().splitlines()[-1] == shown.strip().splitlines()[-1]
