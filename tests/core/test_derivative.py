"""One home for the "agree" rule and the step: the relative step, check_function's
reasons (a value that is not finite, a domain's edge, a kink, cancellation), compare's
count of numbers that are not finite, and gradient_check saying why it cannot check."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainrule import TwoLayerNet, gradient_check
from chainrule.core.derivative import check_function
from chainrule.core.gradient import FLOOR, RTOL, compare, numerical_gradient, step_for


def check(f, x, grad):
    """``check_function`` of a scalar function ``f`` at ``x``."""
    at = np.array(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        return check_function(lambda: float(f(at[()])), at, grad)


def test_the_step_is_relative_to_the_value_and_the_books_step_below_1():
    assert step_for(1e40) == pytest.approx(1e36)
    assert step_for(-3.0) == pytest.approx(3e-4)
    assert step_for(0.5) == step_for(0.0) == 1e-4
    assert 1e40 + step_for(1e40) != 1e40 and 1e40 + 1e-4 == 1e40
    np.testing.assert_array_equal(step_for(np.array([0.1, -7.0, 1e9])), [1e-4, 7e-4, 1e5])


def test_a_value_of_1e40_checks_where_a_fixed_step_sees_nothing():
    x = np.array([1e40])
    fixed = numerical_gradient(lambda v: 2.2 * float(v[0]), x)
    assert fixed[0] == 0.0  # 1e40 ± 1e-4 is 1e40: no digit left
    relative = numerical_gradient(lambda v: 2.2 * float(v[0]), x, relative=True)
    assert relative[0] == pytest.approx(2.2, rel=1e-12)
    found = check(lambda v: 2.2 * v, 1e40, 2.2)
    assert found.agree is True and found.reason is None


def test_relative_steps_leave_weights_up_to_1_exactly_as_the_book_steps_them():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 50)

    def f(v):
        return float(np.sum(np.sin(v) * v))

    assert numerical_gradient(f, x.copy()).tobytes() == numerical_gradient(
        f, x.copy(), relative=True).tobytes()


@pytest.mark.parametrize("f, x, grad, code", [
    (np.log, -1.0, -1.0, "grad.value"),  # the value itself is nan
    (lambda v: v ** 0.5 if v >= 0 else math.nan, 0.0, math.inf, "grad.backprop"),
    (abs, 0.0, 1.0, "grad.kink_here"),  # |x| at 0: slopes -1 and 1, backprop took 1
    (lambda v: 1e20 + v, 1.0, 1.0, "grad.cancellation"),  # 1e20 + 1 ± 1e-4 is 1e20
])
def test_no_verdict_where_a_difference_is_no_derivative(f, x, grad, code):
    found = check(f, x, grad)
    assert found.agree is None and found.reason.code == code, found
    assert found.left_out == 1


def test_the_kink_says_its_slopes():
    found = check(lambda v: max(v, 0.0) * 3, 0.0, 0.0)
    assert found.reason.code == "grad.kink_here"
    assert (found.reason.params["left"], found.reason.params["right"]) == pytest.approx((0, 3))
    assert found.numerical[()] == pytest.approx(1.5)


@pytest.mark.parametrize("f, x, grad", [
    (np.log, 1e-5, 1e5),  # a step of 1e-4 would leave log's domain: it shrinks
    (np.exp, 709.7, np.exp(709.7)),  # a step of 0.07 would overflow: it shrinks
    (lambda v: max(v, 0.0), 1e-5, 1.0),  # a step that straddles ReLU's kink: a smaller one
    (lambda v: v * np.log(v), 0.01, np.log(0.01) + 1),
])
def test_a_domains_edge_or_a_kink_nearby_still_checks(f, x, grad):
    found = check(f, x, grad)
    assert found.agree is True and found.reason is None, found


def test_a_wrong_backprop_still_differs_with_no_excuse():
    found = check(lambda v: v * v, 3.0, 7.0)
    assert found.agree is False and found.reason is None
    assert found.result.max_rel_error > RTOL


def test_arrays_are_checked_coordinate_by_coordinate_and_restored():
    x = np.array([[0.5, -2.0], [3.0, 1e10]])
    before = x.copy()
    found = check_function(lambda: float(np.sum(x ** 2)), x, 2 * x)
    assert found.agree is True and found.numerical.shape == (2, 2)
    assert x.tobytes() == before.tobytes()


def test_compare_is_the_rule_and_counts_numbers_that_are_not_finite():
    assert compare("", [1.0], [1.0 + 0.9e-5]).passed
    assert not compare("", [1.0], [1.0 + 1.1e-5]).passed
    assert compare("", [0.0], [0.5 * FLOOR * RTOL]).passed  # below the floor: agree
    c = compare("", [1.0, math.inf, 2.0], [1.0, math.nan, math.inf])
    assert not c.passed and c.reason.code == "grad.not_finite" and c.reason.params == {"count": 2}


def test_gradient_check_says_why_when_the_loss_is_not_finite():
    net = TwoLayerNet(4, 3, 2, seed=0)
    net.params["W1"][...] = np.nan
    report = gradient_check(net, np.ones((2, 4)), np.array([0, 1]))
    assert not report.passed
    assert {p.reason.code for p in report.params.values()} == {"grad.loss"}
    assert "the loss is nan: no derivative to check" in str(report)
