"""Sizes that follow from a config are checked before anything is allocated: a
convolutional network's activations (training, and every model file read), the length
of a run, and an initial scale that overflows the first forward pass."""

from __future__ import annotations

import math
import re
import tracemalloc

import numpy as np
import pytest
from test_runs import CONFIG, blobs

from chainrule.data.load import Data
from chainrule.nn.convnets import DeepConvNet, SimpleConvNet
from chainrule.training import build
from chainrule.training.build import check_conv_memory, conv_memory_needed, conv_net_config
from chainrule.training.checkpoint import CheckpointError, read_model, save_model
from chainrule.training.config import MAX_ITERS, TrainConfig
from chainrule.training.loop import TrainingLoop

GB = 10**9

ABSURD = {"class": "SimpleConvNet", "input_dim": [1, 28, 28],
          "conv_param": {"filter_num": 1, "filter_size": 5, "pad": 20000, "stride": 200},
          "hidden_size": 2, "output_size": 10}
"""A SimpleConvNet whose padded input is 40028x40028: its parameters are 80 KB, one
image's padded input 6.4 GB."""


def absurd_model(path):
    """ABSURD as a model file whose zero weights fit it exactly (what was crafted: 188 KB,
    and `chainrule evaluate` reached 3.2 GB before failing)."""
    shapes = SimpleConvNet._weight_shapes(SimpleConvNet._checked_config(dict(ABSURD)))
    params = {}
    for i, shape in enumerate(shapes, 1):
        params[f"W{i}"] = np.zeros(shape, np.float32)
        params[f"b{i}"] = np.zeros(shape[0] if len(shape) == 4 else shape[1], np.float32)
    net = SimpleConvNet.from_config(ABSURD, params)
    return save_model(path, net, meta={"dataset": "mnist"})


def test_the_books_convnets_fit_and_their_estimate_is_an_upper_bound():
    """The estimate is rough but above what one step really holds (measured here on a
    batch of 20 with tracemalloc), and small for the book's networks."""
    for network, cls in (("simple-conv", SimpleConvNet), ("deep-conv", DeepConvNet)):
        config = TrainConfig.for_network(network).resolved()
        net_config = conv_net_config(config, (1, 28, 28), 10)
        n, weights, activations, _ = conv_memory_needed(net_config, "float32", batch=100,
                                                        slots=2)
        assert weights + activations < GB
        net = cls(**{k: v for k, v in _init_args(net_config).items()}, dtype=np.float32,
                  seed=0)
        assert n == sum(p.size for p in net.params.values())
        x = np.random.default_rng(0).random((20, 1, 28, 28), dtype=np.float32)
        t = np.arange(20) % 10
        net.gradient(x, t)  # buffers made once, as in training
        tracemalloc.start()
        net.gradient(x, t)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        twenty = conv_memory_needed(net_config, "float32", batch=20)[2]
        assert peak < twenty, (network, peak, twenty)


def _init_args(config: dict) -> dict:
    args = {"input_dim": config["input_dim"], "hidden_size": config["hidden_size"],
            "output_size": config["output_size"]}
    if config["class"] == "SimpleConvNet":
        args["conv_param"] = config["conv_param"]
    else:
        args.update({f"conv_param_{i}": p for i, p in enumerate(config["conv_params"], 1)})
        args["dropout_ratio"] = config["dropout_ratio"]
    return args


def test_an_absurd_convnet_is_refused_by_name_before_allocating():
    with pytest.raises(ValueError, match=re.escape(
            "the network SimpleConvNet's convolution 1 (1 filter 5x5, pad 20000, stride 200) "
            "on 1x28x28 inputs pads them to 1x40028x40028 and makes 1x201x201 outputs: with "
            "100 images at a time it needs about 1.3 TB, more than this machine's 16.0 GB")):
        check_conv_memory(ABSURD, "float32", batch=100, available=16 * GB)
    check_conv_memory(ABSURD, "float32", batch=1, available=100 * 10**12)  # a large machine


def test_a_model_file_of_an_absurd_convnet_is_refused_before_allocating(tmp_path,
                                                                       monkeypatch):
    """evaluate, predict and serve read model files with read_model: refused there, with
    a few MB at most allocated (the zero input of the fit check alone is 6.4 GB)."""
    path = absurd_model(tmp_path / "model.npz")
    assert path.stat().st_size < 200_000
    monkeypatch.setattr(build, "physical_memory", lambda: 16 * GB)
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match=f"{path}: the network SimpleConvNet's "
                                                  r"convolution 1 .* pads them to "
                                                  r"1x40028x40028"):
            read_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000


def test_training_a_convnet_too_large_is_refused_before_allocating(monkeypatch):
    monkeypatch.setattr(build, "physical_memory", lambda: 16 * GB)
    images = np.zeros((200, 1, 28, 28), np.float32)
    data = Data(images, np.arange(200) % 10, images[:20], np.arange(20) % 10)
    config = TrainConfig.for_network("simple-conv", hidden=10**9, iters=5)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=re.escape(
                "the network SimpleConvNet has 4,331,000,000,790 parameters (17.3 TB in "
                "float32): with 100 images at a time it needs about")):
            TrainingLoop.from_config(config, data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000


@pytest.mark.parametrize("change, message", [
    ({"iters": MAX_ITERS + 1}, "iters must be from 0 to 1,000,000,000"),
    ({"epochs": 1e308}, "epochs must be a finite number from 0 to 1,000,000,000, got 1e+308"),
    ({"epochs": 1e8}, "epochs 1e+08 is 4e+09 iterations (40 per epoch), more than the "
                      "1,000,000,000 a run may have"),
])
def test_a_run_longer_than_memory_allows_is_refused(change, message):
    """--epochs 1e308 was "internal error: OverflowError"."""
    config = TrainConfig(**{**CONFIG.to_dict(), **change})
    with pytest.raises(ValueError, match=re.escape(message)):
        TrainingLoop.from_config(config, blobs())


@pytest.mark.parametrize("dtype, init", [("float32", 1e30), ("float32", 1e20),
                                         ("float64", 1e200)])
def test_an_initial_scale_that_overflows_is_refused_by_name(dtype, init, recwarn):
    """--init 1e30 trained, "diverged" at iteration 0 blaming the learning rate, after two
    raw RuntimeWarning lines."""
    config = TrainConfig(**{**CONFIG.to_dict(), "weight_init_std": init, "dtype": dtype})
    with pytest.raises(ValueError, match=f"weight_init_std {re.escape(f'{init:g}')} overflows the first "
                                         f"forward pass .* in {dtype}.; use he, xavier or a "
                                         "smaller standard deviation"):
        TrainingLoop.from_config(config, blobs())
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_a_large_initial_scale_that_does_not_overflow_still_trains(recwarn):
    """Batch norm normalizes the first pass: 1e30 is no overflow there (the check runs
    in training mode, inside deterministic(), and leaves no trace)."""
    config = TrainConfig(**{**CONFIG.to_dict(), "weight_init_std": 1e30, "hidden": [8, 8],
                            "batchnorm": True, "dropout": 0.2, "iters": 20})
    loop = TrainingLoop.from_config(config, blobs())
    loop.run(handle_sigint=False)
    assert all(math.isfinite(v) for v in loop.history.step_loss)
    loop.evaluate()  # on running statistics: scores overflow, and that is no warning
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_the_check_of_the_first_scores_changes_no_bit(monkeypatch):
    """Same steps with and without the check (it predicts: no generator is drawn from,
    no batch-norm statistic kept)."""
    import chainrule.training.loop as loop_module

    config = TrainConfig(**{**CONFIG.to_dict(), "weight_init_std": 0.5, "hidden": [8, 8],
                            "batchnorm": True, "dropout": 0.2, "iters": 30})
    losses = []
    for check in (True, False):
        if not check:
            monkeypatch.setattr(loop_module, "check_first_scores", lambda *args: None)
        loop = TrainingLoop.from_config(config, blobs())
        loop.run(handle_sigint=False)
        losses.append(loop.history.step_loss)
    assert losses[0] == losses[1]
