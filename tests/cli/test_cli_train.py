"""``chainrule train | evaluate | predict | gradcheck`` as a user runs them."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.training.checkpoint import load_checkpoint, load_model

pytest.importorskip("sklearn", reason="the digits dataset needs scikit-learn")

DIGITS = ["train", "--dataset", "digits", "--eval-every", "20", "--no-plot"]


def cli(*argv) -> list[str]:
    return [sys.executable, "-m", "chainrule", *map(str, argv)]


def params_equal(a: Path, b: Path) -> bool:
    na, nb = load_model(a), load_model(b)
    return all(np.array_equal(na.params[k], nb.params[k]) for k in na.params)


def test_sigint_then_resume_equals_an_uninterrupted_run(tmp_path):
    """Ctrl-C: exit 130 with a checkpoint; --resume ends with the same metrics.csv."""
    cut, whole = tmp_path / "cut", tmp_path / "whole"
    proc = subprocess.Popen(cli(*DIGITS, "--iters", 10**7, "--out", cut),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        for line in proc.stdout:  # not a terminal: one plain line per evaluation
            if line.startswith("epoch") or time.monotonic() > deadline:
                break
        time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert f"resume with: chainrule train --resume {cut}" in err
    done = load_checkpoint(cut / "checkpoint.npz")["iteration"]
    assert 0 < done < 10**7 and (cut / "model.npz").exists()

    total = done + 70
    resumed = subprocess.run(cli("train", "--resume", cut, "--iters", total, "--no-plot"),
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming at iteration {done}" in resumed.stdout
    fresh = subprocess.run(cli(*DIGITS, "--iters", total, "--out", whole, "-q"),
                           capture_output=True, text=True)
    assert fresh.returncode == 0, fresh.stderr
    assert (cut / "metrics.csv").read_text() == (whole / "metrics.csv").read_text()
    assert params_equal(cut / "model.npz", whole / "model.npz")


def test_a_short_run_prints_the_books_lines_and_writes_the_files(tmp_path, capsys):
    assert main([*DIGITS, "--iters", "61", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "TwoLayerNet 64-50-10 on digits (1438 train, 359 test), sgd lr 0.1" in out
    assert "seed 0" in out and out.count("\nepoch ") == 4
    assert "final: train acc" in out and "it/s" in out and f"wrote {tmp_path / 'r'}" in out
    assert "\nresult: status=completed iterations=61 train_acc=0." in out  # for scripts
    assert {"config.json", "metrics.csv", "model.npz", "checkpoint.npz", "summary.json"} <= {
        p.name for p in (tmp_path / "r").iterdir()}


def test_same_seed_same_metrics(tmp_path, capsys):
    for name in "ab":
        assert main([*DIGITS, "--iters", "50", "--seed", "7", "-q",
                     "--out", str(tmp_path / name)]) == 0
    assert (tmp_path / "a/metrics.csv").read_text() == (tmp_path / "b/metrics.csv").read_text()
    assert json.loads((tmp_path / "a/config.json").read_text())["seed"] == 7


def test_progress_bar_on_a_terminal(tmp_path, capsys, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert main([*DIGITS, "--iters", "120", "--out", str(tmp_path / "r")]) == 0
    bar = term.getvalue()
    assert "train: 100%" in bar and "120/120" in bar and ", test 0." in bar
    assert capsys.readouterr().out.count("\nepoch ") == 6  # lines still go to stdout


@pytest.mark.parametrize("argv, message", [
    (["--lr", "-1"], "--lr must be a finite number > 0, got -1.0"),
    (["--lr", "inf"], "--lr must be a finite number > 0, got inf"),
    (["--epochs", "1e308"], "--epochs must be a finite number from 0 to 1,000,000,000, got 1e+308"),
    (["--iters", "10000000000"], "--iters must be from 0 to 1,000,000,000, got 10000000000"),
    (["--batch-size", "5000"], "batch size 5000 is larger than the training set (1438"),
    (["--dataset", "cifar"], "unknown dataset 'cifar'"),
    (["--hidden", "0"], "--hidden must be >= 1"),
    (["--eval-every", "0"], "--eval-every must be >= 1"),
    (["--resume", "no/such/run"], "no/such/run is not a readable run folder"),
])
def test_bad_flags_get_one_line(argv, message, capsys):
    assert main([*DIGITS, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chainrule train: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_resume_rejects_contradicting_flags_and_refuses_to_overwrite(tmp_path, capsys):
    run = str(tmp_path / "r")
    assert main([*DIGITS, "--iters", "30", "-q", "--out", run]) == 0
    assert main(["train", "--resume", run, "--lr", "0.5"]) == 2
    assert "--lr 0.5 contradicts the run's lr 0.1" in capsys.readouterr().err
    assert main(["train", "--resume", run, "--eval-every", "20", "--dataset", "digits",
                 "-q"]) == 0  # the same values are fine
    assert "already complete" in capsys.readouterr().out
    assert main([*DIGITS, "--out", run]) == 2
    assert "already holds a run" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--iters", "5", "--epochs", "1"])


def test_nan_loss_stops_with_a_hint_and_keeps_the_checkpoint(tmp_path, capsys):
    run = tmp_path / "r"
    assert main([*DIGITS, "--iters", "500", "--lr", "1e30", "--out", str(run)]) == 1
    err = capsys.readouterr().err
    assert "training diverged at iteration" in err and "try a lower --lr (now 1e+30)" in err
    assert "Traceback" not in err and "RuntimeWarning" not in err
    state = load_checkpoint(run / "checkpoint.npz")
    assert all(np.isfinite(p).all() for p in state["params"].values())


def test_evaluate_a_run_folder_and_a_model_file(tmp_path, capsys):
    run = tmp_path / "r"
    assert main([*DIGITS, "--iters", "200", "-q", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    assert "on the digits test set (359 images)" in out and "confusion matrix" in out
    assert (run / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["evaluate", str(run / "model.npz"), "--dataset", "digits", "--no-plot",
                 "--split", "train"]) == 0
    assert "train set (1438 images)" in capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2


def test_gradcheck_full_on_a_small_net_and_failure_exit_code(monkeypatch, capsys):
    assert main(["gradcheck", "--dataset", "digits", "--hidden", "4", "--full"]) == 0
    out = capsys.readouterr().out
    assert "every one of the 310 coordinates" in out and "gradient check passed" in out

    from chainrule.nn.two_layer import TwoLayerNet

    right = TwoLayerNet.gradient
    monkeypatch.setattr(TwoLayerNet, "gradient",
                        lambda self, x, t: {k: 1.01 * g for k, g in right(self, x, t).items()})
    assert main(["gradcheck", "--dataset", "digits", "--hidden", "4"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_gradcheck_default_on_mnist_is_quick_and_passes(real_data_root, monkeypatch, capsys):
    monkeypatch.setenv("CHAINRULE_DATA", str(real_data_root))
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    assert "TwoLayerNet 784-50-10, the first 3 mnist training images" in out
    for name in ("W1", "b1", "W2", "b2", "direction"):
        assert f"\n{name} " in out
    assert float(out.rsplit("took ", 1)[1].split()[0]) < 1.0


@pytest.fixture(scope="module")
def mnist_model(mnist_arrays, tmp_path_factory):
    """A TwoLayerNet trained 600 steps on real MNIST, in a run folder."""
    from chainrule.data.load import Data
    from chainrule.training.config import TrainConfig
    from chainrule.training.runs import Run

    (x, t), (xt, tt) = mnist_arrays
    run = Run.create(TrainConfig(iters=600, eval_every=600), tmp_path_factory.mktemp("m"),
                     data=Data(*(np.asarray(a) for a in (x, t, xt, tt))))
    run.train(plots=False, handle_sigint=False)
    return run


def test_predict_a_real_mnist_test_digit(mnist_model, mnist_arrays, tmp_path, capsys):
    from PIL import Image

    _, (xt, tt) = mnist_arrays
    net = mnist_model.net
    probs = net.predict(np.asarray(xt[:50]))
    i = next(i for i in range(50) if probs[i].argmax() == tt[i] and np.ptp(probs[i]) > 8)
    pixels = np.round(np.asarray(xt[i]).reshape(28, 28) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "digit.png")
    # the same digit as a user might draw it: dark ink on white paper, larger, off-centre
    paper = np.full((140, 120), 255, np.uint8)
    paper[20:132, 2:114] = 255 - np.asarray(Image.fromarray(pixels).resize((112, 112)))
    Image.fromarray(paper).save(tmp_path / "drawn.png")

    assert main(["predict", str(mnist_model.path), str(tmp_path / "digit.png"),
                 str(tmp_path / "drawn.png")]) == 0
    out = capsys.readouterr().out
    assert f"digit.png: {tt[i]}  (" in out and f"drawn.png: {tt[i]}  (" in out
    assert out.count("%") == 22  # each picture: its verdict and ten probabilities


def test_predict_errors(mnist_model, tmp_path, capsys):
    (tmp_path / "blank.png").write_bytes(b"")
    assert main(["predict", str(mnist_model.path / "model.npz"),
                 str(tmp_path / "blank.png")]) == 2
    assert "not a readable picture" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "missing.npz"), str(tmp_path / "blank.png")]) == 2


def test_train_on_real_mnist_from_the_cli(real_data_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHAINRULE_DATA", str(real_data_root))
    assert main(["train", "--iters", "601", "--out", str(tmp_path / "r"), "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "784-50-10 on mnist (60000 train, 10000 test)" in out
    assert "evaluated every 600, float32, seed 0" in out
    test_acc = float(out.split("test acc ")[-1].split()[0])
    assert test_acc > 0.85



def test_missing_data_error_suggests_the_digits_flag(tmp_path, monkeypatch, capsys):
    from chainrule.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("CHAINRULE_OFFLINE", "1")
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    assert main(["train", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "MNIST not found" in err and "chainrule train --dataset digits" in err
