"""``chainrule book``: run the book's own scripts on chainrule.

``book path`` prints the shim folder (:mod:`chainrule.book_shim`) to put first on
``PYTHONPATH``; ``book run SCRIPT [ARGS]`` runs a script of the book's repository with
it there, in the script's own folder, as ``cd chXX; python SCRIPT`` would.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from chainrule.book_shim import path
from chainrule.cli import CLIError, printable


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "book",
        help="run the book's own scripts (its common/ and dataset/ imports) on chainrule",
        description="The book's scripts import common.layers, common.trainer, dataset.mnist "
        "and the rest from the book's repository. 'run' starts one with chainrule's "
        "re-exports of those modules first on PYTHONPATH, in the script's folder; 'path' "
        "prints that folder, for PYTHONPATH=$(chainrule book path) python SCRIPT.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    actions.add_parser("path", help="print the folder to put first on PYTHONPATH")
    run = actions.add_parser("run", help="run a script of the book on chainrule",
                             description="Run SCRIPT with Python in its own folder, the "
                             "shim first on PYTHONPATH; its exit status is this command's.")
    run.add_argument("script", type=Path, metavar="SCRIPT", help="e.g. ch06/overfit_dropout.py")
    run.add_argument("args", nargs="*", metavar="ARGS",
                     help="arguments for the script (after --, those that start with -)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    shim = str(path())
    if args.action == "path":
        print(printable(shim))
        return 0
    script = args.script.resolve()
    if not script.is_file():
        raise CLIError(f"{args.script}: no such script")
    if script.suffix != ".py":
        raise CLIError(f"{args.script}: not a Python script (.py)")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (shim, env.get("PYTHONPATH", "")) if p)
    code = subprocess.run([sys.executable, str(script), *args.args], cwd=script.parent,
                          env=env, check=False).returncode
    return code if code >= 0 else 128 - code  # killed by signal N: 128 + N, as a shell says
