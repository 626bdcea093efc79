"""``chainrule evaluate``: accuracy, per-class accuracy and confusion matrix of a model."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from chainrule.cli import CLIError, printable
from chainrule.cli._model import model_input, open_model
from chainrule.data.catalog import DATASET_NAMES, class_names
from chainrule.data.load import load_data
from chainrule.nn.describe import describe_net
from chainrule.store.files import atomic_open
from chainrule.training.evaluation import evaluate
from chainrule.training.plots import plot_confusion

FIGURE_FORMATS = (".png", ".svg", ".pdf")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="test accuracy, per-class accuracy and confusion matrix of a trained model",
        description="Evaluate a run folder (its model.npz and the dataset in its config.json) "
        "or a model file (with --dataset, else the dataset recorded in it). Prints the "
        "accuracy, each class's accuracy and the confusion matrix, and draws the matrix "
        "(confusion.png beside the model unless --png or --no-plot).",
    )
    p.add_argument("target", metavar="RUN_DIR_OR_MODEL", help="a run folder or a model.npz")
    p.add_argument("--dataset", metavar="NAME", help="mnist, fashion-mnist or digits")
    p.add_argument("--data-dir", metavar="DIR", help="look for the dataset's files here first")
    p.add_argument("--split", choices=("test", "train"), default="test",
                   help="which set to evaluate on (default: test)")
    p.add_argument("--png", metavar="PATH", help="where to draw the confusion matrix: "
                   "FILE.png, .svg or .pdf")
    p.add_argument("--no-plot", action="store_true", help="no figure")
    p.set_defaults(func=run)


def _figure_path(args: argparse.Namespace) -> Path | None:
    """The figure's file, checked before the evaluation: a format matplotlib writes, in a
    folder that exists."""
    if args.no_plot or not args.png:
        return None
    png = Path(args.png)
    if png.suffix.lower() not in FIGURE_FORMATS:
        raise CLIError(f"cannot tell the figure format of {str(png)!r}: end it in "
                       + ", ".join(FIGURE_FORMATS))
    if not png.parent.is_dir():
        raise CLIError(f"the folder {str(png.parent)!r} does not exist")
    return png


def _run_config(saved, target: str) -> dict:
    """The run's config.json values evaluate uses, checked."""
    saved = saved or {}
    data_dir = saved.get("data_dir")
    if data_dir is not None and not isinstance(data_dir, str):
        raise CLIError(f"{target}: config.json's data_dir must be a folder name, got "
                       f"{data_dir!r}")
    return saved


def run(args: argparse.Namespace) -> int:
    png = _figure_path(args)
    model, saved = open_model(args.target)
    saved = _run_config(saved, args.target)
    path = model.path
    dataset = args.dataset or saved.get("dataset") or model.meta.get("dataset") or "mnist"
    if dataset not in DATASET_NAMES:
        raise CLIError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASET_NAMES)}")
    net = model.net
    dtype = next(iter(net.params.values())).dtype
    try:
        data = load_data(dataset, args.data_dir or saved.get("data_dir"), dtype)
    except (OSError, ValueError, TypeError, ImportError) as exc:
        raise CLIError(str(exc)) from None
    x, t = (data.x_test, data.t_test) if args.split == "test" else (data.x_train, data.t_train)
    shape = model_input(model)
    if math.prod(shape) != x.shape[1]:
        raise CLIError(f"{path} expects {math.prod(shape)} inputs, {dataset} images have "
                       f"{x.shape[1]}")
    try:
        result = evaluate(_Shaped(net, shape), x, t, class_names=class_names(dataset))
    except ValueError as exc:
        raise CLIError(f"{path}: {exc}") from None
    print(printable(f"{describe_net(model.config)} from {path}, on the {dataset} "
                    f"{args.split} set ({len(x)} images)") + "\n")
    print(result)
    if not args.no_plot:
        png = png or path.parent / ("confusion.png" if args.split == "test" else
                                    "confusion-train.png")
        _draw(result, png, f"{dataset} {args.split}: accuracy {result.accuracy:.4f}")
        print(f"\nconfusion matrix drawn in {printable(png)}")
    return 0


class _Shaped:
    """``net`` fed rows reshaped to its input shape (a convolutional net takes images)."""

    def __init__(self, net, shape: tuple[int, ...]):
        self.net, self.shape = net, shape
        self.chunk_size = net.chunk_size  # a convnet predicts a few hundred images at a time

    def predict(self, x):
        if len(self.shape) == 1:
            return self.net.predict(x)
        return self.net.predict(np.asarray(x).reshape(-1, *self.shape))


def _draw(result, path: Path, title: str) -> None:
    """The confusion matrix in the format ``path``'s suffix names, written atomically."""
    fig = plot_confusion(result, None, title=title)
    try:
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format=path.suffix.lower().lstrip(".") or "png")
    except OSError as exc:
        raise CLIError(f"cannot write {path}: {exc.strerror or exc}") from None
