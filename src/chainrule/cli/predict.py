"""``chainrule predict``: what a trained model sees in your own picture of a digit."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from chainrule.cli import EXIT_USAGE, CLIError, printable
from chainrule.cli._model import model_input, open_model
from chainrule.core.functions import softmax
from chainrule.data.catalog import image_shape
from chainrule.data.preprocess import ImageError, load_image


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        help="classify your own picture of a digit with a trained model",
        description="Read each picture (PNG, JPEG, ...), make it look like an MNIST digit "
        "(grayscale, white ink on black: a light background is inverted; a picture larger "
        "than 28x28 is cropped, fitted into a 20x20 box and centred by mass) and print the "
        "predicted class and every class's probability. A picture that cannot be read is "
        "reported on one line and skipped; the exit status is then 2.",
    )
    p.add_argument("model", metavar="MODEL", help="a model.npz or a run folder")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="pictures to classify")
    ink = p.add_mutually_exclusive_group()
    ink.add_argument("--invert", dest="invert", action="store_true", default=None,
                     help="always invert (dark ink on light paper)")
    ink.add_argument("--no-invert", dest="invert", action="store_false",
                     help="never invert (light ink on dark)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    model, _ = open_model(args.model)
    net, meta = model.net, model.meta
    input_shape = model_input(model)
    inputs = int(np.prod(input_shape))
    shape = meta.get("image_shape") or image_shape(meta.get("dataset", ""), inputs)
    if not shape:
        raise CLIError(f"{model.path}: the model's {inputs} inputs are not a square image")
    dtype = net.dtype
    names = [printable(n) for n in meta.get("class_names") or
             [str(c) for c in range(_outputs(net, input_shape, dtype))]]
    failed = shown = 0
    for image in args.images:
        try:
            x = load_image(image, tuple(shape), invert=args.invert)
        except (ImageError, ValueError) as exc:
            failed += 1
            print(f"chainrule predict: {printable(exc, 300)}", file=sys.stderr)
            continue
        p = softmax(net.predict(x.reshape(1, *input_shape).astype(dtype)))[0]
        best = int(np.argmax(p))
        print(("\n" if shown else "") + f"{printable(image)}: {names[best]}  ({p[best]:.1%})")
        shown += 1
        width = max(map(len, names[:len(p)]))
        for c in range(len(p)):
            bar = "#" * round(30 * float(p[c]))
            print(f"  {names[c]:>{width}} {p[c]:7.2%} {bar}".rstrip())
    if failed:
        print(f"chainrule predict: {failed} of {len(args.images)} pictures could not be "
              "read (see above)", file=sys.stderr)
        return EXIT_USAGE
    return 0


def _outputs(net, input_shape: tuple[int, ...], dtype) -> int:
    return int(net.predict(np.zeros((1, *input_shape), dtype)).shape[-1])
