"""``chainrule gradcheck``: the book's ``gradient_check.py`` as a command that passes or fails."""

from __future__ import annotations

import argparse
import time

import numpy as np

from chainrule.cli import CLIError
from chainrule.core.gradient import gradient_check
from chainrule.data.catalog import DATASET_NAMES
from chainrule.data.load import load_data, num_classes
from chainrule.nn.two_layer import TwoLayerNet
from chainrule.training.build import check_memory

EXIT_FAILED = 1


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "gradcheck",
        help="check backprop against numerical gradients (exit 0 on pass, 1 on fail)",
        description="Build a fresh TwoLayerNet (784-50-10), take the first 3 training "
        "images and compare every parameter's backprop gradient with the numerical one "
        "(central differences, in float64): the mean absolute difference (the book's "
        "figure) and the maximum relative error. By default a quick check: 20 random "
        "coordinates per parameter plus 8 random directional derivatives over all "
        "parameters; --full checks every coordinate, as the book does (about 10 s).",
    )
    p.add_argument("--full", action="store_true", help="check every parameter coordinate")
    p.add_argument("--samples", type=int, default=20, metavar="K",
                   help="coordinates per parameter in the quick check (20)")
    p.add_argument("--directions", type=int, default=8, metavar="D",
                   help="random directions in the quick check (8)")
    p.add_argument("--images", type=int, default=3, metavar="N",
                   help="how many training images, from the first (3)")
    p.add_argument("--hidden", type=int, default=50, metavar="N", help="hidden size (50)")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="seed of the weights and the sampled coordinates (0)")
    p.add_argument("--rtol", type=float, default=1e-5, metavar="R",
                   help="largest relative error that passes (1e-5)")
    p.add_argument("--dataset", default="mnist", metavar="NAME",
                   help="mnist (default), fashion-mnist or digits")
    p.add_argument("--data-dir", metavar="DIR", help="look for the dataset's files here first")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for flag, value, low in (("--samples", args.samples, 1), ("--directions", args.directions, 0),
                             ("--images", args.images, 1), ("--hidden", args.hidden, 1),
                             ("--seed", args.seed, 0)):
        if value < low:
            raise CLIError(f"{flag} must be >= {low}, got {value}")
    if not 0 < args.rtol < 1:  # also refuses inf and nan: a check that cannot fail
        raise CLIError(f"--rtol must be between 0 and 1, got {args.rtol}")
    if args.dataset not in DATASET_NAMES:
        raise CLIError(f"unknown dataset {args.dataset!r}; choose one of "
                       f"{', '.join(DATASET_NAMES)}")
    try:
        data = load_data(args.dataset, args.data_dir, np.float32)  # half the memory of float64
    except (OSError, ValueError, ImportError) as exc:
        raise CLIError(str(exc)) from None
    classes = num_classes(data.t_train)
    images = min(args.images, len(data.x_train))
    try:  # float64 weights, and a float64 copy of them inside gradient_check
        check_memory([data.x_train.shape[1], args.hidden, classes], np.float64, batch=images,
                     slots=1)
    except ValueError as exc:
        raise CLIError(str(exc).replace("training it", "checking it")) from None
    x = data.x_train[:images].astype(np.float64)
    t = data.t_train[:images]
    net = TwoLayerNet(x.shape[1], args.hidden, classes, dtype=np.float64, seed=args.seed)
    sizes = "-".join(str(s) for s in net.sizes)
    total = sum(p.size for p in net.params.values())
    how = (f"every one of the {total} coordinates" if args.full else
           f"{args.samples} random coordinates per parameter and {args.directions} random "
           f"directions (--full checks all {total})")
    print(f"TwoLayerNet {sizes}, the first {len(x)} {args.dataset} training images: "
          f"checking {how}")
    start = time.perf_counter()
    report = gradient_check(net, x, t, samples=None if args.full else args.samples,
                            directions=0 if args.full else args.directions, rtol=args.rtol,
                            seed=args.seed)
    print(report)
    print(f"took {time.perf_counter() - start:.2f} s")
    return 0 if report.passed else EXIT_FAILED
