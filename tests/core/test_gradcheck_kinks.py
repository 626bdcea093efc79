"""The gradient check tells a ReLU kink from a backprop bug, and refuses to check nothing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainrule import TwoLayerNet, gradient_check
from chainrule.cli import main
from chainrule.core import layers
from chainrule.core.gradient import GradientCheckReport


def kinky(seed=0, n=200):
    """A correct TwoLayerNet whose hidden pre-activations sit near 0 (W1 ~ 0.01 N(0, 1))
    for 200 samples: a step of 1e-4 on W1 or b1 makes ReLU inputs cross 0 in about 40%
    of the coordinates, and the central difference there is not the derivative."""
    rng = np.random.default_rng(seed)
    net = TwoLayerNet(8, 6, 3, weight_init_std=0.01, seed=seed)
    net.params["W2"][...] = rng.standard_normal((6, 3))
    return net, rng.standard_normal((n, 8)), rng.integers(0, 3, n)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_correct_network_full_of_kinks_passes_and_shows_them(seed):
    report = gradient_check(*kinky(seed))  # every coordinate, as the book checks
    assert report.passed, str(report)
    assert len(report.kinks) >= 10
    counted = {name: p.kinks for name, p in report.params.items()}
    assert counted["W2"] == counted["b2"] == 0  # W2, b2 move no ReLU input
    assert sum(counted.values()) == len(report.kinks)
    for name, p in report.params.items():
        assert p.checked + p.kinks == report_size(name)
    # most kinks are verified: the smaller step agrees with backprop
    assert sum(k.agrees for k in report.kinks) >= len(report.kinks) // 2
    text = str(report)
    assert "gradient check passed" in text and "straddles a kink" in text
    assert f"{len(report.kinks)} coordinates left out" in text
    assert text.splitlines()[0].split() == ["param", "mean", "|diff|", "max", "rel", "err",
                                            "checked", "result"]


def report_size(name):
    return {"W1": 48, "b1": 6, "W2": 18, "b2": 3}[name]


def leaky_relu_backward(self, dout):
    return np.where(self.mask, 0.01 * dout, dout)  # lets 1% through where x <= 0


def relu_backward_scaled(self, dout):
    return 1.001 * np.where(self.mask, 0, dout)


def affine_db_scaled(backward):
    def wrong(self, dout, *, input_grad=True):
        dx = backward(self, dout, input_grad=input_grad)
        self.db = self.db * 1.0001
        return dx
    return wrong


@pytest.mark.parametrize("bug", ["leaky relu", "relu x 1.001", "db x 1.0001"])
@pytest.mark.parametrize("kwargs", [{}, {"samples": 10, "directions": 4, "seed": 0}])
def test_a_broken_backward_still_fails_among_the_kinks(monkeypatch, bug, kwargs):
    if bug == "leaky relu":
        monkeypatch.setattr(layers.Relu, "backward", leaky_relu_backward)
    elif bug == "relu x 1.001":
        monkeypatch.setattr(layers.Relu, "backward", relu_backward_scaled)
    else:
        monkeypatch.setattr(layers.Affine, "backward", affine_db_scaled(layers.Affine.backward))
    report = gradient_check(*kinky(0), **kwargs)
    assert not report.passed
    broken = {"b1", "b2"} if bug.startswith("db") else {"W1", "b1"}
    assert all(not report.params[name].passed for name in broken)
    assert report.params["W2"].passed


@pytest.mark.parametrize("kwargs, message", [
    ({"samples": 0}, "samples must be None .* got 0"),
    ({"samples": -3}, "samples must be"),
    ({"samples": 2.5}, "samples must be"),
    ({"samples": True}, "samples must be"),
    ({"directions": -1}, "directions must be an integer >= 0"),
    ({"h": 0.0}, "h must be a positive finite step"),
    ({"h": -1e-4}, "h must be"),
    ({"h": math.inf}, "h must be"),
    ({"h": math.nan}, "h must be"),
    ({"rtol": math.inf}, r"rtol must be in \(0, 1\), got inf"),
    ({"rtol": math.nan}, "rtol must be"),
    ({"rtol": 0.0}, "rtol must be"),
    ({"rtol": -1e-5}, "rtol must be"),
    ({"rtol": 1.0}, "rtol must be"),
    ({"floor": 0.0}, "floor must be a positive finite number"),
    ({"floor": math.inf}, "floor must be"),
])
def test_options_that_would_check_nothing_are_refused(kwargs, message):
    net, x, t = kinky(0, n=4)
    with pytest.raises(ValueError, match="gradient_check: " + message):
        gradient_check(net, x, t, **kwargs)


def test_a_network_without_parameters_or_samples_is_refused():
    class Empty:
        params: dict = {}

    with pytest.raises(ValueError, match="no parameters"):
        gradient_check(Empty(), np.ones((2, 3)), np.zeros(2, int))
    net, x, t = kinky(0, n=4)
    with pytest.raises(ValueError, match="empty batch"):
        gradient_check(net, x[:0], t[:0])
    assert not GradientCheckReport()  # nothing checked is no pass


def test_the_floor_is_raised_to_the_rounding_noise_and_shown():
    net, x, t = kinky(0, n=4)
    report = gradient_check(net, x, t, samples=3)
    assert report.floor > 1e-7  # 10 eps |L| / (h rtol): a relative error means nothing below
    assert f"floor {report.floor:.2g})" in str(report)
    assert gradient_check(net, x, t, samples=3, floor=1e-3).floor == 1e-3


def test_gradcheck_on_100_mnist_images_passes(real_data_root, monkeypatch, capsys):
    """It reported FAILED (seed 0): ReLU kinks in b1, and the h**2 error of the central
    difference on b2's tiny gradients (which Richardson extrapolation removes)."""
    monkeypatch.setenv("CHAINRULE_DATA", str(real_data_root))
    assert main(["gradcheck", "--images", "100", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "gradient check passed" in out and "FAIL" not in out
    assert "left out (4 in b1)" in out


@pytest.mark.parametrize("argv, message", [
    (["--seed", "-1"], "--seed must be >= 0, got -1"),
    (["--rtol", "inf"], "--rtol must be between 0 and 1, got inf"),
    (["--rtol", "nan"], "--rtol must be between 0 and 1, got nan"),
    (["--rtol", "1"], "--rtol must be between 0 and 1, got 1.0"),
    (["--hidden", "1000000000"], "the network 64-1000000000-10 has 75,000,000,010 parameters "
     "(600.0 GB in float64); checking it needs about"),
])
def test_gradcheck_flags_get_one_line(argv, message, capsys):
    assert main(["gradcheck", "--dataset", "digits", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"chainrule gradcheck: error: {message}") and err.count("\n") == 1
