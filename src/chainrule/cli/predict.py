"""``chainrule predict``: what a trained model sees in your own picture of a digit."""

from __future__ import annotations

import argparse
import math

import numpy as np

from chainrule.cli import CLIError
from chainrule.cli._model import open_model


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        help="classify your own picture of a digit with a trained model",
        description="Read each picture (PNG, JPEG, ...), make it look like an MNIST digit "
        "(grayscale, white ink on black: a light background is inverted; a picture larger "
        "than 28x28 is cropped, fitted into a 20x20 box and centred by mass) and print the "
        "predicted class and every class's probability.",
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
    from chainrule.functions import softmax
    from chainrule.nets import input_shape
    from chainrule.preprocess import ImageError, load_image
    from chainrule.runs import image_shape

    model, _ = open_model(args.model)
    path = model.path
    net, meta = model.net, model.meta
    first = next(iter(net.params.values()))
    inputs = math.prod(input_shape(net))
    shape = meta.get("image_shape") or image_shape(meta.get("dataset", ""), inputs)
    if not shape or math.prod(shape) != inputs:
        raise CLIError(f"{path}: the model's {inputs} inputs are not a "
                       + (f"{'x'.join(map(str, shape))} image" if shape else "square image"))
    names = meta.get("class_names") or [str(c) for c in range(_outputs(net))]
    for i, image in enumerate(args.images):
        try:
            x = load_image(image, tuple(shape), invert=args.invert)
        except (ImageError, OSError) as exc:
            raise CLIError(str(exc)) from None
        p = softmax(net.predict(x.reshape(1, -1).astype(first.dtype)))[0]
        best = int(np.argmax(p))
        print(("\n" if i else "") + f"{image}: {names[best]}  ({p[best]:.1%})")
        width = max(map(len, names))
        for c in range(len(p)):
            bar = "#" * round(30 * float(p[c]))
            print(f"  {names[c]:>{width}} {p[c]:7.2%} {bar}".rstrip())
    return 0


def _outputs(net) -> int:
    from chainrule.nets import input_shape

    return int(net.predict(np.zeros((1, math.prod(input_shape(net))))).shape[-1])
