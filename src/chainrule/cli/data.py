"""``chainrule data``: list the datasets and where they are; ``data fetch NAME`` downloads."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chainrule.cli import CLIError, printable, printable_lines
from chainrule.data.catalog import DATASET_NAMES, DATASETS
from chainrule.data.download import DownloadError
from chainrule.data.locate import (
    DatasetNotFoundError,
    cache_dir,
    dataset_status,
    fetch_dataset,
)

FETCHABLE = tuple(name for name, info in DATASETS.items() if info.files)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "data",
        help="list the datasets, where each was found and whether it verified; fetch them",
        description="Without an action: list mnist, fashion-mnist and digits, where each "
        "was found (data dir, $CHAINRULE_DATA, the user cache, Debian's package folder) and "
        "whether its SHA-256 checksums verified. 'fetch NAME' downloads a dataset into the "
        "user cache (or --dir DIR/NAME), checking every file.",
    )
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show every file and every folder looked in")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    fetch = actions.add_parser("fetch", help="download mnist or fashion-mnist",
                               description="Download a dataset's four files from its mirrors, "
                               "verify each SHA-256 and place them in the user cache.")
    fetch.add_argument("name", metavar="NAME", help="mnist or fashion-mnist")
    fetch.add_argument("--dir", type=Path, default=None,
                       help="download into DIR/NAME instead of the user cache "
                       "(then point CHAINRULE_DATA at DIR)")
    fetch.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "fetch":
        return _fetch(args)
    return _list(verbose=args.verbose)


def _list(verbose: bool) -> int:
    bad = False
    for name in DATASET_NAMES:
        status = dataset_status(name)
        corrupt = [f for f in status.files if f.state in ("corrupt", "unreadable")]
        bad = bad or bool(corrupt)
        if not DATASETS[name].files:  # digits: bundled with scikit-learn
            state = "available" if status.found else "unavailable"
            print(f"{name:<14} {state:<18} {printable(status.detail)}")
            continue
        if corrupt:
            state = "CORRUPT" if any(f.state == "corrupt" for f in corrupt) else "UNREADABLE"
        elif status.verified:
            state = "found, verified"
        else:
            state = "missing" if not any(f.path for f in status.files) else "incomplete"
        where = ", ".join(str(p) for p in status.folders) or f"fetch: chainrule data fetch {name}"
        print(f"{name:<14} {state:<18} {printable(where)}")
        for f in corrupt:
            print(f"    {printable_lines(f.error)}".replace("\n", "\n    "))
        if verbose:
            for f in status.files:
                print(f"    {f.name:<28} {f.state:<10} {printable(f.path or '')}".rstrip())
                for note in f.notes:
                    print(f"        {printable(note)}")
            print("    looked in, in order:")
            for place in status.places:
                print(f"        {printable(place)}")
    return 1 if bad else 0


def _fetch(args: argparse.Namespace) -> int:
    name = args.name
    if name == "digits":
        raise CLIError("digits comes with scikit-learn, nothing to download "
                       "(pip install 'chainrule[digits]')")
    if name not in FETCHABLE:
        raise CLIError(f"unknown dataset {name!r}; choose {' or '.join(FETCHABLE)}")
    dest = args.dir / name if args.dir is not None else cache_dir() / name
    try:
        paths = fetch_dataset(name, dest, progress=False if args.quiet else None)
    except (DatasetNotFoundError, DownloadError) as exc:
        print(printable_lines(exc), file=sys.stderr)
        raise CLIError(f"could not fetch {name} (details above)") from exc
    except OSError as exc:
        raise CLIError(f"cannot write into {dest}: {exc}") from exc
    except ValueError as exc:  # e.g. a bad $CHAINRULE_DOWNLOAD_DEADLINE
        raise CLIError(str(exc)) from None
    for path in paths:
        print(f"verified  {printable(path)}")
    if args.dir is not None:
        print(f"use it with: CHAINRULE_DATA={printable(args.dir)}")
    return 0
