"""The book's figures: accuracy per epoch, loss per iteration, a confusion matrix.

matplotlib is imported inside the functions, and figures are made with
``matplotlib.figure.Figure`` directly (rendered by Agg), never through ``pyplot``:
no window, no global state, safe in a server thread. Each function returns the
figure (a notebook shows it) and, given ``path``, writes a PNG atomically and returns
the path instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from chainrule.store.files import atomic_open


def _figure(width: float = 6.4, height: float = 4.8):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="tight")


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Write ``fig`` as a PNG to ``path`` atomically."""
    path = Path(path)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png")
    return path


def _done(fig, path):
    return fig if path is None else save_figure(fig, path)


def plot_accuracy(history, path: str | os.PathLike | None = None, *, title: str | None = None):
    """Figure 4-12 of the book: train accuracy solid, test dashed, epochs on x, 0..1 on y."""
    fig = _figure()
    ax = fig.add_subplot()
    epochs = np.asarray(history.epoch, dtype=float)
    ax.plot(epochs, history.train_acc, marker="o", label="train acc")
    if np.isfinite(np.asarray(history.test_acc, dtype=float)).any():
        ax.plot(epochs, history.test_acc, marker="s", linestyle="--", label="test acc")
    ax.set_xlabel("epochs")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.0)
    if title:
        ax.set_title(title)
    ax.legend(loc="lower right")
    return _done(fig, path)


def plot_loss(history, path: str | os.PathLike | None = None, *, title: str | None = None,
              smooth: int = 100):
    """Figure 4-11: the loss of every mini-batch against the iteration, and its moving
    average over ``smooth`` steps."""
    fig = _figure()
    ax = fig.add_subplot()
    steps = np.asarray(history.step_loss, dtype=float)
    ax.plot(np.arange(len(steps)), steps, linewidth=0.5, alpha=0.5, label="mini-batch loss")
    if smooth > 1 and len(steps) >= smooth:
        mean = np.convolve(steps, np.ones(smooth) / smooth, mode="valid")
        ax.plot(np.arange(smooth - 1, len(steps)), mean, label=f"mean of {smooth} steps")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_ylim(bottom=0)
    if title:
        ax.set_title(title)
    ax.legend(loc="upper right")
    return _done(fig, path)


def plot_confusion(confusion, path: str | os.PathLike | None = None, *,
                   class_names=None, title: str | None = None):
    """The confusion matrix as an image: rows true class, columns predicted, counts
    written in the cells. ``confusion`` is a matrix or a ``train.Evaluation``."""
    if hasattr(confusion, "confusion"):
        class_names = class_names or confusion.class_names
        title = title or f"accuracy {confusion.accuracy:.4f}"
        confusion = confusion.confusion
    m = np.asarray(confusion)
    k = len(m)
    names = list(class_names) if class_names is not None else [str(c) for c in range(k)]
    fig = _figure(7.0, 6.0)
    ax = fig.add_subplot()
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="share of the true class")
    for r in range(k):
        for c in range(k):
            if m[r, c]:
                ax.text(c, r, str(int(m[r, c])), ha="center", va="center", fontsize=7,
                        color="white" if share[r, c] > 0.5 else "black")
    ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 2 else 0, ha="right"
                  if max(map(len, names)) > 2 else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    return _done(fig, path)
