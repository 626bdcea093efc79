"""The book's chapter-5 scripts in examples/ run from any directory and print its numbers."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name, *args, env=None, cwd):
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def numbers(text):
    return [float(v) for v in re.findall(r":\s*(-?[0-9.]+)\s*$", text, flags=re.M)]


def test_buy_apple(tmp_path):
    out = run_example("buy_apple.py", cwd=tmp_path)
    assert out.splitlines() == ["price: 220", "dApple: 2.2", "dApple_num: 110", "dTax: 200"]


def test_buy_apple_orange(tmp_path):
    out = run_example("buy_apple_orange.py", cwd=tmp_path)
    assert numbers(out) == [715, 110, 2.2, 3.3, 165, 650]


def test_sigmoid_graph(tmp_path):
    assert "agree: True" in run_example("sigmoid_graph.py", cwd=tmp_path)


@pytest.fixture
def data_env(real_data_root):
    import os

    return {**os.environ, "CHAINRULE_DATA": str(real_data_root)}


def test_gradient_check_example_on_real_mnist(tmp_path, data_env):
    """The book's gradient_check.py on the first 3 images: every mean |diff| <= 1e-6."""
    out = run_example("gradient_check.py", cwd=tmp_path, env=data_env)
    diffs = dict(re.findall(r"^(W1|b1|W2|b2):(\S+)$", out, flags=re.M))
    assert set(diffs) == {"W1", "b1", "W2", "b2"}
    assert all(float(v) <= 1e-6 for v in diffs.values()), diffs
    assert "gradient check passed" in out


def test_train_neuralnet_example_short_run(tmp_path, data_env):
    """Two evaluations (1200 iterations): accuracy climbs past 0.85 after one epoch."""
    out = run_example("train_neuralnet.py", "1200", cwd=tmp_path, env=data_env)
    rows = [tuple(map(float, line.split())) for line in out.splitlines()]
    assert len(rows) == 2
    assert rows[0][1] < 0.3  # untrained: chance level
    assert rows[1][0] > 0.85 and rows[1][1] > 0.85
