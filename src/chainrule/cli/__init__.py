"""The ``chainrule`` command line.

Every sub-command lives in its own module in this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
``func(args) -> int``. Modules are found automatically, so adding a command means
adding one file. Heavy imports (matplotlib, tqdm, Pillow, the lab's Starlette) happen
where they are used, so ``chainrule --help`` stays quick.

Every command ends with its result or one line on stderr, never a traceback: a
:class:`CLIError` prints ``chainrule CMD: error: ...`` (exit 2; the details of a
several-line message come first, the error line last), Ctrl-C ``chainrule:
interrupted`` (130, start-up included: see ``chainrule._startup``), a file or memory
problem its own line (1), and anything unexpected ``chainrule CMD: internal error: ...``
(70; ``CHAINRULE_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys

from chainrule import _startup
from chainrule.store.version import VERSION

EXIT_ERROR, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 1, 2, 70, 130


class CLIError(Exception):
    """A user mistake: printed as one line, exit status 2, no traceback."""


def printable(text: object, limit: int | None = None) -> str:
    """``text`` with every character a terminal would act on (escape sequences, newlines,
    bidirectional overrides...) written as a visible escape such as ``\x1b``; cut to
    ``limit`` characters if given."""
    out = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                  for c in str(text))
    return out if limit is None or len(out) <= limit else out[:limit - 3] + "..."


def printable_lines(text: object) -> str:
    """:func:`printable` line by line: the line breaks stay, everything else a terminal
    would act on is made visible."""
    return "\n".join(printable(line) for line in str(text).split("\n"))


ORDER = ["train", "evaluate", "predict", "export", "gradcheck", "demo", "graph", "serve", "data",
         "experiment"]


def _command_modules() -> list[str]:
    found = {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}
    return [n for n in ORDER if n in found] + sorted(found - set(ORDER))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Backpropagation from scratch: train, check, draw and explore the "
        "networks of Deep Learning from Scratch (chapters 5 to 8), in the terminal or in "
        "the browser (chainrule serve).",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {VERSION}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _command_modules():
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    finally:
        _startup.hold()  # Ctrl-C while the interpreter exits: one line too


def _main(argv: list[str] | None) -> int:
    command = "?"
    try:
        _startup.release()  # from here on, Ctrl-C is a KeyboardInterrupt caught below
        args = build_parser().parse_args(argv)  # bad flags: argparse's message, exit 2
        command = args.command
        _check_working_folder()
        code = int(args.func(args) or 0)
        if sys.stdout is not None:
            sys.stdout.flush()
        return code
    except CLIError as exc:
        first, *details = str(exc).splitlines() or [""]
        for line in details:  # e.g. every place a dataset was looked for
            _fail(printable(line), 0)
        return _fail(f"chainrule {command}: error: {printable(first)}"
                     + (" (details above)" if details else ""), EXIT_USAGE)
    except KeyboardInterrupt as exc:  # Ctrl-C, or a second stop signal while training
        signum = getattr(exc, "signum", None)
        if signum is None or signum == signal.SIGINT:
            return _fail("chainrule: interrupted", EXIT_INTERRUPTED)
        return _fail(f"chainrule: interrupted by {signal.Signals(signum).name}", 128 + signum)
    except BrokenPipeError:  # e.g. `chainrule predict ... | head`: the reader has gone
        sys.stdout = None  # nothing left to flush at exit
        return 141
    except MemoryError as exc:
        return _fail(f"chainrule {command}: error: not enough memory "
                     f"({printable(exc, 200) or 'MemoryError'})", EXIT_ERROR)
    except OSError as exc:  # a disk full, a file that vanished: the system's own words
        return _fail(f"chainrule {command}: error: {printable(exc, 300)}", EXIT_ERROR)
    except Exception as exc:  # the last resort: a bug, said in one line
        if os.environ.get("CHAINRULE_DEBUG", "").strip() not in ("", "0"):
            import traceback

            traceback.print_exc()
        return _fail(f"chainrule {command}: internal error: {type(exc).__name__}: "
                     f"{printable(exc, 300)}; please report it (CHAINRULE_DEBUG=1 shows "
                     "the traceback)", EXIT_INTERNAL)


def _check_working_folder() -> None:
    """A command run from a folder that was deleted meanwhile says so (instead of
    "No such file or directory" about the first relative path it meets)."""
    try:
        os.getcwd()
    except FileNotFoundError:
        where = os.environ.get("PWD")
        raise CLIError(f"the working folder{f' {where}' if where else ''} no longer exists "
                       "(it was deleted or moved); cd to a folder that exists") from None


def _fail(line: str, code: int) -> int:
    try:
        print(line, file=sys.stderr)
    except (OSError, ValueError):  # stderr closed: the exit status still says it
        pass
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
