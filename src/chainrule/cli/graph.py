"""``chainrule graph NAME --out FILE``: draw one of the chapter's computational graphs;
``chainrule graph --expr "(x + y) ** 2" --at x=1 y=2 --out g.svg``: draw your own."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from chainrule.book import examples as book
from chainrule.cli import CLIError, printable
from chainrule.graph import draw
from chainrule.graph.expression import ExpressionError, InputError
from chainrule.graph.layout import format_value
from chainrule.graph.record import Graph

NAMES = ("apple", "apple-orange", "sigmoid", "chain", "two-layer-net")
SUFFIXES = (".svg", ".png", ".dot", ".gv", ".mmd", ".mermaid")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "graph",
        help="draw a computational graph of the chapter, or of an expression",
        description="Draw one of chapter 5's computational graphs, or the graph of an "
        "expression, from the library's own computation: values above the arrows, "
        "gradients below them in red. The format follows the suffix of --out; no system "
        "programs are needed.",
    )
    p.add_argument("name", nargs="?", choices=NAMES, metavar="NAME",
                   help="one of: " + ", ".join(NAMES) + " (or give --expr)")
    p.add_argument("--expr", "-e", metavar="TEXT",
                   help='an expression such as "(x + y) ** 2" or "sigmoid(w * x + b)": '
                   "numbers, names, + - * / ** (a number as exponent), exp, log, sigmoid, "
                   "relu, tanh")
    p.add_argument("--at", nargs="+", default=[], metavar="NAME=VALUE",
                   help="the inputs' values, e.g. --at x=1 y=2 (for NAME: any of its inputs, "
                   "e.g. --at apple=150)")
    p.add_argument("--out", "-o", type=Path, default=None,
                   help="FILE.svg, .png, .dot (or .gv) or .mmd (default: NAME.svg, "
                   "expression.svg)")
    p.add_argument("--forward-only", action="store_true",
                   help="draw the forward values only, as before backward")
    p.add_argument("--precision", type=int, default=4,
                   help="significant digits of the numbers drawn (default 4)")
    p.set_defaults(func=run)


def _values(pairs: list[str]) -> dict[str, float]:
    values: dict[str, float] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise CLIError(f"--at: expected NAME=VALUE, got {pair!r}")
        if name in values:
            raise CLIError(f"--at: {name!r} is given twice")
        try:
            value = float(text)
        except ValueError:
            raise CLIError(f"--at {name}: {text!r} is not a number") from None
        if not math.isfinite(value):
            raise CLIError(f"--at {name}: the value must be finite, got {text!r}")
        values[name] = int(value) if value.is_integer() and abs(value) < 2**53 else value
    return values


def _expression_graph(args: argparse.Namespace):
    try:
        return Graph.from_expression(args.expr, **_values(args.at))
    except ExpressionError as exc:
        raise CLIError(f"--expr: {exc}") from None
    except InputError as exc:
        raise CLIError(f"--at: {exc}") from None


def _book_graph(args: argparse.Namespace):
    try:
        values = book.check_inputs(args.name, _values(args.at))
    except InputError as exc:
        raise CLIError(f"--at: {exc}") from None
    return book.figure(args.name, backward=not args.forward_only, **values)


def run(args: argparse.Namespace) -> int:
    if args.name is None and args.expr is None:
        raise CLIError("give NAME (" + ", ".join(NAMES) + ") or --expr TEXT")
    if args.name is not None and args.expr is not None:
        raise CLIError("give NAME or --expr, not both")
    default = f"{args.name}.svg" if args.name is not None else "expression.svg"
    out = args.out if args.out is not None else Path(default)
    if out.suffix.lower() not in SUFFIXES:
        raise CLIError(f"cannot tell the format of {str(out)!r}: end it in "
                       + ", ".join(SUFFIXES))
    if not 1 <= args.precision <= 17:  # a float64 has 17 significant digits at most
        raise CLIError(f"--precision must be from 1 to 17, got {args.precision}")
    if not out.parent.is_dir():
        raise CLIError(f"the folder {str(out.parent)!r} does not exist")
    if args.expr is not None:
        g = _expression_graph(args)
        options = {"gradients": not args.forward_only}
        print(_summary(g, args.precision))
    else:
        g, options = _book_graph(args)
    try:
        draw.save(g, out, precision=args.precision, **options)
    except OSError as exc:
        raise CLIError(f"cannot write {str(out)!r}: {exc.strerror or exc}") from exc
    print(f"wrote {printable(out)}")
    return 0


def _summary(g, precision: int) -> str:
    """``f = 9 at x = 1, y = 2; df/dx = 6, df/dy = 6``."""
    def fmt(v) -> str:
        return format_value(v, precision)

    inputs = list(g.named_inputs().values())
    at = ", ".join(f"{e.name} = {fmt(e.value)}" for e in inputs)
    grads = ", ".join(f"df/d{e.name} = {fmt(e.grad if e.grad is not None else 0)}"
                      for e in inputs)
    return f"f = {fmt(g.output.value)}" + (f" at {at}; {grads}" if inputs else "")
