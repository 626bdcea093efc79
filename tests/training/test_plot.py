"""The figures: the book's accuracy plot, the loss plot, the confusion matrix."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from chainrule.training import plots as plot
from chainrule.training.evaluation import Evaluation
from chainrule.training.history import History

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def history():
    h = History()
    for i in range(17):
        h.append({"iteration": 600 * i, "epoch": float(i), "loss": 2.3 / (i + 1),
                  "train_acc": 0.9 + i / 200, "test_acc": 0.9 + i / 250})
    h.step_loss = list(2.3 * np.exp(-np.arange(9700) / 500) + 0.05)
    return h


def test_accuracy_figure_looks_like_the_books(history):
    fig = plot.plot_accuracy(history)
    (ax,) = fig.axes
    train, test = ax.get_lines()
    assert train.get_label() == "train acc" and train.get_linestyle() == "-"
    assert test.get_label() == "test acc" and test.get_linestyle() == "--"
    assert list(train.get_xdata()) == list(range(17))
    assert ax.get_ylim() == (0.0, 1.0)
    assert ax.get_xlabel() == "epochs" and ax.get_ylabel() == "accuracy"
    assert ax.get_legend()._loc == 4  # "lower right"


def test_figures_are_written_as_png(tmp_path, history):
    paths = [plot.plot_accuracy(history, tmp_path / "a.png"),
             plot.plot_loss(history, tmp_path / "l.png"),
             plot.plot_confusion(np.eye(10, dtype=int) * 50 + 1, tmp_path / "c.png")]
    for p in paths:
        assert p.read_bytes()[:8] == PNG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "c.png", "l.png"]


def test_loss_figure_has_the_steps_and_their_mean(history):
    ax = plot.plot_loss(history).axes[0]
    steps, mean = ax.get_lines()
    assert len(steps.get_xdata()) == 9700 and len(mean.get_xdata()) == 9700 - 99
    assert ax.get_xlabel() == "iteration" and ax.get_ylim()[0] == 0


def test_confusion_from_an_evaluation_with_names():
    m = np.array([[5, 1], [0, 4]])
    fig = plot.plot_confusion(Evaluation(0.9, m, ("T-shirt/top", "Trouser")))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["T-shirt/top", "Trouser"]
    assert "0.9000" in ax.get_title()


def test_plotting_an_empty_history_works(tmp_path):
    plot.plot_accuracy(History(), tmp_path / "a.png")
    plot.plot_loss(History(), tmp_path / "l.png")


def test_no_matplotlib_until_a_figure_is_drawn():
    code = ("import sys, chainrule, chainrule.training.plots, chainrule.training.runs, "
            "chainrule.training.loop, chainrule.training.checkpoint, chainrule.cli; "
            "from chainrule.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('matplotlib', 'tqdm', 'PIL') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_no_pyplot_and_no_backend_switch(history, tmp_path):
    import matplotlib

    backend = matplotlib.get_backend()
    plot.plot_accuracy(history, tmp_path / "a.png")
    assert "matplotlib.pyplot" not in sys.modules or matplotlib.get_backend() == backend
