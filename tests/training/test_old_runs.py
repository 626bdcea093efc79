"""A run folder written by chainrule 0.1.0 (before the package had floors) still works:
evaluated, predicted with, resumed and served (``tests/fixtures/run-0.1.0``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.training.checkpoint import load_checkpoint, read_model
from chainrule.training.runs import Run

OLD = Path(__file__).resolve().parents[1] / "fixtures" / "run-0.1.0"


@pytest.fixture
def old_run(tmp_path) -> Path:
    """A copy: nothing may write into the fixture."""
    return Path(shutil.copytree(OLD, tmp_path / "run-0.1.0"))


def test_the_fixture_is_what_0_1_0_wrote():
    names = sorted(p.name for p in OLD.iterdir())
    assert names == ["accuracy.png", "checkpoint.npz", "config.json", "loss.png",
                     "metrics.csv", "model.npz", "step_loss.f64", "summary.json"]
    model = read_model(OLD / "model.npz")
    assert model.config == {"class": "TwoLayerNet", "input_size": 784, "hidden_size": 10,
                            "output_size": 10}
    assert load_checkpoint(OLD / "checkpoint.npz")["iteration"] == 120


def test_evaluate_reads_it(old_run, real_data_root, capsys):
    assert main(["evaluate", str(old_run), "--data-dir", str(real_data_root / "mnist"),
                 "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "TwoLayerNet 784-10-10" in out and "accuracy 0.5899 (5899 of 10000)" in out


def test_predict_reads_it(old_run, mnist_arrays, tmp_path, capsys):
    from PIL import Image

    _, (x_test, t_test) = mnist_arrays
    picture = tmp_path / "seven.png"
    Image.fromarray((x_test[0].reshape(28, 28) * 255).astype(np.uint8)).save(picture)
    assert t_test[0] == 7
    assert main(["predict", str(old_run), str(picture)]) == 0
    assert "seven.png: 7" in capsys.readouterr().out


def test_resume_continues_it_exactly(old_run, real_data_root, tmp_path, capsys):
    data = str(real_data_root / "mnist")
    assert main(["train", "--resume", str(old_run), "--iters", "240", "--data-dir", data,
                 "--no-plot", "-q"]) == 0
    whole = tmp_path / "whole"
    assert main(["train", "--hidden", "10", "--iters", "240", "--seed", "0", "--out",
                 str(whole), "--data-dir", data, "--no-plot", "-q"]) == 0
    for name in ("metrics.csv", "step_loss.f64", "model.npz"):
        assert (old_run / name).read_bytes() == (whole / name).read_bytes(), name
    with Run.resume(old_run) as run:
        assert run.loop.iteration == 240 and run.loop.done


def test_the_lab_serves_it(old_run):
    import warnings

    from chainrule.web import create_app

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx`")
        from starlette.testclient import TestClient

    with TestClient(create_app(model=str(old_run), plots=False)) as client:
        info = client.get("/api/model").json()
        assert info["model"]["description"] == "TwoLayerNet 784-10-10"
        answer = client.post("/api/predict", json={"pixels": [0.0] * 784}).json()
        assert len(answer["probabilities"]) == 10
