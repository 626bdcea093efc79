"""Ctrl-C while the ``chainrule`` command is starting: one line and exit 130, no traceback.

Imported first of all by ``chainrule/__init__.py``. In the process of the command (the
``chainrule`` script, or ``python -m chainrule``) it installs a SIGINT handler that ends
the process quietly while the imports run; ``chainrule.cli.main`` gives SIGINT back to
Python (``KeyboardInterrupt``) as soon as it can catch it. In any other process (a
program or a notebook importing chainrule, the tests) it changes nothing.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

_NAMES = ("chainrule", "chainrule.exe", "chainrule-script.py")
_WITH_VALUE = ("-X", "-W", "-Q")


def is_command(argv0: str | None = None, orig_argv: list[str] | None = None) -> bool:
    """Whether this process is the ``chainrule`` command."""
    argv0 = (sys.argv[0] if sys.argv else "") if argv0 is None else argv0
    if os.path.basename(argv0) in _NAMES:
        return True
    args = list(getattr(sys, "orig_argv", [])) if orig_argv is None else orig_argv
    i = 1
    while i < len(args):
        a = args[i]
        if a == "-m":
            return args[i + 1:i + 2] == ["chainrule"]
        if a.startswith("-m"):
            return a[2:] == "chainrule"
        if a in _WITH_VALUE:
            i += 1
        elif not a.startswith("-") or a in ("-c", "-"):
            return False  # a script, -c code or stdin: not the command
        i += 1
    return False


def _quit(signum, frame) -> None:
    sys.stderr.write("chainrule: interrupted\n")
    raise SystemExit(130)


def release() -> None:
    """Give SIGINT back to Python's own handler (``KeyboardInterrupt``)."""
    if signal.getsignal(signal.SIGINT) is _quit:
        signal.signal(signal.SIGINT, signal.default_int_handler)


if (is_command() and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
    signal.signal(signal.SIGINT, _quit)
