"""Run folders: the files, resuming exactly, a NaN loss keeping the last good checkpoint."""

from __future__ import annotations

import json
import math
import os
import signal

import numpy as np
import pytest

from chainrule.data.catalog import image_shape
from chainrule.data.load import Data
from chainrule.training.checkpoint import load_checkpoint, load_model
from chainrule.training.config import TrainConfig
from chainrule.training.folder import RunError, find_model, new_run_dir
from chainrule.training.loop import TrainingDiverged
from chainrule.training.runs import Run, train


def blobs(n_train=400, n_test=100, dim=16, classes=4, seed=0) -> Data:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (classes, dim))
    def make(n):
        t = rng.integers(0, classes, n)
        return (centres[t] + rng.normal(0, 0.8, (n, dim))).astype(np.float32), t
    return Data(*make(n_train), *make(n_test))


CONFIG = TrainConfig(dataset="digits", hidden=8, batch_size=10, iters=200, eval_every=25)


def test_a_run_writes_every_file(tmp_path):
    run = Run.create(CONFIG, tmp_path / "run", data=blobs())
    summary = run.train(plots=True, handle_sigint=False)
    assert run.files() == ["config.json", "metrics.csv", "checkpoint.npz", "step_loss.f64",
                           "model.npz", "summary.json", "accuracy.png", "loss.png"]
    config = json.loads((run.path / "config.json").read_text())
    assert config["seed"] == 0 and config["lr"] == 0.1 and config["net"]["hidden_size"] == 8
    assert config["iters_per_epoch"] == 40 and config["evaluate_every"] == 25
    lines = (run.path / "metrics.csv").read_text().splitlines()
    assert lines[0] == "iteration,epoch,loss,train_acc,test_acc" and len(lines) == 9
    assert summary.status == "completed" and summary.iteration == 200
    assert summary.evaluated_at == 200 and summary.test_acc > 0.8
    saved = json.loads((run.path / "summary.json").read_text())
    assert saved["status"] == "completed" and saved["it_per_s"] > 0
    net = load_model(run.path / "model.npz")
    x = run.loop.x_test
    assert np.array_equal(net.predict(x), run.net.predict(x))
    for png in ("accuracy.png", "loss.png"):
        assert (run.path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sigint_then_resume_gives_the_same_files(tmp_path):
    data = blobs()
    whole = Run.create(CONFIG, tmp_path / "whole", data=data)
    whole.train(plots=False, handle_sigint=False)

    sent = []

    def ctrl_c(trainer):
        if trainer.iteration == 77 and not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGINT)

    cut = Run.create(CONFIG, tmp_path / "cut", data=data)
    summary = cut.train(on_progress=ctrl_c, progress_every=1, plots=False)
    assert summary.status == "interrupted" and summary.iteration == 77
    assert load_checkpoint(cut.path / "checkpoint.npz")["iteration"] == 77
    assert (cut.path / "model.npz").exists()

    again = Run.resume(cut.path, data=data)
    assert again.loop.iteration == 77
    assert again.train(plots=False, handle_sigint=False).status == "completed"
    for name in ("metrics.csv",):
        assert (again.path / name).read_text() == (whole.path / name).read_text()
    a, b = load_model(again.path / "model.npz"), load_model(whole.path / "model.npz")
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


def test_resume_to_a_longer_run_equals_the_longer_run(tmp_path):
    data = blobs()
    short = Run.create(CONFIG, tmp_path / "short", data=data)
    short.train(plots=False, handle_sigint=False)
    longer = Run.resume(short.path, iters=300, data=data)
    longer.train(plots=False, handle_sigint=False)
    ref = Run.create(TrainConfig(**{**CONFIG.to_dict(), "iters": 300}), tmp_path / "ref",
                     data=data)
    ref.train(plots=False, handle_sigint=False)
    assert (longer.path / "metrics.csv").read_text() == (ref.path / "metrics.csv").read_text()
    assert json.loads((longer.path / "config.json").read_text())["iters"] == 300
    with pytest.raises(RunError, match="already at iteration 300"):
        Run.resume(short.path, iters=100, data=data)


def test_nan_loss_keeps_the_last_good_checkpoint(tmp_path):
    config = TrainConfig(**{**CONFIG.to_dict(), "lr": 1e30})
    run = Run.create(config, tmp_path / "nan", data=blobs())
    with pytest.raises(TrainingDiverged) as info:
        run.train(plots=False, handle_sigint=False)
    state = load_checkpoint(run.path / "checkpoint.npz")
    assert state["iteration"] <= info.value.iteration
    assert all(np.isfinite(p).all() for p in state["params"].values())
    assert run.summary.status == "diverged" and "diverged" in run.summary.message
    assert json.loads((run.path / "summary.json").read_text())["status"] == "diverged"
    assert not (run.path / "model.npz").exists()


def test_create_refuses_an_existing_run_and_a_too_large_batch(tmp_path):
    Run.create(CONFIG, tmp_path / "r", data=blobs())
    with pytest.raises(RunError, match="already holds a run"):
        Run.create(CONFIG, tmp_path / "r", data=blobs())
    with pytest.raises(RunError, match="batch size 1000 is larger than the training set"):
        Run.create(TrainConfig(batch_size=1000), tmp_path / "b", data=blobs())


def test_resume_errors(tmp_path):
    with pytest.raises(RunError, match="not a run folder"):
        Run.resume(tmp_path, data=blobs())
    run = Run.create(CONFIG, tmp_path / "r", data=blobs())
    run.close()  # a created run holds its folder until it is trained or closed
    with pytest.raises(RunError, match="400 training"):
        Run.resume(run.path, data=blobs(n_train=300))


def test_train_function_for_notebooks(tmp_path):
    run = train(out=tmp_path / "nb", data=blobs(), plots=False, dataset="digits", hidden=8,
                batch_size=10, iters=60, eval_every=20)
    assert len(run.history) == 3 and run.summary.status == "completed"
    with pytest.raises(TypeError, match="unknown option"):
        train(out=tmp_path / "x", data=blobs(), colour="red")


def test_train_function_builds_a_multilayernet_from_options(tmp_path):
    from chainrule.nn.multilayer import MultiLayerNet

    run = train(out=tmp_path / "deep", data=blobs(), plots=False, dataset="digits",
                hidden=[16, 8], batchnorm=True, dropout=0.1, optimizer="adam", batch_size=10,
                iters=40, eval_every=20)
    assert isinstance(run.net, MultiLayerNet) and run.config.lr == 0.001
    saved = json.loads((run.path / "config.json").read_text())
    assert saved["net"]["hidden_size_list"] == [16, 8] and saved["weight_init_std"] == "he"
    assert isinstance(load_model(run.path / "model.npz"), MultiLayerNet)


def test_find_model_and_helpers(tmp_path):
    run = Run.create(CONFIG, tmp_path / "r", data=blobs())
    assert find_model(run.path) == (run.path / "checkpoint.npz", json.loads(
        (run.path / "config.json").read_text()))
    with pytest.raises(RunError, match="no such run folder or model file"):
        find_model(tmp_path / "missing")
    assert image_shape("mnist", 784) == [28, 28] and image_shape("digits", 64) == [8, 8]
    assert image_shape("x", 20) is None
    a, b = new_run_dir(tmp_path / "runs"), new_run_dir(tmp_path / "runs")
    assert a != b and a.is_dir() and b.is_dir()


def test_summary_json_has_no_nan(tmp_path):
    data = blobs()
    run = Run.create(CONFIG, tmp_path / "r", data=Data(data.x_train, data.t_train))
    run.train(plots=False, handle_sigint=False)
    saved = json.loads((run.path / "summary.json").read_text())
    assert saved["test_acc"] is None and math.isfinite(saved["train_acc"])


def test_zero_steps_report_the_network_as_made(tmp_path):
    """``--iters 0`` trains nothing: the summary gives the untrained network's accuracies
    (about chance), not NaN."""
    data = blobs()
    run = Run.create(TrainConfig(dataset="digits", hidden=8, batch_size=10, iters=0),
                     tmp_path / "run", data=data)
    summary = run.train(plots=False, handle_sigint=False)
    assert summary.status == "completed" and summary.iteration == 0
    assert summary.evaluated_at == 0
    expected = float(np.mean(np.argmax(run.net.predict(data.x_test), axis=1) == data.t_test))
    assert summary.test_acc == pytest.approx(expected) and 0 <= summary.train_acc <= 1
