"""chainrule.training.live (a run in a thread, as events) and the lab's first network."""

from __future__ import annotations

import math

import pytest

from chainrule.training.config import TrainConfig
from chainrule.training.history import History
from chainrule.training.live import LiveRuns, TrainingBusy, learning_check, not_learning

SMALL = TrainConfig(dataset="digits", hidden=10, iters=100, eval_every=50)


def test_events_listeners_and_one_run_at_a_time(tmp_path):
    runs = LiveRuns(tmp_path / "runs")
    heard = []
    live = runs.start(TrainConfig(dataset="digits", hidden=10, iters=20000), plots=False)
    past, unsubscribe = live.subscribe(heard.append)
    with pytest.raises(TrainingBusy, match="already in progress"):
        runs.start(SMALL)
    assert runs.active() is live
    live.stop()
    assert live.join(30) and live.status == "stopped" and live.has_model
    unsubscribe()
    assert past + heard == live.events and live.events[-1]["type"] == "end"
    assert runs.get(live.id) is live and runs.active() is None
    broken = runs.start(SMALL, plots=False)
    broken.subscribe(lambda e: 1 / 0)  # a failing listener is dropped; training goes on
    assert broken.join(30) and broken.status == "completed"
    with pytest.raises(ValueError, match="unknown dataset"):
        runs.start(TrainConfig(dataset="cifar"))


def test_a_full_disk_fails_in_one_line_and_frees_the_folder(tmp_path, monkeypatch, capsys):
    """A file that cannot be written (SaveError) ends the run as failed, in one line; the
    folder's lock is released by the end event, so --resume can finish the job."""
    import errno

    from chainrule.cli import main
    from chainrule.training import checkpoint
    from chainrule.training.folder import RunLock

    real = checkpoint.save_model

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "save_model", full_disk)
    live = LiveRuns(tmp_path).start(SMALL, tmp_path / "r", plots=False)
    assert live.join(30) and live.status == "failed"
    end = live.events[-1]
    assert end["type"] == "end" and end["model"] is False and "\n" not in end["message"]
    assert end["message"].startswith(f"cannot write {tmp_path / 'r' / 'model.npz'}: No space")
    assert "the last good checkpoint (iteration 100) is kept" in end["message"]
    RunLock.check(tmp_path / "r")  # free
    monkeypatch.setattr(checkpoint, "save_model", real)
    assert main(["train", "--resume", str(tmp_path / "r"), "-q", "--no-plot"]) == 0
    capsys.readouterr()
    assert (tmp_path / "r" / "model.npz").is_file()


def test_a_run_that_cannot_load_its_data_fails_in_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    live = LiveRuns(tmp_path).start(TrainConfig(iters=10), tmp_path / "r", download=False)
    assert live.join(30) and live.status == "failed"
    end = live.events[-1]
    assert end["type"] == "end" and "MNIST not found" in end["message"]
    assert "\n" not in end["message"] and end["model"] is False


def test_not_learning_names_the_likely_cause():
    def history(losses, accs):
        h = History()
        for i, (loss, acc) in enumerate(zip(losses, accs, strict=True)):
            h.append({"iteration": 100 * i, "epoch": i, "loss": loss, "train_acc": acc,
                      "test_acc": acc})
        h.step_loss = list(losses)
        return h

    config = TrainConfig(lr=10).resolved()
    high = history([2.3, 40.0, 2.36], [0.1, 0.1, 0.098])
    assert "too high" in not_learning(high, config)
    assert learning_check(high, config) == {
        "cause": "high", "iterations": 201, "accuracy": 0.098, "first_loss": 2.3,
        "worst_loss": 40.0, "worst_at": 2, "last_loss": 2.36, "lr": 10.0}
    assert "the mini-batch loss jumped from 2.3 (step 1) to 40 (step 2)" in not_learning(
        high, config)
    low = not_learning(history([2.303, 2.302, 2.302], [0.08, 0.09, 0.1]),
                       TrainConfig(lr=1e-6).resolved())
    assert "barely moved" in low and "larger learning rate" in low
    assert not_learning(history([2.3, 0.5, 0.3], [0.1, 0.8, 0.9]), config) == ""
    # the network as saved, measured after the last row, has the last word
    from chainrule.training.runs import Summary

    def measured(acc: float) -> Summary:
        return Summary("completed", 300, 300, acc, acc, 300, 1.0, 300, 300.0)

    final = learning_check(high, config, summary=measured(0.113))
    assert final["iterations"] == 300 and final["accuracy"] == 0.113
    assert "after 300 iterations the accuracy is 0.113" in not_learning(
        high, config, summary=measured(0.113))
    assert learning_check(high, config, summary=measured(0.9)) is None
    assert not_learning(history([2.3], [0.1]), config) == ""  # one evaluation says nothing
    assert not_learning(history([2.3, 2.3], [math.nan, math.nan]), config) == ""


@pytest.fixture
def no_mnist(monkeypatch):
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    monkeypatch.delenv("CHAINRULE_OFFLINE", raising=False)


def test_first_network_on_mnist(tmp_path, real_data_root):
    pytest.importorskip("starlette")
    from chainrule.web.netlab_state import NetLab

    lab = NetLab(None, runs_dir=tmp_path / "runs", first_root=tmp_path / "first",
                 data_dir=real_data_root / "mnist", download=False, plots=False,
                 first_iters={"mnist": 200})
    assert lab.status == "new"
    lab.start()
    assert lab.info()["status"] == "training" and lab.first_run.config.dataset == "mnist"
    assert lab.first_run.join(60)
    info = lab.info()
    assert info["status"] == "ready" and info["model"]["description"] == "TwoLayerNet 784-50-10"
    assert info["model"]["iterations"] == 200 and info["model"]["test_acc"] > 0.8
    assert info["model"]["source"] == "first"
    again = NetLab(None, runs_dir=tmp_path / "runs", first_root=tmp_path / "first",
                   download=False)
    again.start()  # kept in first_root: ready at once, nothing trained
    assert again.status == "ready" and again.first_run is None


def test_first_network_falls_back_to_digits(tmp_path, no_mnist, monkeypatch):
    pytest.importorskip("starlette")
    from chainrule.web.netlab_state import NetLab

    # downloading is allowed but fails at once (a closed port on this machine)
    monkeypatch.setenv("CHAINRULE_MIRRORS", "http://127.0.0.1:9/")
    lab = NetLab(None, runs_dir=tmp_path / "runs", first_root=tmp_path / "first",
                 download=True, plots=False, first_iters={"mnist": 50, "digits": 300})
    lab.start()
    first = lab.first_run
    assert first.config.dataset == "mnist"
    assert first.join(60) and first.status == "failed"
    assert lab.first_run is not first and lab.first_run.join(60)
    assert lab.status == "ready" and lab.model.dataset == "digits"
    assert lab.model.image_shape == (8, 8)


def test_no_network_at_all_says_what_to_do(tmp_path, no_mnist, monkeypatch):
    pytest.importorskip("starlette")
    from chainrule.data import load
    from chainrule.web.netlab_state import NetLab

    def no_sklearn():
        raise ImportError("dataset='digits' needs scikit-learn: pip install 'chainrule[digits]'")

    monkeypatch.setattr(load, "_digits", no_sklearn)
    lab = NetLab(None, runs_dir=tmp_path / "runs", first_root=tmp_path / "first",
                 download=False, plots=False)
    lab.start()
    assert lab.first_run.config.dataset == "digits"  # no MNIST and no download: digits
    assert lab.first_run.join(30)
    assert lab.status == "unavailable"
    assert "--model RUN_DIR" in lab.message and "chainrule[digits]" in lab.message
    from chainrule.web.kit import RequestError

    with pytest.raises(RequestError, match="no network to show") as refused:
        lab.current()
    assert refused.value.status == 409


def test_a_snapshot_function_sends_the_network_between_steps(tmp_path):
    """LiveRun(snapshot=fn): fn(net) after the created event and after every progress
    event, as a snapshot event with the iteration (what the convnet lab's filters use)."""
    seen = []

    def snapshot(net):
        seen.append(net.params["W1"].copy())
        return {"first": float(net.params["W1"].ravel()[0])}

    live = LiveRuns(tmp_path / "runs").start(SMALL, plots=False, progress_every=25,
                                             snapshot=snapshot)
    assert live.join(30) and live.status == "completed"
    snaps = [e for e in live.events if e["type"] == "snapshot"]
    progress = [e for e in live.events if e["type"] == "progress"]
    assert [e["iteration"] for e in snaps] == [0, 25, 50, 75, 100]
    assert [e["iteration"] for e in progress] == [25, 50, 75, 100]
    assert [e["first"] for e in snaps] == [float(w.ravel()[0]) for w in seen]
    assert seen[0].tolist() != seen[-1].tolist()  # the weights moved between snapshots
    kinds = [e["type"] for e in live.events]
    assert kinds.index("snapshot") == kinds.index("created") + 1 and kinds[-1] == "end"
