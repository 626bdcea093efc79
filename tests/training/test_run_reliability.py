"""No lost runs: divergence that stays finite, files that agree with the checkpoint, the
folder lock, SIGTERM, checkpoints by time, a full disk, a bounded checkpoint."""

from __future__ import annotations

import errno
import json
import os
import signal
import time

import numpy as np
import pytest
from test_runs import CONFIG, blobs  # the same small run: 400 samples, 200 steps

from chainrule.training.build import check_memory
from chainrule.training.checkpoint import load_checkpoint
from chainrule.training.config import TrainConfig
from chainrule.training.folder import LOCK, STEP_LOSS, RunBusy, RunError, SaveError
from chainrule.training.loop import DIVERGENCE_FACTOR, TrainingDiverged, TrainingLoop
from chainrule.training.runs import Run


def config(**change) -> TrainConfig:
    return TrainConfig(**{**CONFIG.to_dict(), **change})


def reference(tmp_path, data, **change):
    run = Run.create(config(**change), tmp_path / "reference", data=data)
    run.train(plots=False, handle_sigint=False)
    return run


# ---------------------------------------------------------------- divergence


def test_a_loss_that_explodes_but_stays_finite_is_divergence():
    tr = TrainingLoop.from_config(config(lr=1e6, iters=50), blobs())
    with pytest.raises(TrainingDiverged) as info:
        tr.run(handle_sigint=False)
    exc = info.value
    assert np.isfinite(exc.loss) and exc.loss > DIVERGENCE_FACTOR * tr.history.step_loss[0]
    assert f"more than 1000 times the first step's ({tr.history.step_loss[0]:.4g})" in str(exc)
    assert "try a lower learning rate (now 1e+06)" in str(exc)
    assert tr.status == "diverged" and tr.iteration == exc.iteration


@pytest.mark.parametrize("change", [
    {}, {"lr": 0.5}, {"lr": 1.0}, {"optimizer": "adam"}, {"optimizer": "adam", "lr": 0.01},
    {"hidden": [32, 16], "weight_init_std": "he", "optimizer": "adagrad", "lr": 0.1},
    {"hidden": [32, 16], "batchnorm": True, "dropout": 0.2, "optimizer": "adam"},
])
def test_legitimate_runs_do_not_trip_the_divergence_rule(change):
    tr = TrainingLoop.from_config(config(iters=400, **change), blobs())
    tr.run(handle_sigint=False)  # raises TrainingDiverged if tripped
    assert max(tr.history.step_loss) < tr.loss_limit()


def test_the_divergence_rule_can_be_switched_off_but_nan_still_stops():
    data = blobs()
    tr = TrainingLoop.from_config(config(lr=1e6, iters=3), data, divergence_factor=None)
    tr.run(handle_sigint=False)
    assert tr.status == "completed"
    with pytest.raises(ValueError, match="divergence_factor"):
        TrainingLoop.from_config(CONFIG, data, divergence_factor=0.5)


def slow_evaluations(monkeypatch):
    """Evaluations that finish well after the next step: the row of iteration 0 is still
    pending when step 1 diverges (as on MNIST, where an evaluation takes 70 ms)."""
    accuracies = TrainingLoop._accuracies

    def slow(self, net, samples=None):
        time.sleep(0.2)
        return accuracies(self, net, samples)
    monkeypatch.setattr(TrainingLoop, "_accuracies", slow)


def test_divergence_keeps_files_that_agree_with_the_checkpoint(tmp_path, monkeypatch):
    """metrics.csv held the row of iteration 0, measured after step 0, while the
    checkpoint held iteration 0, before it; the message named iteration 1."""
    slow_evaluations(monkeypatch)
    run = Run.create(config(lr=1e30, eval_every=1000), tmp_path / "r", data=blobs())
    with pytest.raises(TrainingDiverged):
        run.train(plots=False, handle_sigint=False)
    assert run.checkpoint_iteration == load_checkpoint(run.path / "checkpoint.npz")[
        "iteration"] == 0
    lines = (run.path / "metrics.csv").read_text().splitlines()
    assert lines == ["iteration,epoch,loss,train_acc,test_acc"]
    assert json.loads((run.path / "summary.json").read_text())["evaluated_at"] == 0


# ---------------------------------------------------------------- signals and time


def test_sigterm_finishes_the_step_and_saves_like_ctrl_c(tmp_path):
    data = blobs()
    whole = reference(tmp_path, data)
    sent = []

    def term(trainer):
        if trainer.iteration == 61 and not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    cut = Run.create(CONFIG, tmp_path / "cut", data=data)
    summary = cut.train(on_progress=term, progress_every=1, plots=False)
    assert signal.getsignal(signal.SIGTERM) is before
    assert summary.status == "interrupted" and summary.iteration == 61
    assert summary.signal == "SIGTERM"
    assert json.loads((cut.path / "summary.json").read_text())["signal"] == "SIGTERM"
    again = Run.resume(cut.path, data=data)
    again.train(plots=False, handle_sigint=False)
    assert (again.path / "metrics.csv").read_bytes() == (whole.path / "metrics.csv").read_bytes()
    assert again.history.step_loss == whole.history.step_loss  # from step_loss.f64


def test_an_ignored_signal_stays_ignored():
    """nohup sets SIGHUP to be ignored: the run must not stop on it."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        def hup(trainer):
            if trainer.iteration == 5:
                os.kill(os.getpid(), signal.SIGHUP)

        tr = TrainingLoop.from_config(config(iters=30), blobs())
        tr.run(on_progress=hup, progress_every=1)
        assert tr.status == "completed" and tr.stopped_by is None
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_checkpoints_by_time_never_pass_an_unrecorded_evaluation():
    tr = TrainingLoop.from_config(config(iters=300, eval_every=7), blobs())
    seen = []

    def saved(trainer):
        due = [i for i in range(trainer.iteration) if i % trainer.eval_every == 0]
        seen.append((trainer.iteration, trainer.history.iteration == due))

    tr.run(handle_sigint=False, on_checkpoint=saved, checkpoint_every=1e-9)
    assert len(seen) >= 250 and all(ok for _, ok in seen)
    assert any(i % 7 != 1 for i, _ in seen)  # also between evaluations


def test_a_crash_between_evaluations_resumes_from_the_timed_checkpoint(tmp_path):
    """Only the time-based checkpoint (not an evaluation's) holds iteration 59."""
    data = blobs()
    whole = reference(tmp_path, data, eval_every=50)

    def crash(trainer):
        if trainer.iteration == 60:
            raise RuntimeError("power cut")

    cut = Run.create(config(eval_every=50), tmp_path / "cut", data=data)
    with pytest.raises(RuntimeError, match="power cut"):
        cut.train(on_progress=crash, progress_every=1, plots=False, checkpoint_every=1e-9)
    assert load_checkpoint(cut.path / "checkpoint.npz")["iteration"] == 59
    again = Run.resume(cut.path, data=data)
    again.train(plots=False, handle_sigint=False)
    assert (again.path / "metrics.csv").read_bytes() == (whole.path / "metrics.csv").read_bytes()
    assert (again.path / STEP_LOSS).read_bytes() == (whole.path / STEP_LOSS).read_bytes()


# ---------------------------------------------------------------- the lock


def test_one_run_at_a_time_in_a_folder(tmp_path):
    data = blobs()
    first = Run.create(CONFIG, tmp_path / "r", data=data)
    for attempt in (lambda: Run.create(CONFIG, tmp_path / "r", data=data),
                    lambda: Run.resume(tmp_path / "r", data=data)):
        with pytest.raises(RunBusy, match=f"pid {os.getpid()}|this process"):
            attempt()
    first.train(plots=False, handle_sigint=False)  # releases the lock when done
    with pytest.raises(RunError, match="already holds a run"):
        Run.create(CONFIG, tmp_path / "r", data=data)
    Run.resume(tmp_path / "r", data=data).close()
    assert (tmp_path / "r" / LOCK).read_text().strip() == str(os.getpid())


# ---------------------------------------------------------------- a full disk


def no_space_after(monkeypatch, calls: int, *, what=os, name="replace"):
    """``os.replace`` (or another) fails with ENOSPC after ``calls`` successful calls."""
    real, count = getattr(what, name), [0]

    def full(*args, **kwargs):
        count[0] += 1
        if count[0] > calls:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args, **kwargs)
    monkeypatch.setattr(what, name, full)


@pytest.mark.parametrize("name", ["replace", "fsync"])
def test_a_full_disk_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, name):
    data = blobs()
    whole = reference(tmp_path, data)
    cut = Run.create(CONFIG, tmp_path / "cut", data=data)
    before = load_checkpoint(cut.path / "checkpoint.npz")["iteration"]
    no_space_after(monkeypatch, 9, name=name)
    with pytest.raises(SaveError, match="No space left on device") as info:
        cut.train(plots=False, handle_sigint=False)
    monkeypatch.undo()
    kept = load_checkpoint(cut.path / "checkpoint.npz")["iteration"]
    assert before <= kept == cut.checkpoint_iteration < CONFIG.iters
    assert f"the last good checkpoint (iteration {kept}) is kept" in str(info.value)
    assert not [p for p in cut.path.iterdir() if p.name.endswith(".tmp")]
    rows = (cut.path / "metrics.csv").read_text().splitlines()[1:]
    assert all(int(r.split(",")[0]) < kept for r in rows)
    again = Run.resume(cut.path, data=data)
    again.train(plots=False, handle_sigint=False)
    assert (again.path / "metrics.csv").read_bytes() == (whole.path / "metrics.csv").read_bytes()


@pytest.mark.parametrize("exists", [False, True])
def test_a_run_that_fails_before_its_first_checkpoint_leaves_nothing(tmp_path, monkeypatch,
                                                                     exists):
    """A folder made for the run beforehand stays, empty; one the run made goes. (A
    folder holding other files is refused before anything is written: see
    tests/training/test_run_folders.py.)"""
    out = tmp_path / "r"
    if exists:
        out.mkdir()
    no_space_after(monkeypatch, 1)  # config.json is written, the checkpoint is not
    with pytest.raises(SaveError, match="the run had not started; nothing of it is kept"):
        Run.create(CONFIG, out, data=blobs())
    monkeypatch.undo()
    assert (list(out.iterdir()) == []) if exists else not out.exists()
    Run.create(CONFIG, out, data=blobs()).close()  # the folder can be used again


def test_a_folder_whose_run_never_checkpointed_can_be_resumed_or_reused(tmp_path):
    """SIGKILL between config.json and the first checkpoint leaves only config.json."""
    data = blobs()
    whole = reference(tmp_path, data)
    run = Run.create(CONFIG, tmp_path / "r", data=data)
    run.close()
    (run.path / "checkpoint.npz").unlink()
    again = Run.resume(run.path, data=data)
    assert again.loop.iteration == 0
    again.train(plots=False, handle_sigint=False)
    assert (again.path / "metrics.csv").read_bytes() == (whole.path / "metrics.csv").read_bytes()
    (run.path / "checkpoint.npz").unlink()
    Run.create(config(seed=3), run.path, data=data).close()
    assert json.loads((run.path / "config.json").read_text())["seed"] == 3


# ---------------------------------------------------------------- sizes


def test_the_checkpoint_does_not_grow_with_the_run(tmp_path):
    data = blobs()
    sizes = {}
    for iters in (200, 1200):
        run = Run.create(config(iters=iters), tmp_path / str(iters), data=data)
        run.train(plots=False, handle_sigint=False)
        sizes[iters] = (run.path / "checkpoint.npz").stat().st_size
        assert (run.path / STEP_LOSS).stat().st_size == 8 * iters
        assert np.fromfile(run.path / STEP_LOSS, "<f8").tolist() == run.history.step_loss
    # 1000 more steps: 40 bytes per evaluation's row (40 of them), nothing per step
    # (the checkpoint held every step's loss: 8 bytes a step, rewritten at every save)
    assert sizes[1200] - sizes[200] < 4 * 1000


def test_a_network_too_large_for_memory_is_refused_before_allocating():
    with pytest.raises(ValueError, match=r"784-1000000000-10 has 795,000,000,010 parameters "
                                         r"\(3\.2 TB in float32\); training it needs about"):
        check_memory([784, 10**9, 10], "float32", batch=100)
    check_memory([784, 50, 10], "float32", batch=2000, available=10**8)  # fits
    with pytest.raises(ValueError, match="more than this machine's 1.0 MB of memory"):
        check_memory([784, 50, 10], "float32", batch=2000, available=10**6)
    with pytest.raises(ValueError, match="parameters"):
        TrainingLoop.from_config(config(hidden=10**9), blobs())


def test_a_folder_that_cannot_be_locked_is_one_error(tmp_path, monkeypatch):
    run = Run.create(CONFIG, tmp_path / "r", data=blobs())
    run.close()
    (run.path / LOCK).unlink()
    real = os.open

    def read_only(path, flags, *args):
        if str(path).endswith(LOCK):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real(path, flags, *args)
    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(RunError, match="cannot lock .* for training .*Read-only file system"):
        Run.resume(run.path, data=blobs())


def test_a_run_finished_meanwhile_is_refused_and_left_alone(tmp_path, monkeypatch):
    """Between the first look at the folder and its lock, another process may have
    started a run there: the refusal must not clean up that run's files."""
    import chainrule.training.runs as runs

    first = Run.create(CONFIG, tmp_path / "r", data=blobs())
    first.close()
    before = {p.name: p.read_bytes() for p in first.path.iterdir()}
    refuse = runs.refuse_a_run
    monkeypatch.setattr(runs, "refuse_a_run",
                        lambda path, locked=False: refuse(path, locked=True) if locked else None)
    with pytest.raises(RunError, match="already holds a run"):
        Run.create(CONFIG, tmp_path / "r", data=blobs())
    assert {p.name: p.read_bytes() for p in first.path.iterdir()} == before


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, "[1, 2]", '"a string"'])
def test_resume_refuses_a_hostile_config_json_in_one_line(tmp_path, text):
    """A config.json nested thousands deep, or not an object, is a RunError, not a
    RecursionError or AttributeError from the library."""
    from chainrule.training.folder import RunError
    from chainrule.training.runs import Run

    (tmp_path / "config.json").write_text(text)
    with pytest.raises(RunError, match="config.json"):
        Run.resume(tmp_path)
