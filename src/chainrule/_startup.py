"""Ctrl-C while the ``chainrule`` command starts or ends: one line and exit 130, no
traceback; and standard streams that exist.

Imported first of all by ``chainrule/__init__.py``. In the process of the command (the
``chainrule`` script, or ``python -m chainrule``) it installs a SIGINT handler that
writes ``chainrule: interrupted`` and ends the process at once (``os._exit``: nothing
half-imported is left to raise, not even inside NumPy's C import of ``datetime``,
where a Python exception became an ``ImportError``) while the imports run;
``chainrule.cli.main`` gives SIGINT back to Python (``KeyboardInterrupt``) as soon as it
can catch it, and takes it again when it returns, for the interpreter's exit. A closed
standard stream (``chainrule train >&-``) is opened on the null device, so that no file
the command opens takes its number and nothing fails writing to it. In any other
process (a program or a notebook importing chainrule, the tests) it changes nothing.
"""

from __future__ import annotations

import _signal  # not ``signal``: its enums cost milliseconds, and every one counts here
import os
import sys

_NAMES = ("chainrule", "chainrule.exe", "chainrule-script.py")
_WITH_VALUE = ("-X", "-W", "-Q")
_LINE = b"chainrule: interrupted\n"


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
    try:
        os.write(2, _LINE)
    except OSError:
        pass
    os._exit(130)


def _take(old, new) -> None:
    """SIGINT's handler ``new`` if it is ``old`` now (only the main thread may set it)."""
    try:
        if _signal.getsignal(_signal.SIGINT) is old:
            _signal.signal(_signal.SIGINT, new)
    except ValueError:  # not the main thread
        pass


def release() -> None:
    """Give SIGINT back to Python's own handler (``KeyboardInterrupt``)."""
    _take(_quit, _signal.default_int_handler)


def hold() -> None:
    """In the command's process, from now on Ctrl-C ends it with one line (the command
    has returned; the interpreter is exiting)."""
    if _COMMAND:
        _take(_signal.default_int_handler, _quit)


def open_standard_streams() -> None:
    """Open the null device on a closed standard stream (0, 1, 2), and give Python a
    stream for it (``sys.stdout`` is None when the command starts with ``>&-``)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                null = os.open(os.devnull, os.O_RDWR)
            except OSError:
                return
            if null != fd:  # a lower one was free: it is now taken too, keep it
                os.dup2(null, fd)
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        if getattr(sys, name) is None:
            try:  # the null device now open there; closefd=False, as Python's own streams
                setattr(sys, name, open(fd, mode, encoding="utf-8", closefd=False))
            except OSError:
                pass


_COMMAND = is_command()
if _COMMAND:
    _take(_signal.default_int_handler, _quit)
    open_standard_streams()
