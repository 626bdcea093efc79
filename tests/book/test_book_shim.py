"""The book's scripts, unchanged, import chainrule through the shim (``chainrule book``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from chainrule.book_shim import path
from chainrule.cli import main

SCRIPT = """\
import sys, os
sys.path.append(os.pardir)  # as every book script does
from common.optimizer import *
from common.layers import *
from common.multi_layer_net_extend import MultiLayerNetExtend
from common.trainer import Trainer
from common.util import smooth_curve, shuffle_dataset
from common.gradient import numerical_gradient
from dataset.mnist import load_mnist
import common.layers
from next_to_me import NAME  # like ch07's simple_convnet, beside the script

params = {"x": -7.0}
SGD(lr=0.95).update(params, {"x": -0.7})
print(common.layers.__file__)
print(params["x"], np.__name__, NAME, sys.argv[1:], os.path.basename(os.getcwd()))
"""


def book_repository(tmp_path: Path) -> Path:
    """A folder laid out like the book's repository, whose own ``common`` and ``dataset``
    fail on import: the shim must be found first."""
    for package in ("common", "dataset"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(
            f"raise ImportError('the book\\'s own {package} was imported')\n")
    chapter = tmp_path / "ch06"
    chapter.mkdir()
    (chapter / "script.py").write_text(SCRIPT)
    (chapter / "next_to_me.py").write_text("NAME = 'beside'\n")
    (chapter / "fails.py").write_text("raise SystemExit(3)\n")
    return chapter


def check_output(out: str) -> None:
    first, second = out.splitlines()[-2:]
    assert Path(first).is_relative_to(path())
    assert second == "-6.335 numpy beside ['a', '--b'] ch06"


def test_python_m_book_shim_prints_the_folder():
    out = subprocess.run([sys.executable, "-m", "chainrule.book_shim"], capture_output=True,
                         text=True, check=True).stdout
    folder = Path(out.strip())
    assert folder == path()
    assert (folder / "common" / "layers.py").is_file() and (folder / "dataset" / "mnist.py").is_file()


def test_pythonpath_first_runs_the_books_script_on_chainrule(tmp_path):
    chapter = book_repository(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(path())}
    result = subprocess.run([sys.executable, "script.py", "a", "--b"], cwd=chapter, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    check_output(result.stdout)


def test_chainrule_book_run_from_anywhere(tmp_path, capfd, monkeypatch):
    chapter = book_repository(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["book", "run", str(chapter / "script.py"), "a", "--", "--b"]) == 0
    check_output(capfd.readouterr().out)
    assert main(["book", "run", str(chapter / "fails.py")]) == 3
    assert main(["book", "run", "nothere.py"]) == 2
    assert capfd.readouterr().err == "chainrule book: error: nothere.py: no such script\n"
    assert main(["book", "run", str(chapter)]) == 2  # a folder
    (chapter / "notes.txt").write_text("print('hello')\n")
    assert main(["book", "run", str(chapter / "notes.txt")]) == 2
    assert capfd.readouterr().err.endswith("notes.txt: not a Python script (.py)\n")
    assert main(["book", "path"]) == 0
    assert capfd.readouterr().out == f"{path()}\n"
