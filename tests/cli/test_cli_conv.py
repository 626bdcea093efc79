"""``chainrule train --net simple-conv | deep-conv`` and what follows it: run folders,
exact resume, evaluate, predict, the filters experiment."""

from __future__ import annotations

import json
import math
import os
import signal

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.data.load import Data
from chainrule.nn.convnets import DeepConvNet, SimpleConvNet
from chainrule.training.checkpoint import load_model
from chainrule.training.config import TrainConfig
from chainrule.training.runs import Run


def images(n_train=300, n_test=60, side=8, classes=4, seed=0) -> Data:
    """Flat ``side x side`` pictures of a bright bar whose position is the class."""
    rng = np.random.default_rng(seed)

    def make(n):
        t = rng.integers(0, classes, n)
        x = rng.random((n, side, side)).astype(np.float32) * 0.3
        for i, c in enumerate(t):
            x[i, 2 * c:2 * c + 2] += 0.7
        return x.reshape(n, -1), t
    return Data(*make(n_train), *make(n_test))


SMALL = {"batch_size": 10, "iters": 90, "eval_every": 30}


def test_config_takes_the_chapters_defaults():
    c = TrainConfig.for_network("simple-conv").resolved()
    assert (c.optimizer, c.lr, c.epochs, c.eval_samples, c.hidden) == ("adam", 0.001, 20, 1000,
                                                                       100)
    assert c.weight_init_std == 0.01 and not c.two_layer
    d = TrainConfig.for_network("deep-conv", iters=50).resolved()
    assert (d.dropout, d.hidden, d.weight_init_std, d.epochs, d.iters) == (0.5, 50, "he", None,
                                                                          50)
    assert TrainConfig.for_network() == TrainConfig()  # mlp: chapter 5 as before
    for bad, message in (({"batchnorm": True}, "batchnorm applies to --net mlp only"),
                         ({"hidden": [10, 5]}, "hidden must be one size"),
                         ({"dropout": 0.1}, "dropout applies to --net mlp and deep-conv only"),
                         ({"eval_samples": -1}, "eval_samples must be >= 0")):
        with pytest.raises(ValueError, match=message):
            TrainConfig.for_network("simple-conv", **bad).validate()
    with pytest.raises(ValueError, match="network must be one of mlp, simple-conv, deep-conv"):
        TrainConfig.for_network("lenet")


@pytest.mark.parametrize("network, cls", [("simple-conv", SimpleConvNet),
                                          ("deep-conv", DeepConvNet)])
def test_interrupt_and_resume_is_exact(network, cls, tmp_path):
    """Ctrl-C in the middle, then resume: the same metrics and weights as one run (for
    DeepConvNet this needs its dropout generator's state in the checkpoint)."""
    data, config = images(), TrainConfig.for_network(network, **SMALL)
    whole = Run.create(config, tmp_path / "whole", data=data)
    summary = whole.train(plots=False, handle_sigint=False)
    assert isinstance(whole.net, cls) and whole.net.input_dim == (1, 8, 8)
    assert summary.status == "completed" and summary.evaluated_at == 90
    assert math.isnan(summary.train_acc) and summary.test_acc > 0.5  # the whole test set

    sent = []

    def ctrl_c(trainer):
        if trainer.iteration == 41 and not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGINT)

    cut = Run.create(config, tmp_path / "cut", data=data)
    assert cut.train(on_progress=ctrl_c, progress_every=1, plots=False).status == "interrupted"
    again = Run.resume(cut.path, data=data)
    assert again.loop.iteration == 41
    again.train(plots=False, handle_sigint=False)
    assert (again.path / "metrics.csv").read_text() == (whole.path / "metrics.csv").read_text()
    a, b = load_model(again.path / "model.npz"), load_model(whole.path / "model.npz")
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    saved = json.loads((whole.path / "config.json").read_text())
    assert saved["network"] == network and saved["net"]["class"] == cls.__name__


def test_train_from_python_with_image_shaped_data(tmp_path):
    """``runs.train(network=...)`` takes the chapter's defaults; (N, C, H, W) data, as the
    book's ``load_mnist(flatten=False)`` gives, sets the network's input shape."""
    from chainrule.training.runs import train

    flat = images(side=10)
    data = Data(flat.x_train.reshape(-1, 1, 10, 10), flat.t_train,
                flat.x_test.reshape(-1, 1, 10, 10), flat.t_test)
    run = train(network="simple-conv", iters=20, batch_size=10, data=data, plots=False,
                out=tmp_path / "r")
    assert run.config.epochs is None and run.loop.iters == 20
    assert run.net.input_dim == (1, 10, 10) and run.config.optimizer == "adam"
    assert run.meta()["image_shape"] == [10, 10]


def test_cli_trains_a_convnet_on_digits(tmp_path, capsys):
    pytest.importorskip("sklearn", reason="the digits dataset needs scikit-learn")
    out_dir = tmp_path / "run"
    assert main(["train", "--net", "simple-conv", "--dataset", "digits", "--iters", "60",
                 "--eval-every", "30", "--eval-samples", "200", "--out", str(out_dir),
                 "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("SimpleConvNet 1x8x8: conv 30 5x5, pool 2x2, affine 100, affine 10, "
                          "init 0.01 on digits")
    assert "adam lr 0.001, batch 100, 60 iterations" in out
    assert "evaluated every 30 on the first 200 images" in out
    assert "final: test acc " in out and "on the whole test set (after 60 iterations)" in out
    assert main(["evaluate", str(out_dir), "--no-plot"]) == 0
    assert "SimpleConvNet 1x8x8" in capsys.readouterr().out
    assert main(["train", "--resume", str(out_dir), "--iters", "70", "--no-plot", "-q"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(out_dir), "--net", "mlp"]) == 2
    assert "--net mlp contradicts the run's network simple-conv" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--net", "simple-conv", "--batchnorm"], "--batchnorm applies to --net mlp only"),
    (["--net", "lenet"], "--net must be one of mlp, simple-conv, deep-conv, got 'lenet'"),
    (["--net", "simple-conv", "--hidden", "20", "10"], "--hidden must be one size"),
    (["--eval-samples", "-5"], "--eval-samples must be >= 0"),
])
def test_cli_bad_convnet_flags_are_one_line(argv, message, tmp_path, capsys):
    assert main(["train", *argv, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------- on real MNIST


@pytest.fixture(scope="module")
def conv_run(mnist_arrays, tmp_path_factory):
    """SimpleConvNet, 200 steps of the chapter-7 protocol on real MNIST (and the first 2000
    test images), in a run folder."""
    (x, t), (xt, tt) = mnist_arrays
    run = Run.create(TrainConfig.for_network("simple-conv", iters=200, eval_every=100),
                     tmp_path_factory.mktemp("conv"), data=Data(x, t, xt[:2000], tt[:2000]))
    run.train(plots=False, handle_sigint=False)
    return run


def test_simple_convnet_learns_real_mnist(conv_run):
    s = conv_run.summary
    assert s.status == "completed" and s.evaluated_at == 200
    assert s.test_acc > 0.85  # all 2000 test images given, after 200 steps (0.894 seen)
    assert conv_run.history.iteration == [0, 100]  # on the first 1000 images each
    meta = load_model(conv_run.path / "model.npz")
    assert meta.dtype == np.float32 and meta.input_dim == (1, 28, 28)


def test_predict_a_digit_with_a_convnet(conv_run, mnist_arrays, tmp_path, capsys):
    from PIL import Image

    _, (xt, tt) = mnist_arrays
    scores = conv_run.net.predict(xt[:50])
    i = next(i for i in range(50) if scores[i].argmax() == tt[i])
    pixels = np.round(np.asarray(xt[i]).reshape(28, 28) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "digit.png")
    assert main(["predict", str(conv_run.path), str(tmp_path / "digit.png")]) == 0
    assert f"digit.png: {tt[i]}  (" in capsys.readouterr().out


# ---------------------------------------------------------------- experiment filters


def test_learn_filters_and_its_figure(tmp_path):
    from chainrule.book.experiments import learn_filters
    from chainrule.book.figures import plot_experiment

    data = images(n_train=200, side=12)
    result = learn_filters(data.x_train, data.t_train, data.x_test, data.t_test, epochs=2,
                           batch_size=20)
    assert result.before.shape == result.after.shape == (30, 1, 5, 5)
    assert not np.array_equal(result.before, result.after)
    assert result.settings["iters"] == 20 and 0 <= result.test_acc <= 1
    png = plot_experiment(result, tmp_path / "filters.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_experiment_filters_flags(tmp_path, capsys):
    assert main(["experiment", "filters", "--iters", "5", "--out", str(tmp_path)]) == 2
    assert "--iters applies to optimizers and init" in capsys.readouterr().err
