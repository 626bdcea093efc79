"""``chainrule graph NAME --out FILE``: draw one of the chapter's computational graphs."""

from __future__ import annotations

import argparse
from pathlib import Path

from chainrule.cli import CLIError

NAMES = ("apple", "apple-orange", "sigmoid", "two-layer-net")
SUFFIXES = (".svg", ".png", ".dot", ".gv", ".mmd", ".mermaid")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "graph",
        help="draw a computational graph of the chapter (SVG, PNG, DOT, Mermaid)",
        description="Draw one of chapter 5's computational graphs from the library's own "
        "computation: values above the arrows, gradients below them in red. The format "
        "follows the suffix of --out; no system programs are needed.",
    )
    p.add_argument("name", choices=NAMES, metavar="NAME",
                   help="one of: " + ", ".join(NAMES))
    p.add_argument("--out", "-o", type=Path, default=None,
                   help="FILE.svg, .png, .dot (or .gv) or .mmd (default: NAME.svg)")
    p.add_argument("--forward-only", action="store_true",
                   help="draw the forward values only, as before backward")
    p.add_argument("--precision", type=int, default=4,
                   help="significant digits of the numbers drawn (default 4)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chainrule import book, draw

    out = args.out if args.out is not None else Path(f"{args.name}.svg")
    if out.suffix.lower() not in SUFFIXES:
        raise CLIError(f"cannot tell the format of {str(out)!r}: end it in "
                       + ", ".join(SUFFIXES))
    if args.precision < 1:
        raise CLIError(f"--precision must be at least 1, got {args.precision}")
    if not out.parent.is_dir():
        raise CLIError(f"the folder {str(out.parent)!r} does not exist")
    g, options = book.figure(args.name, backward=not args.forward_only)
    try:
        draw.save(g, out, precision=args.precision, **options)
    except OSError as exc:
        raise CLIError(f"cannot write {str(out)!r}: {exc.strerror or exc}") from exc
    print(f"wrote {out}")
    return 0
