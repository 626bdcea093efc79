"""Proof that a code change keeps training bit-for-bit identical.

Checks out COMMIT in a temporary detached git worktree, then runs three trainings
(``python -m chainrule train``: the chapter-5 TwoLayerNet, the chapter-7 SimpleConvNet
and a MultiLayerNet with batch norm, dropout and Adam) once with COMMIT's code and once
with the working tree's code, on the same data, and compares ``metrics.csv``,
``step_loss.f64`` and ``model.npz`` of each pair byte for byte. ``checkpoint.npz`` is
compared too, for information only: it does not decide the result.

    python benchmarks/same_bits.py --against COMMIT [--data DIR] [--keep]

``--data`` defaults to ``$CHAINRULE_DATA``, else ``../shared/datasets`` beside the repo.
Each child gets ``PYTHONPATH=<its tree>/src``; the script prints the chainrule each one
imports and stops if it is not that tree's (an installed copy shadowing it). Exit
status: 0 when every compared file is identical, 1 when one differs, 2 on an error (a
bad commit, no data, a failed training), reported in one line. Takes a few minutes.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNS = {
    "mlp": ["--iters", "3000", "--seed", "0"],
    "simple-conv": ["--net", "simple-conv", "--iters", "300"],
    "bn-dropout-adam": ["--hidden", "100", "100", "--batchnorm", "--dropout", "0.2",
                        "--optimizer", "adam", "--iters", "1000", "--seed", "0"],
}
COMPARED = ["metrics.csv", "step_loss.f64", "model.npz"]
INFORMATIONAL = ["checkpoint.npz"]
MNIST_FILE = "train-images-idx3-ubyte"


class Failure(Exception):
    """Stops the script with a one-line message and exit status 2."""


def git(*args: str, cwd: Path = REPO) -> str:
    done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise Failure(f"git {' '.join(args)}: {last}")
    return done.stdout.strip()


def resolve_commit(commit: str) -> str:
    try:
        return git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
    except Failure:
        raise Failure(f"{commit!r} is not a commit of {REPO}") from None


def describe_tree() -> str:
    head = git("rev-parse", "HEAD")
    changed = git("status", "--porcelain").splitlines()
    state = f"dirty ({len(changed)} changed or untracked paths)" if changed else "clean"
    return f"{git('describe', '--always', '--tags')} ({head}), {state}"


def describe_machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"


def data_folder(given: str | None) -> str:
    data = given or os.environ.get("CHAINRULE_DATA") or str(REPO.parent / "shared" / "datasets")
    # absolute: the trainings run in other folders
    data = os.pathsep.join(str(Path(root).resolve()) for root in data.split(os.pathsep) if root)
    for root in filter(None, data.split(os.pathsep)):
        for folder in (Path(root) / "mnist", Path(root)):
            if any((folder / (MNIST_FILE + ext)).is_file() for ext in (".gz", "")):
                return data
    raise Failure(f"no MNIST in {data} (expected {data}/mnist/{MNIST_FILE}.gz); "
                  "give --data DIR or set CHAINRULE_DATA")


def child_env(src: Path, data: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(src), CHAINRULE_DATA=data)
    env.pop("PYTHONHOME", None)
    return env


def check_import(side: str, src: Path, env: dict[str, str], cwd: Path) -> None:
    probe = "import chainrule, numpy; print(chainrule.__file__); print(numpy.__version__)"
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=cwd,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise Failure(f"{side}: cannot import chainrule from {src}: {last_line(done.stderr)}")
    imported, numpy_version = done.stdout.split()
    print(f"  {side}: imports {imported} (numpy {numpy_version})")
    if not Path(imported).resolve().is_relative_to(src.resolve()):
        raise Failure(f"{side}: imported {imported}, not the code in {src}")


def last_line(text: str) -> str:
    lines = [s.strip() for s in text.replace("\r", "\n").splitlines() if s.strip()]
    return lines[-1] if lines else "(no message)"


def train(side: str, name: str, env: dict[str, str], out: Path) -> float:
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "chainrule", "train", *RUNS[name], "--out", str(out)]
    log, err = out.parent / f"{name}.out", out.parent / f"{name}.err"
    t0 = time.perf_counter()
    with open(log, "w") as stdout, open(err, "w") as stderr:
        done = subprocess.run(command, env=env, cwd=out.parent, stdout=stdout, stderr=stderr)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise Failure(f"training {name} with {side} failed (exit {done.returncode}): "
                      f"{last_line(err.read_text(errors='replace'))}")
    print(f"  {name:<16} {side:<8} {seconds:6.1f} s")
    return seconds


def first_difference(a: Path, b: Path) -> int | None:
    """The offset of the first byte where ``a`` and ``b`` differ, None if they are equal."""
    offset = 0
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca, cb = fa.read(1 << 20), fb.read(1 << 20)
            if ca != cb:
                n = min(len(ca), len(cb))
                return offset + next((i for i in range(n) if ca[i] != cb[i]), n)
            if not ca:
                return None
            offset += len(ca)


def compare(a: Path, b: Path) -> str:
    missing = [side for side, p in (("against", a), ("current", b)) if not p.is_file()]
    if missing:
        return f"DIFFERENT: missing in {' and '.join(missing)}"
    at = first_difference(a, b)
    if at is None:
        return "same"
    return (f"DIFFERENT at byte {at} (sizes {a.stat().st_size} vs {b.stat().st_size})")


def report(runs: Path) -> bool:
    """Print the table; True when every decisive file is the same."""
    all_same = True
    print(f"\n{'run':<16} {'file':<28} result")
    for name in RUNS:
        for file in COMPARED + INFORMATIONAL:
            result = compare(runs / "against" / name / file, runs / "current" / name / file)
            label = file + (" (info only)" if file in INFORMATIONAL else "")
            print(f"{name:<16} {label:<28} {result}")
            all_same &= file in INFORMATIONAL or result == "same"
    return all_same


def run_all(commit: str, tmp: Path, data: str) -> bool:
    worktree, runs = tmp / "against-tree", tmp / "runs"
    git("worktree", "add", "--detach", str(worktree), commit)
    sides = {"against": worktree / "src", "current": REPO / "src"}
    envs = {side: child_env(src, data) for side, src in sides.items()}
    print("code imported by the children:")
    for side, src in sides.items():
        check_import(side, src, envs[side], tmp)
    print("trainings:")
    for name in RUNS:
        for side in sides:
            train(side, name, envs[side], runs / side / name)
    return report(runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--against", required=True, metavar="COMMIT",
                    help="the commit whose trainings the working tree's must equal")
    ap.add_argument("--data", metavar="DIR",
                    help="dataset folder (default: $CHAINRULE_DATA, else ../shared/datasets)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the worktree and the run folders (their path is printed)")
    args = ap.parse_args()
    t0, tmp = time.perf_counter(), None
    try:
        commit, data = resolve_commit(args.against), data_folder(args.data)
        print(f"against:      {args.against} = {commit} ({git('describe', '--always', commit)})")
        print(f"working tree: {REPO}: {describe_tree()}")
        print(f"machine:      {describe_machine()}; Python {platform.python_version()}")
        print(f"date:         {datetime.now().astimezone().isoformat(timespec='seconds')}")
        print(f"data:         {data}")
        tmp = Path(tempfile.mkdtemp(prefix="same_bits-"))
        same = run_all(commit, tmp, data)
    except Failure as exc:
        print(f"same_bits: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if tmp is not None:
            cleanup(tmp, args.keep)
    verdict = "all identical" if same else "DIFFERENT"
    print(f"\n{verdict} ({time.perf_counter() - t0:.0f} s)")
    return 0 if same else 1


def cleanup(tmp: Path, keep: bool) -> None:
    worktree = tmp / "against-tree"
    if keep:
        print(f"kept: {tmp} (remove with: git -C {REPO} worktree remove --force {worktree})")
        return
    removed = not worktree.exists() or subprocess.run(
        ["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)],
        capture_output=True).returncode == 0
    shutil.rmtree(tmp, ignore_errors=True)
    if not removed:  # its folder is gone now: forget the worktree
        subprocess.run(["git", "-C", str(REPO), "worktree", "prune"], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
