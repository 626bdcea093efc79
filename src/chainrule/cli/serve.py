"""``chainrule serve``: the lab in your browser, on 127.0.0.1."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chainrule.cli import CLIError, printable

INSTALL_HINT = "pip install 'chainrule[serve]'"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="the lab in your browser: step through backprop, draw a digit, train live",
        description="Start the lab on this computer. The graph lab: the chapter's graphs "
        "(or your own expression) with every value and gradient live, checked against "
        "numerical derivatives, and stepped through node by node. The network lab (/net): "
        "draw a digit and see the gradient reach its pixels, take one step of learning, "
        "train a network with live charts. Without --model the network lab trains a first "
        "network in the background as it starts. Listens on 127.0.0.1 at the first free "
        "port from 8000, prints the address and opens a browser; Ctrl-C stops it. Needs "
        + INSTALL_HINT + ".",
    )
    p.add_argument("--port", type=int, default=None,
                   help="the port to listen on (default: the first free one from 8000)")
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (default 127.0.0.1: this computer only)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--model", type=Path, default=None, metavar="RUN_DIR",
                   help="a run folder or model.npz for the network lab (from chainrule "
                   "train); without it the lab trains a first network")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise CLIError(f"the lab needs Starlette and uvicorn: {INSTALL_HINT}") from None
    from chainrule.web.netlab_state import LabError
    from chainrule.web.server import PortError, is_loopback, serve

    if not is_loopback(args.host):
        print(f"chainrule serve: warning: listening on {printable(args.host)}, not only on this "
              "computer: anyone who can reach it can use the lab", file=sys.stderr)
    options = {"train_first": True} if args.model is None else {"model": args.model}
    try:
        serve(host=args.host, port=args.port, open_browser=not args.no_browser,
              announce=lambda line: print(line, flush=True), **options)
    except PortError as exc:
        raise CLIError(str(exc)) from None
    except LabError as exc:  # a --model the network lab cannot use
        raise CLIError(f"--model: {exc}") from None
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
    return 0
