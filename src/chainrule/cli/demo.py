"""``chainrule demo apple|apple-orange|sigmoid``: the chapter's graphs, with every gradient."""

from __future__ import annotations

import argparse
import math

from chainrule.book import examples as book
from chainrule.cli import CLIError

NAMES = ("apple", "apple-orange", "sigmoid")
X_LIMIT = 700.0

# How each primitive node of the sigmoid turns dout into its input's gradient.
_SIGMOID_RULES = {
    "/": "-dout * y**2",
    "+": "dout (an add node passes it on)",
    "exp": "dout * exp(-x)",
    "×": "dout * -1",
}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the chapter's computational-graph examples and print every gradient",
        description="Run an example of chapter 5 with the library's layers, back-propagate "
        "through the recorded graph and print the result and the gradients, as the book's "
        "scripts do. `chainrule graph NAME` draws the same graph.",
    )
    p.add_argument("name", choices=NAMES, metavar="NAME", help="one of: " + ", ".join(NAMES))
    p.add_argument("--x", type=float, default=1.0, help="the sigmoid's input (default 1)")
    p.set_defaults(func=run)


def _fmt(v) -> str:
    """A number without float noise: 2.2000000000000002 prints 2.2."""
    return format(float(v) + 0.0, ".10g")


def run(args: argparse.Namespace) -> int:
    if not (math.isfinite(args.x) and abs(args.x) <= X_LIMIT):
        raise CLIError(f"--x must be a number from -{X_LIMIT:g} to {X_LIMIT:g} (the primitive "
                       f"nodes' exp(-x) overflows below -709), got {args.x:g}")
    if args.name == "sigmoid":
        return _sigmoid(args.x)
    g = book.EXAMPLES[args.name]()
    print("price:", _fmt(g.value("price")))
    for name in ("apple", "apple_num", "orange", "orange_num", "tax"):
        try:
            grad = g.grad(name)
        except KeyError:
            continue
        print(f"d{name.capitalize()}:", _fmt(grad))
    return 0


def _sigmoid(x: float) -> int:
    g = book.sigmoid(x)
    y = g.value("y")
    print(f"sigmoid at x = {_fmt(x)}, from primitive nodes: x -> ×(-1) -> exp -> +1 -> / -> y")
    print("forward, left to right:")
    for node in g.nodes:
        print(f"  {node.label:>4}  {_fmt(node.output.value)}")
    print("backward from dout = 1, right to left:")
    for node in reversed(g.nodes):
        rule = _SIGMOID_RULES.get(node.label, "")
        print(f"  {node.label:>4}  {rule:<32} = {_fmt(node.inputs[0].grad)}")
    y_layer, dx_layer = book.sigmoid_layer(x)
    dx = float(g.grad("x"))
    print(f"primitive nodes: dx = {_fmt(dx)}")
    print(f"Sigmoid layer:   dx = dout * y * (1 - y) = {_fmt(dx_layer)}  (y = {_fmt(y_layer)})")
    same = abs(dx - dx_layer) <= 1e-12 * max(1.0, abs(dx)) and abs(float(y) - y_layer) <= 1e-12
    print(f"agree: {'yes' if same else 'NO'} (difference {abs(dx - dx_layer):.2g})")
    return 0 if same else 1
