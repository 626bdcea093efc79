"""``chainrule train`` with chapter 6's MultiLayerNet; ``evaluate``/``predict`` on any saved net."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.cli import train as cli_train
from chainrule.nn.multilayer import MultiLayerNet
from chainrule.nn.two_layer import TwoLayerNet
from chainrule.training.checkpoint import load_model, read_model

pytest.importorskip("sklearn", reason="the digits dataset needs scikit-learn")

DIGITS = ["train", "--dataset", "digits", "--eval-every", "20", "--no-plot"]
DEEP = ["--hidden", "32", "16", "--init", "he", "--optimizer", "adam", "--batchnorm",
        "--dropout", "0.2", "--weight-decay", "1e-4"]


def models_equal(a: Path, b: Path) -> bool:
    ma, mb = read_model(a), read_model(b)
    buffers = ma.net.buffers().keys() | mb.net.buffers().keys()
    return ma.config == mb.config and all(
        np.array_equal(ma.net.params[k], mb.net.params[k]) for k in ma.net.params) and all(
        np.array_equal(ma.net.buffers()[k], mb.net.buffers()[k]) for k in buffers)


@pytest.fixture(scope="module")
def deep_run(tmp_path_factory):
    """A MultiLayerNet (batch norm, dropout, weight decay, Adam) trained 150 steps on digits."""
    run = tmp_path_factory.mktemp("deep") / "r"
    assert main([*DIGITS, *DEEP, "--iters", "150", "-q", "--out", str(run)]) == 0
    return run


def test_the_summary_line_describes_the_net(tmp_path, capsys):
    assert main([*DIGITS, *DEEP, "--iters", "3", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("MultiLayerNet 64-32-16-10 relu he, batchnorm, dropout 0.2, weight "
                          "decay 0.0001 on digits (1438 train, 359 test), adam lr 0.001, batch "
                          "100, 3 iterations")


def test_config_and_model_record_the_architecture(deep_run):
    config = json.loads((deep_run / "config.json").read_text())
    assert config["hidden"] == [32, 16] and config["weight_init_std"] == "he"
    assert config["lr"] == 0.001  # adam's default, resolved and recorded
    assert (config["activation"], config["batchnorm"], config["dropout"],
            config["weight_decay"]) == ("relu", True, 0.2, 1e-4)
    assert config["net"] == {"class": "MultiLayerNet", "input_size": 64,
                             "hidden_size_list": [32, 16], "output_size": 10,
                             "activation": "relu", "weight_decay_lambda": 1e-4,
                             "dropout_ratio": 0.2, "use_batchnorm": True}
    net = load_model(deep_run / "model.npz")
    assert isinstance(net, MultiLayerNet) and net.config() == config["net"]
    assert sorted(net.buffers()) == ["running_mean1", "running_mean2", "running_var1",
                                     "running_var2"]
    assert not np.array_equal(net.buffers()["running_var1"], np.ones(32))  # trained


def test_one_hidden_size_and_an_optimizer_keep_twolayernet(tmp_path, capsys):
    run = tmp_path / "r"
    assert main([*DIGITS, "--hidden", "20", "--optimizer", "momentum", "--iters", "3",
                 "--out", str(run)]) == 0
    assert "TwoLayerNet 64-20-10 on digits (1438 train, 359 test), momentum lr 0.01," in \
        capsys.readouterr().out
    config = json.loads((run / "config.json").read_text())
    assert config["hidden"] == 20 and config["weight_init_std"] == 0.01 and config["lr"] == 0.01
    assert isinstance(load_model(run / "model.npz"), TwoLayerNet)


def test_the_cli_equals_a_hand_written_library_loop(deep_run):
    """The recipe to reproduce a run by hand: weights from spawn(2)[0], batches from spawn(2)[1]."""
    from chainrule.data.load import load_data
    from chainrule.nn.optim import make_optimizer

    d = load_data("digits")
    x, t = np.asarray(d.x_train), d.t_train
    init_seq, batch_seq = np.random.SeedSequence(0).spawn(2)
    net = MultiLayerNet(64, [32, 16], 10, activation="relu", weight_init_std="he",
                        weight_decay_lambda=1e-4, dropout_ratio=0.2, use_batchnorm=True,
                        dtype=np.float32, rng=np.random.default_rng(init_seq))
    opt, rng = make_optimizer("adam", 0.001), np.random.default_rng(batch_seq)
    for _ in range(150):
        batch = rng.integers(len(x), size=100)
        opt.update(net.params, net.gradient(x[batch], t[batch]))
    saved = load_model(deep_run / "model.npz")
    assert all(np.array_equal(saved.params[k], net.params[k]) for k in net.params)
    assert all(np.array_equal(saved.buffers()[k], b) for k, b in net.buffers().items())


@pytest.mark.parametrize("k", [50, 100])
def test_interrupt_and_resume_is_exact(tmp_path, capsys, monkeypatch, k):
    """Adam + batch norm + dropout: stop after step k, resume, same files as one run."""
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main([*DIGITS, *DEEP, "--iters", "150", "-q", "--out", str(whole)]) == 0

    def stop_at_k(self, trainer):
        if trainer.iteration == k:
            trainer.request_stop()

    with monkeypatch.context() as m:
        m.setattr(cli_train.Progress, "on_progress", stop_at_k)
        assert main([*DIGITS, *DEEP, "--iters", "150", "-q", "--out", str(cut)]) == 130
    assert f"interrupted after {k} of 150" in capsys.readouterr().err
    assert main(["train", "--resume", str(cut), *DEEP, "--no-plot", "-q"]) == 0
    assert (cut / "metrics.csv").read_text() == (whole / "metrics.csv").read_text()
    assert models_equal(cut / "model.npz", whole / "model.npz")


def test_resume_rejects_a_contradicting_net_flag(deep_run, capsys):
    assert main(["train", "--resume", str(deep_run), "--hidden", "32"]) == 2
    assert "--hidden 32 contradicts the run's hidden 32 16" in capsys.readouterr().err
    assert main(["train", "--resume", str(deep_run), "--init", "xavier"]) == 2
    assert "--init xavier contradicts the run's weight_init_std he" in capsys.readouterr().err


def test_resume_reads_a_config_json_from_before_chapter_6(tmp_path, capsys):
    run = tmp_path / "old"
    assert main([*DIGITS, "--iters", "30", "-q", "--out", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    for key in ("activation", "batchnorm", "dropout", "weight_decay"):
        del config[key]
    (run / "config.json").write_text(json.dumps(config))
    assert main(["train", "--resume", str(run), "--iters", "45", "--hidden", "50",
                 "--activation", "relu", "-q", "--no-plot"]) == 0
    assert json.loads((run / "summary.json").read_text())["iteration"] == 45


def test_evaluate_a_saved_multilayernet(deep_run, capsys):
    assert main(["evaluate", str(deep_run), "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("MultiLayerNet 64-32-16-10 relu, batchnorm, dropout 0.2, weight decay "
                          f"0.0001 from {deep_run / 'model.npz'}, on the digits test set")
    summary = json.loads((deep_run / "summary.json").read_text())
    assert f"accuracy {summary['test_acc']:.4f} (" in out  # eval mode, as in training
    assert main(["evaluate", str(deep_run / "checkpoint.npz"), "--dataset", "digits",
                 "--no-plot"]) == 0
    assert f"accuracy {summary['test_acc']:.4f} (" in capsys.readouterr().out


def test_predict_with_a_saved_multilayernet(deep_run, tmp_path, capsys):
    from PIL import Image

    from chainrule.data.load import load_data

    d = load_data("digits")
    net = load_model(deep_run / "model.npz")
    x = np.asarray(d.x_test[:50])
    probs = net.predict(x)
    i = next(i for i in range(50) if probs[i].argmax() == d.t_test[i] and np.ptp(probs[i]) > 6)
    pixels = np.round(x[i].reshape(8, 8) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "digit.png")
    assert main(["predict", str(deep_run), str(tmp_path / "digit.png"), "--no-invert"]) == 0
    out = capsys.readouterr().out
    assert f"digit.png: {d.t_test[i]}  (" in out and out.count("%") == 11


@pytest.mark.parametrize("argv, message", [
    (["--dropout", "1"], "--dropout must be in [0, 1), got 1.0"),
    (["--weight-decay=-1e-4"], "--weight-decay must be a finite number >= 0, got -0.0001"),
    (["--activation", "gelu"], "unknown activation 'gelu'; choose one of relu, sigmoid, tanh"),
    (["--init", "lecun"], "--init must be he, xavier or a positive number, got 'lecun'"),
    (["--weight-init-std", "0"], "--init must be he, xavier or a positive number, got 0.0"),
    (["--hidden", "32", "0"], "--hidden must be >= 1, got [32, 0]"),
])
def test_bad_net_flags_get_one_line(argv, message, capsys):
    assert main([*DIGITS, *argv]) == 2
    err = capsys.readouterr().err
    assert err == f"chainrule train: error: {message}\n"
