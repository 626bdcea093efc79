"""``chainrule experiment NAME``: run one of the book's experiments (chapter 6's, and
chapter 7's filters), save its figure and its data."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from chainrule.book import experiments as ex
from chainrule.book.figures import plot_experiment, save_csv
from chainrule.book.hyperparameters import random_search
from chainrule.cli import CLIError, printable, printable_lines
from chainrule.data.load import load_mnist
from chainrule.store.npz import write_npz

NAMES = ("optimizers", "init", "batchnorm", "overfit", "hyperparameters", "filters")
ABOUT = {
    "optimizers": "SGD, Momentum, AdaGrad and Adam on a 5-layer ReLU net: loss per iteration "
                  "(figure 6-9; 2000 iterations, batch 128)",
    "init": "weights of std 0.01 vs Xavier vs He on a 5-layer ReLU net: loss per iteration "
            "(figure 6-15; 2000 iterations, batch 128, SGD lr 0.01)",
    "batchnorm": "a 6-layer net with and without batch norm for 16 initial weight scales, on "
                 "1000 training images: train accuracy per epoch (figure 6-19; 20 epochs)",
    "overfit": "a 7-layer net on 300 training images, plain, with weight decay 0.1 and with "
               "dropout 0.2: train and test accuracy per epoch (figures 6-20, 6-21, 6-23; "
               "201 epochs, test accuracy on all test images)",
    "hyperparameters": "the book's random search of the learning rate (10^-6 to 10^-2) and "
                       "the weight decay (10^-8 to 10^-4): a 7-layer net trained on 400 of "
                       "the first 500 training images, scored on the other 100 (figure "
                       "6-24; 100 trials of 50 epochs, --trials and --epochs for others)",
    "filters": "the 30 first-layer filters of the book's SimpleConvNet before and after "
               "training with Adam (figure 7-24, visualize_filter.py; 1 epoch, --epochs for "
               "more; saves filters.npz instead of a CSV)",
}
ITERATION_BASED = ("optimizers", "init")
MAX_ITERS, MAX_EPOCHS = 1_000_000, 100_000  # the book: 2000 iterations, 20 or 201 epochs
MAX_TRIALS = 100_000  # the book: 100


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "experiment",
        help="run a chapter-6 experiment (optimizers, init, batchnorm, overfit, "
        "hyperparameters) or chapter 7's filters; save PNG + data",
        description="Run one of the book's chapter-6 experiments on MNIST and save its figure "
        "(NAME.png) and its curves (NAME.csv, one row per point) in --out. "
        + " ".join(f"{name}: {text}." for name, text in ABOUT.items()),
    )
    p.add_argument("name", choices=NAMES, metavar="NAME", help="one of: " + ", ".join(NAMES))
    p.add_argument("--out", "-o", type=Path, default=Path("."),
                   help="folder for NAME.png and NAME.csv (default: the current folder)")
    p.add_argument("--iters", type=int, metavar="N",
                   help="training iterations for optimizers and init (default 2000)")
    p.add_argument("--epochs", type=int, metavar="N",
                   help="epochs for batchnorm (default 20), overfit (default 201), "
                   "hyperparameters (per trial, default 50) and filters (default 1)")
    p.add_argument("--trials", type=int, metavar="N",
                   help="hyperparameters: how many trials (default 100)")
    p.add_argument("--test-size", type=int, metavar="N", default=0,
                   help="overfit: score only the first N test images each epoch (faster; "
                   "default 0: all of them)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--dataset", default="mnist", choices=("mnist", "fashion-mnist"),
                   help="the data (default mnist, as in the book)")
    p.add_argument("--data-dir", metavar="DIR", help="look for the dataset's files here first")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    if args.iters is not None and args.name not in ITERATION_BASED:
        raise CLIError(f"--iters applies to optimizers and init; {args.name} counts --epochs")
    if args.epochs is not None and args.name in ITERATION_BASED:
        raise CLIError(f"--epochs applies to batchnorm, overfit, hyperparameters and filters; "
                       f"{args.name} counts --iters")
    if args.trials is not None and args.name != "hyperparameters":
        raise CLIError(f"--trials applies to hyperparameters only, not {args.name}")
    for flag, value, most in (("--iters", args.iters, MAX_ITERS),
                              ("--epochs", args.epochs, MAX_EPOCHS),
                              ("--trials", args.trials, MAX_TRIALS)):
        if value is not None and not 1 <= value <= most:
            raise CLIError(f"{flag} must be between 1 and {most}, got {value}")
    if args.test_size < 0:
        raise CLIError(f"--test-size must be 0 (all) or more, got {args.test_size}")
    if args.seed < 0:
        raise CLIError(f"--seed must be 0 or more, got {args.seed}")
    try:
        args.out.mkdir(parents=True, exist_ok=True)  # like `chainrule train --out`
    except OSError as exc:
        raise CLIError(f"cannot use {str(args.out)!r} as the output folder: {exc}") from None


def _progress(quiet: bool):
    if quiet or not sys.stderr.isatty():
        return None
    start = time.perf_counter()

    def show(done: int, total: int) -> None:
        elapsed = time.perf_counter() - start
        print(f"\r  {100 * done / max(total, 1):5.1f}%  {elapsed:6.0f} s", end="",
              file=sys.stderr, flush=True)

    return show


def run(args: argparse.Namespace) -> int:
    _check(args)
    try:
        (x, t), (xt, tt) = load_mnist(dataset=args.dataset, data_dir=args.data_dir)
    except (OSError, ValueError) as exc:  # missing, unreadable or corrupt data
        message = str(exc)
        if "\n" in message:  # the loader's list of places looked in
            print(printable_lines(message), file=sys.stderr)
            raise CLIError(f"could not load {args.dataset} (details above)") from None
        raise CLIError(message) from None
    if args.test_size > len(xt):
        raise CLIError(f"--test-size must be at most the {len(xt)} test images of "
                       f"{args.dataset}, got {args.test_size}")
    progress = _progress(args.quiet)
    common = {"seed": args.seed, "progress": progress}
    if args.iters is not None:
        common["iters"] = args.iters
    if args.epochs is not None:
        common["epochs"] = args.epochs
    start = time.perf_counter()
    if args.name == "optimizers":
        result = ex.compare_optimizers(x, t, **common)
    elif args.name == "init":
        result = ex.compare_weight_init(x, t, **common)
    elif args.name == "batchnorm":
        result = ex.compare_batchnorm(x, t, **common)
    elif args.name == "hyperparameters":
        if args.trials is not None:
            common["trials"] = args.trials
        result = random_search(x, t, **common)
    elif args.name == "filters":
        n = args.test_size or len(xt)
        result = ex.learn_filters(x, t, xt[:n], tt[:n], **common)
    else:
        result = ex.compare_regularization(x, t, xt, tt, test_size=args.test_size or None,
                                           **common)
    seconds = time.perf_counter() - start
    if progress is not None:
        print(file=sys.stderr)
    png = args.out / f"{args.name}.png"
    csv = args.out / (f"{args.name}.npz" if args.name == "filters" else f"{args.name}.csv")
    try:
        plot_experiment(result, png)
        if args.name == "filters":
            write_npz(csv, {"before": result.before, "after": result.after})
        else:
            save_csv(result, csv)
    except OSError as exc:
        raise CLIError(f"cannot write into {str(args.out)!r}: {exc.strerror or exc}") from None
    title = (f"SimpleConvNet's first-layer filters, {result.settings['iters']} steps"
             if args.name == "filters" else result.title)
    print(f"{title} ({args.dataset}, {seconds:.0f} s)")
    for line in _summary(result):
        print(f"  {line}")
    print(f"wrote {printable(png)}")
    print(f"wrote {printable(csv)}")
    return 0


def _summary(result) -> list[str]:
    """One line per variant: the last values, as a reader of the figure would quote them."""
    lines = []
    if result.name == "filters":
        s = result.settings
        lines.append(f"{len(result.before)} filters of {result.before.shape[2]}x"
                     f"{result.before.shape[3]}; test accuracy after {s['iters']} steps "
                     f"(Adam lr {s['lr']:g}, batch {s['batch_size']}): {result.test_acc:.4f} "
                     f"on {s['test_size']} test images")
    elif result.name in ITERATION_BASED:
        for c in result.curves:
            tail = c.y[-100:]
            lines.append(f"{c.label:<10} mean loss over the last {len(tail)} iterations: "
                         f"{tail.mean():.3f}")
    elif result.name == "hyperparameters":
        lines += _search_summary(result)
    elif result.name == "batchnorm":
        diverged = result.settings.get("diverged") or []
        for group in result.groups():
            finals = ", ".join(f"{c.label.split(' (')[0].lower()} {c.y[-1]:.2f}"
                               + (" (diverged: NaN weights)" if [group, c.label] in diverged
                                  else "")
                               for c in result.curves if c.group == group)
            lines.append(f"{group:<10} final train accuracy: {finals}")
    else:
        for group in result.groups():
            finals = ", ".join(f"{c.label} {c.y[-1]:.3f}"
                               for c in result.curves if c.group == group)
            lines.append(f"{group:<26} final accuracy: {finals}")
    return lines


def _search_summary(result) -> list[str]:
    """The best five trials as the book prints them, and where the best ten lie."""
    rows = result.settings["ranked"]
    lines = [f"Best-{i + 1} (val acc {r['val_acc']:.2f}, train acc {r['train_acc']:.3f}) | "
             f"lr {r['lr']:.3g}, weight decay {r['weight_decay']:.3g}"
             for i, r in enumerate(rows[:5])]
    span = result.settings["best_spans"].get("10")
    if span is not None:
        lines.append(f"the best {span['count']}: lr {span['lr'][0]:.3g} to {span['lr'][1]:.3g}, "
                     f"weight decay {span['weight_decay'][0]:.3g} to "
                     f"{span['weight_decay'][1]:.3g}")
    return lines
