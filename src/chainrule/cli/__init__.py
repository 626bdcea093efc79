"""The ``chainrule`` command line.

Every sub-command lives in its own module in this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
``func(args) -> int``. Modules are found automatically, so adding a command means
adding one file. Heavy imports (matplotlib, the datasets) happen inside ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys


class CLIError(Exception):
    """A user mistake: printed as one line, exit status 2, no traceback."""


ORDER = ["train", "evaluate", "predict", "gradcheck", "demo", "graph", "serve", "data",
         "experiment"]


def _command_modules() -> list[str]:
    found = {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}
    return [n for n in ORDER if n in found] + sorted(found - set(ORDER))


def build_parser() -> argparse.ArgumentParser:
    from chainrule import __version__

    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Backpropagation from scratch: train, check and draw the networks "
        "of Deep Learning from Scratch, chapter 5.",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _command_modules():
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"chainrule {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `chainrule predict ... | head`: the reader has gone
        sys.stdout = None  # nothing left to flush at exit
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
