"""``chainrule train`` as processes meet it: signals at random moments, two at once, a full
disk, a network too large, a loss that explodes."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chainrule.cli import main
from chainrule.training.checkpoint import load_checkpoint

pytest.importorskip("sklearn", reason="the digits dataset needs scikit-learn")

DIGITS = ["train", "--dataset", "digits", "--no-plot", "-q"]


def cli(*argv) -> list[str]:
    return [sys.executable, "-m", "chainrule", *map(str, argv)]


def started(proc: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until the process has made its run folder and starts training."""
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        if line.startswith("run folder:"):
            return
        assert time.monotonic() < deadline, "the run did not start"
    raise AssertionError(f"the run ended before it started: {proc.stderr.read()}")


def test_signals_at_random_moments_then_resume_give_the_same_files(tmp_path, capsys):
    """SIGINT and SIGTERM save and exit 130 and 143; SIGKILL loses at most the steps
    since the last checkpoint (taken every 0.05 s here). Resumed, each run ends with the
    metrics.csv and step_loss.f64 of an uninterrupted one, byte for byte."""
    args = [*DIGITS, "--iters", 3000, "--eval-every", 400, "--checkpoint-every", 0.05]
    rng = random.Random()
    cuts = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        out = tmp_path / sig.name
        proc = subprocess.Popen(cli(*[a for a in args if a != "-q"], "--out", out),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        cuts[sig] = (out, proc)
    interrupted = 0
    try:
        for sig, (_, proc) in cuts.items():
            started(proc)
            time.sleep(rng.uniform(0.05, 0.25))
            proc.send_signal(sig)
        for sig, (out, proc) in cuts.items():
            _, err = proc.communicate(timeout=60)
            expected = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -9}[sig]
            if proc.returncode == 0:  # it finished before the signal came
                continue
            summary = out / "summary.json"
            if proc.returncode == -sig and summary.exists() and json.loads(
                    summary.read_text())["status"] == "completed":
                continue  # it came after the run was saved, as the process exited
            interrupted += 1
            assert proc.returncode == expected, err
            if sig != signal.SIGKILL:
                assert f"interrupted by {sig.name} after" in err
                assert f"resume with: chainrule train --resume {out}" in err
    finally:
        for _, proc in cuts.values():
            proc.kill()
    assert interrupted >= 2
    assert main([*map(str, args), "--out", str(tmp_path / "whole")]) == 0
    whole = tmp_path / "whole"
    for out, _ in cuts.values():
        assert main(["train", "--resume", str(out), "-q"]) == 0, capsys.readouterr().err
        for name in ("metrics.csv", "step_loss.f64"):
            assert (out / name).read_bytes() == (whole / name).read_bytes(), (out, name)


def test_a_second_process_in_the_same_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "r"
    proc = subprocess.Popen(cli(*DIGITS[:-1], "--iters", 10**7, "--out", out),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started(proc)
        for argv in ([*DIGITS, "--out", out], ["train", "--resume", out, "-q"]):
            assert main([str(a) for a in argv]) == 2
            err = capsys.readouterr().err
            assert err.startswith("chainrule train: error: ") and err.count("\n") == 1
            assert f"is in use by another chainrule process (pid {proc.pid})" in err
        proc.send_signal(signal.SIGKILL)  # the lock dies with its process
        proc.wait(timeout=30)
    finally:
        proc.kill()
    done = load_checkpoint(out / "checkpoint.npz")["iteration"]
    assert main(["train", "--resume", str(out), "--iters", str(done + 5), "-q"]) == 0


def test_an_exploding_loss_stops_with_the_checkpoints_iteration(tmp_path, monkeypatch,
                                                                capsys):
    """--lr 1e6 took the loss to 1e27, finite, and the run "completed" at 10%."""
    from chainrule.training.loop import TrainingLoop

    accuracies = TrainingLoop._accuracies

    def slow(self, net, samples=None):  # the row of step 0 is pending at step 1
        time.sleep(0.2)
        return accuracies(self, net, samples)
    monkeypatch.setattr(TrainingLoop, "_accuracies", slow)
    out = tmp_path / "r"
    assert main([*DIGITS, "--lr", "1e6", "--iters", "500", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "training diverged at iteration 1: the loss is" in err
    assert "more than 1000 times the first step's (2.30" in err
    assert "The last good checkpoint (iteration 0, the start) is kept" in err
    assert "Traceback" not in err and "RuntimeWarning" not in err
    assert (out / "metrics.csv").read_text().count("\n") == 1  # the header only


def test_a_full_disk_is_one_line_and_the_checkpoint_stays(tmp_path, monkeypatch, capsys):
    real, count = os.replace, [0]

    def replace(*args):
        count[0] += 1
        if count[0] > 6:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args)
    monkeypatch.setattr(os, "replace", replace)
    out = tmp_path / "r"
    assert main([*DIGITS, "--iters", "100", "--eval-every", "20", "--out", str(out)]) == 74
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "No space left on device; the last good checkpoint (iteration" in err
    assert f"resume with: chainrule train --resume {out}" in err
    monkeypatch.undo()
    assert 0 < load_checkpoint(out / "checkpoint.npz")["iteration"] < 100
    assert main(["train", "--resume", str(out), "-q"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["--hidden", "1000000000"],
     "the network 64-1000000000-10 has 75,000,000,010 parameters (300.0 GB in float32)"),
    (["--checkpoint-every", "-1"], "--checkpoint-every must be a number of seconds >= 0"),
    (["--checkpoint-every", "nan"], "--checkpoint-every must be a number of seconds >= 0"),
])
def test_bad_sizes_get_one_line_and_no_folder(tmp_path, capsys, argv, message):
    assert main([*DIGITS, *argv, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chainrule train: error: ") and message in err
    assert err.count("\n") == 1 and not (tmp_path / "r").exists()


def test_files_of_a_run_folder_are_listed(tmp_path, capsys):
    out = tmp_path / "r"
    assert main([*DIGITS[:-1], "--iters", "30", "--out", str(out)]) == 0
    listed = capsys.readouterr().out.split(f"wrote {out}/: ")[1].split("\n")[0]
    assert "step_loss.f64" in listed and ".run.lock" not in listed
    assert Path(out / ".run.lock").read_text().strip().isdigit()
