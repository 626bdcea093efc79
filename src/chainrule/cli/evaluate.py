"""``chainrule evaluate``: accuracy, per-class accuracy and confusion matrix of a model."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from chainrule.cli import CLIError
from chainrule.cli._model import open_model


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="test accuracy, per-class accuracy and confusion matrix of a trained model",
        description="Evaluate a run folder (its model.npz and the dataset in its config.json) "
        "or a model file (with --dataset, else the dataset recorded in it). Prints the "
        "accuracy, each class's accuracy and the confusion matrix, and draws the matrix "
        "as a PNG (confusion.png beside the model unless --png or --no-plot).",
    )
    p.add_argument("target", metavar="RUN_DIR_OR_MODEL", help="a run folder or a model.npz")
    p.add_argument("--dataset", metavar="NAME", help="mnist, fashion-mnist or digits")
    p.add_argument("--data-dir", metavar="DIR", help="look for the dataset's files here first")
    p.add_argument("--split", choices=("test", "train"), default="test",
                   help="which set to evaluate on (default: test)")
    p.add_argument("--png", metavar="PATH", help="where to draw the confusion matrix")
    p.add_argument("--no-plot", action="store_true", help="no PNG")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chainrule.datasets import DATASET_NAMES, class_names
    from chainrule.nets import input_shape
    from chainrule.train import describe_net, evaluate, load_data

    model, saved = open_model(args.target)
    path = model.path
    dataset = args.dataset or (saved or {}).get("dataset") or model.meta.get("dataset") or "mnist"
    if dataset not in DATASET_NAMES:
        raise CLIError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASET_NAMES)}")
    net = model.net
    dtype = next(iter(net.params.values())).dtype
    try:
        data = load_data(dataset, args.data_dir or (saved or {}).get("data_dir"), dtype)
    except (OSError, ValueError, ImportError) as exc:
        raise CLIError(str(exc)) from None
    x, t = (data.x_test, data.t_test) if args.split == "test" else (data.x_train, data.t_train)
    inputs = math.prod(input_shape(net))
    if x.shape[1] != inputs:
        raise CLIError(f"{path} expects {inputs} inputs, {dataset} images have {x.shape[1]}")
    try:
        result = evaluate(net, x, t, class_names=class_names(dataset))
    except ValueError as exc:
        raise CLIError(f"{path}: {exc}") from None
    print(f"{describe_net(model.config)} from {path}, on the {dataset} {args.split} set "
          f"({len(x)} images)\n")
    print(result)
    if not args.no_plot:
        from chainrule.plot import plot_confusion

        png = Path(args.png) if args.png else path.parent / (
            "confusion.png" if args.split == "test" else "confusion-train.png")
        try:
            plot_confusion(result, png, title=f"{dataset} {args.split}: accuracy "
                           f"{result.accuracy:.4f}")
        except OSError as exc:
            raise CLIError(f"cannot write {png}: {exc}") from None
        print(f"\nconfusion matrix drawn in {png}")
    return 0
