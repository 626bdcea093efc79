import numpy as np
import pytest

from chainrule import TwoLayerNet, gradient_check, numerical_gradient


def test_numerical_gradient_of_book_function_2():
    # The book's chapter-4 example: f(x0, x1) = x0**2 + x1**2 at (3, 4) gives (6, 8).
    x = np.array([3.0, 4.0])
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(v**2), x), [6, 8], rtol=1e-7)


def test_numerical_gradient_any_shape_and_exact_restore():
    rng = np.random.default_rng(0)
    for shape in [(), (5,), (2, 3), (2, 1, 3, 2)]:
        x = rng.standard_normal(shape)
        before = x.copy()
        grad = numerical_gradient(lambda v: float(np.sum(np.sin(v))), x)
        assert grad.shape == x.shape
        np.testing.assert_allclose(grad, np.cos(before), rtol=1e-6)
        assert x.tobytes() == before.tobytes()  # bit-exact, not just close


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.array([0.1, 0.2, 0.3])
    before = x.copy()
    calls = []

    def f(v):
        calls.append(1)
        if len(calls) == 4:  # fails on the second element's minus side
            raise RuntimeError("boom")
        return float(v.sum())

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, x)
    assert x.tobytes() == before.tobytes()


def test_numerical_gradient_rejects_integer_arrays():
    with pytest.raises(TypeError, match="floating-point"):
        numerical_gradient(lambda v: 0.0, np.array([1, 2]))


def small_problem(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    net = TwoLayerNet(12, 6, 4, weight_init_std=0.5, dtype=dtype, seed=seed)
    x = rng.standard_normal((5, 12)).astype(dtype)
    t = rng.integers(0, 4, 5)
    return net, x, t


def test_gradient_check_passes_on_two_layer_net_full():
    net, x, t = small_problem()
    report = gradient_check(net, x, t)
    assert report.passed and bool(report)
    assert set(report.params) == {"W1", "b1", "W2", "b2"}
    for name, p in report.params.items():
        assert p.checked == net.params[name].size
        assert p.mean_abs_diff < 1e-8
    assert "passed" in str(report)


def test_gradient_check_runs_float32_nets_in_float64():
    net, x, t = small_problem(np.float32)
    report = gradient_check(net, x, t, samples=10, directions=4, seed=1)
    assert report.passed
    assert net.dtype == np.float32  # the user's net is untouched
    assert report.params["direction"].checked == 4


class BrokenNet(TwoLayerNet):
    """Forgets the 1/N of the loss in b2's gradient: a typical backprop bug."""

    def gradient(self, x, t):
        grads = dict(super().gradient(x, t))
        grads["b2"] = grads["b2"] * len(x)
        return grads


@pytest.mark.parametrize("kwargs", [{}, {"samples": 5, "directions": 3}])
def test_gradient_check_catches_a_wrong_gradient(kwargs):
    net, x, t = small_problem()
    broken = BrokenNet.from_params(net.params)
    report = gradient_check(broken, x, t, seed=0, **kwargs)
    assert not report.passed
    assert not report.params["b2"].passed
    assert report.params["W1"].passed
    assert "FAIL" in str(report)


def test_gradient_check_restores_parameters():
    net, x, t = small_problem()
    before = {k: v.copy() for k, v in net.params.items()}
    gradient_check(net, x, t, samples=3, directions=2, seed=0)
    for k, v in net.params.items():
        assert v.tobytes() == before[k].tobytes()


@pytest.mark.parametrize("options", [{"use_batchnorm": True}, {"dropout_ratio": 0.3}])
def test_a_check_outside_deterministic_says_why_every_parameter_fails(options):
    """gradient_check of a MultiLayerNet with batch norm and no deterministic(): every
    parameter FAILED with no hint why."""
    from chainrule.nn.multilayer import MultiLayerNet

    rng = np.random.default_rng(0)
    x, t = rng.random((4, 6)), rng.integers(0, 3, 4)
    net = MultiLayerNet(6, [5, 4], 3, seed=0, **options)
    report = gradient_check(net, x, t)
    assert not report.passed
    assert "hint: net.gradient's forward pass gave the loss" in str(report)
    assert "Run the check inside `with net.deterministic():`" in str(report)
    with net.deterministic():
        report = gradient_check(net, x, t)
    assert report.passed and report.hint == "" and "hint" not in str(report)


def test_no_hint_where_loss_and_gradient_agree():
    """A wrong backprop fails without the hint; weight decay (in the loss, not in the last
    layer's) is no reason for one."""
    from chainrule.nn.multilayer import MultiLayerNet

    rng = np.random.default_rng(1)
    x, t = rng.random((4, 6)), rng.integers(0, 3, 4)
    net = MultiLayerNet(6, [5], 3, seed=0, weight_decay_lambda=0.1)
    assert gradient_check(net, x, t).passed
    wrong = TwoLayerNet(6, 5, 3, seed=0, dtype=np.float64)
    right = wrong.gradient
    wrong.gradient = lambda x, t: {k: g * 1.5 for k, g in right(x, t).items()}
    report = gradient_check(wrong, x, t)
    assert not report.passed and report.hint == ""
