"""The book's chapter-6 figures, drawn from :class:`~chainrule.book.experiments.ExperimentResult`.

As in :mod:`chainrule.training.plots`, matplotlib is imported inside the functions and figures are
``matplotlib.figure.Figure`` objects rendered by Agg, never ``pyplot``. Each function
returns the figure, or with ``path`` writes a PNG atomically and returns the path.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from chainrule.book.experiments import ExperimentResult
from chainrule.store.files import write_text
from chainrule.training.plots import save_figure

MARKERS = ("o", "x", "s", "D", "^", "v", "*", "+")


def smooth_curve(y) -> np.ndarray:
    """The book's smoothing of loss curves (``common/util.py``): a Kaiser window of 11
    points (beta 2), the ends mirrored, so the result has ``len(y)`` points."""
    y = np.asarray(y, dtype=np.float64)
    window = 11
    if len(y) < window:
        return y
    s = np.r_[y[window - 1:0:-1], y, y[-1:-window:-1]]
    w = np.kaiser(window, 2)
    smoothed = np.convolve(w / w.sum(), s, mode="valid")
    return smoothed[5:len(smoothed) - 5]


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _done(fig, path):
    if path is None:
        return fig
    return save_figure(fig, path)


def plot_loss_curves(result: ExperimentResult, path: str | os.PathLike | None = None, *,
                     ylim: float | None = None):
    """Figures 6-9 and 6-15: each variant's smoothed training loss per iteration."""
    fig = _figure(6.4, 4.8)
    ax = fig.add_subplot()
    if ylim is None:
        ylim = 1.0 if result.name == "optimizers" else 2.5
    for marker, c in zip(MARKERS * 4, result.curves, strict=False):
        ax.plot(c.x, smooth_curve(c.y), marker=marker, markevery=max(len(c.x) // 20, 1),
                label=c.label)
    ax.set_xlabel(result.x_label)
    ax.set_ylabel(result.y_label)
    ax.set_ylim(0, ylim)
    ax.set_title(result.title)
    ax.legend()
    return _done(fig, path)


def plot_batchnorm(result: ExperimentResult, path: str | os.PathLike | None = None):
    """Figure 6-19: one panel per initial weight scale, training accuracy per epoch with
    batch norm (solid) and without (dashed); a note names the nets that diverged to NaN
    (their curve reads 0.0)."""
    groups = result.groups()
    cols = math.ceil(math.sqrt(len(groups)))
    rows = math.ceil(len(groups) / cols)
    fig = _figure(2.6 * cols + 0.4, 2.2 * rows + 0.4)
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False).ravel()
    diverged = result.settings.get("diverged") or []
    for ax, group in zip(axes, groups, strict=False):
        for c, style in zip([c for c in result.curves if c.group == group], ("-", "--"),
                            strict=False):
            line, = ax.plot(c.x, c.y, linestyle=style, marker="o" if style == "-" else None,
                            markevery=2, markersize=3, label=c.label)
            if [group, c.label] in diverged:  # why it lies at 0 (the book's shows about 0.1)
                ax.text(0.97, 0.04, "weights NaN: 0.0\n(the book's argmax: ~0.1)",
                        transform=ax.transAxes, ha="right", va="bottom", fontsize=7,
                        color=line.get_color())
        ax.set_title(group, fontsize=9)
        ax.set_ylim(0, 1.0)
    for ax in axes[len(groups):]:
        ax.set_visible(False)
    for ax in axes[(rows - 1) * cols:]:
        ax.set_xlabel(result.x_label)
    for ax in axes[::cols]:
        ax.set_ylabel(result.y_label)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2)
    fig.suptitle(result.title)
    return _done(fig, path)


def plot_overfit(result: ExperimentResult, path: str | os.PathLike | None = None):
    """Figures 6-20, 6-21 and 6-23 side by side: train (circles) and test (squares)
    accuracy per epoch, one panel per regularization."""
    groups = result.groups()
    fig = _figure(4.2 * len(groups), 4.2)
    axes = fig.subplots(1, len(groups), sharey=True, squeeze=False).ravel()
    for ax, group in zip(axes, groups, strict=True):
        for c, marker in zip([c for c in result.curves if c.group == group], ("o", "s"),
                             strict=False):
            ax.plot(c.x, c.y, marker=marker, markevery=10, markersize=4, label=c.label)
        ax.set_title(group)
        ax.set_xlabel(result.x_label)
        ax.set_ylim(0, 1.0)
        ax.legend(loc="lower right")
    axes[0].set_ylabel(result.y_label)
    fig.suptitle(result.title)
    return _done(fig, path)


def plot_experiment(result: ExperimentResult, path: str | os.PathLike | None = None):
    """The book's figure for ``result`` (any of :data:`chainrule.book.experiments.EXPERIMENTS`,
    or a :class:`~chainrule.book.experiments.FilterResult`)."""
    if result.name in ("optimizers", "init"):
        return plot_loss_curves(result, path)
    if result.name == "batchnorm":
        return plot_batchnorm(result, path)
    if result.name == "overfit":
        return plot_overfit(result, path)
    if result.name == "filters":
        return plot_filters(result, path)
    if result.name == "hyperparameters":
        return plot_hyperparameters(result, path)
    raise ValueError(f"plot_experiment: no figure for experiment {result.name!r}")


def save_csv(result: ExperimentResult, path: str | os.PathLike) -> Path:
    """Write ``result.to_csv()`` to ``path`` atomically."""
    path = Path(path)
    write_text(path, result.to_csv())
    return path


def plot_filters(result, path: str | os.PathLike | None = None, *, columns: int = 10):
    """Figure 7-24: each first-layer filter as a small grey picture (dark: large weight,
    the book's ``gray_r``; each filter scaled to its own range), before training on top
    and after it below."""
    n = len(result.before)
    rows = math.ceil(n / columns)
    fig = _figure(0.75 * columns + 0.2, 2 * (0.75 * rows + 0.45))
    for sub, (title, filters) in zip(fig.subfigures(2, 1), (
            ("before training", result.before),
            (f"after {result.settings.get('iters', '?')} steps of training", result.after)),
            strict=True):
        sub.suptitle(title)
        axes = sub.subplots(rows, columns, squeeze=False).ravel()
        for i, ax in enumerate(axes):
            ax.set_axis_off()
            if i < n:
                ax.imshow(filters[i, 0], cmap="gray_r", interpolation="nearest")
    return _done(fig, path)


def plot_hyperparameters(result: ExperimentResult, path: str | os.PathLike | None = None, *,
                         best: int = 20, columns: int = 5):
    """Figure 6-24 with the search it comes from: on the left every trial as a point
    (learning rate across, weight decay up, both on log scales; colour: validation
    accuracy; the ``best`` ringed), on the right the book's panels of the ``best`` trials,
    validation accuracy per epoch (solid) and training accuracy (dashed)."""
    rows_of = result.settings.get("ranked") or []
    shown = rows_of[:best]
    rows = max(math.ceil(len(shown) / columns), 1)
    fig = _figure(5.2 + 1.9 * columns, max(4.6, 1.5 * rows + 0.8))
    left, right = fig.subfigures(1, 2, width_ratios=[5.2, 1.9 * columns])
    ax = left.add_subplot()
    points = ax.scatter([r["lr"] for r in rows_of], [r["weight_decay"] for r in rows_of],
                        c=[r["val_acc"] for r in rows_of], cmap="viridis", vmin=0, vmax=1,
                        s=22, edgecolors="none")
    ax.scatter([r["lr"] for r in shown], [r["weight_decay"] for r in shown], s=70,
               facecolors="none", edgecolors="black", linewidths=0.8, label=f"best {len(shown)}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for lim, key in ((ax.set_xlim, "log_lr"), (ax.set_ylim, "log_weight_decay")):
        if key in result.settings:  # the searched ranges
            lo, hi = result.settings[key]
            lim(10.0 ** lo, 10.0 ** hi)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("weight decay")
    ax.legend(loc="lower left", fontsize=8)
    left.colorbar(points, ax=ax, label="validation accuracy", location="bottom", shrink=0.8)
    left.suptitle(result.title, fontsize=10)
    axes = right.subplots(rows, columns, sharex=True, sharey=True, squeeze=False).ravel()
    for i, (ax, row) in enumerate(zip(axes, shown, strict=False)):
        for label, style in (("val", "-"), ("train", "--")):
            c = result.curve(label, row["key"])
            ax.plot(c.x, c.y, linestyle=style, linewidth=1.2)
        ax.set_title(f"Best-{i + 1} ({row['val_acc']:.2f})", fontsize=8)
        ax.set_ylim(0, 1.0)
        ax.tick_params(labelsize=7)
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    right.suptitle("validation (solid) and training (dashed) accuracy per epoch", fontsize=9)
    return _done(fig, path)
