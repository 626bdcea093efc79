"""Recording never gives a wrong gradient: random programs over the node layers,
recorded and back-propagated, against central differences of the same program
evaluated with plain Python floats (no layer, no graph)."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chainrule import Graph
from chainrule.core.operations import (
    AddLayer,
    DivLayer,
    ExpLayer,
    LogLayer,
    MulLayer,
    NegLayer,
    PowLayer,
    ReciprocalLayer,
    ReluNode,
    SigmoidNode,
    SubLayer,
    TanhNode,
)


class Invalid(Exception):
    """The program leaves the region where central differences are trustworthy."""


def _away(v: float, margin: float = 0.1) -> float:
    if abs(v) < margin:
        raise Invalid
    return v


def _positive(v: float) -> float:
    if v < 0.1:
        raise Invalid
    return v


# name -> (layer factory, arity, the same function on floats, written independently)
OPS = {
    "mul": (MulLayer, 2, lambda a, b: a * b),
    "add": (AddLayer, 2, lambda a, b: a + b),
    "sub": (SubLayer, 2, lambda a, b: a - b),
    "div": (DivLayer, 2, lambda a, b: a / _away(b)),
    "exp": (ExpLayer, 1, lambda a: math.exp(a) if a < 8 else _away(0)),
    "recip": (ReciprocalLayer, 1, lambda a: 1 / _away(a)),
    "log": (LogLayer, 1, lambda a: math.log(_positive(a))),
    "neg": (NegLayer, 1, lambda a: -a),
    "square": (lambda: PowLayer(2), 1, lambda a: a * a),
    "cube": (lambda: PowLayer(3), 1, lambda a: a * a * a),
    "sqrt": (lambda: PowLayer(0.5), 1, lambda a: math.sqrt(_positive(a))),
    "inverse_square": (lambda: PowLayer(-2), 1, lambda a: 1 / (_away(a) * a)),
    "sigmoid": (SigmoidNode, 1, lambda a: 1 / (1 + math.exp(-a))),
    "tanh": (TanhNode, 1, math.tanh),
    "relu": (ReluNode, 1, lambda a: a if _away(a, 1e-3) > 0 else 0.0),
}
NAMES = ("x", "y", "z")
# Small ints on purpose: 3 + -1 is the very object of the literal 2 in CPython.
NUMBERS = [-2, -1, 0, 1, 2, 3, 4, 0.5, 1.5, -0.75, 2.0]


@st.composite
def programs(draw):
    inputs = {n: draw(st.sampled_from(NUMBERS)) for n in NAMES[: draw(st.integers(1, 3))]}
    steps = []
    for i in range(draw(st.integers(1, 9))):
        op = draw(st.sampled_from(sorted(OPS)))
        operands = []
        for _ in range(OPS[op][1]):
            kind = draw(st.sampled_from(["input", "step", "step", "literal"] if i else
                                        ["input", "input", "literal"]))
            if kind == "input":
                operands.append(("input", draw(st.sampled_from(sorted(inputs)))))
            elif kind == "step":
                operands.append(("step", draw(st.integers(0, i - 1))))
            else:
                operands.append(("literal", draw(st.sampled_from(NUMBERS))))
        steps.append((op, operands))
    return inputs, steps


def evaluate(inputs: dict, steps: list) -> float:
    """The program on plain floats, with the reference functions."""
    values: list[float] = []
    for op, operands in steps:
        args = [float(inputs[ref]) if kind == "input" else values[ref] if kind == "step"
                else float(ref) for kind, ref in operands]
        v = OPS[op][2](*args)
        if not math.isfinite(v) or abs(v) > 1e4:
            raise Invalid
        values.append(v)
    return values[-1]


def record(inputs: dict, steps: list) -> Graph:
    """The program on the layers, recorded; literals passed as the Python objects."""
    with Graph() as g:
        given_inputs = dict(zip(inputs, g.inputs(**inputs), strict=True))
        values = []
        for op, operands in steps:
            args = [given_inputs[ref] if kind == "input" else values[ref] if kind == "step"
                    else ref for kind, ref in operands]
            values.append(OPS[op][0]().forward(*args))
    g.backward(1)
    return g


def central_difference(inputs: dict, steps: list, name: str, h: float = 1e-6) -> float:
    plus = dict(inputs, **{name: inputs[name] + h})
    minus = dict(inputs, **{name: inputs[name] - h})
    return (evaluate(plus, steps) - evaluate(minus, steps)) / (2 * h)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(programs())
def test_recorded_gradients_equal_numerical_gradients(program):
    inputs, steps = program
    try:
        expected = evaluate(inputs, steps)
        numerical = {n: central_difference(inputs, steps, n) for n in inputs}
    except Invalid:
        assume(False)
    g = record(inputs, steps)
    assert float(g.output.value) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    for name, want in numerical.items():
        got = g.grad(name)
        got = 0.0 if got is None else float(got)
        assert abs(got - want) <= 1e-4 * max(1.0, abs(got), abs(want)), (name, got, want)


def test_the_issue_example():
    # x + -1 returns the int 2, the very object of the literal 2 of y * 2
    with Graph() as g:
        x, y = g.inputs(x=3, y=4)
        AddLayer().forward(x, -1)
        MulLayer().forward(y, 2)
    assert g.backward(1) == {"x": None, "y": 2}
    (mul,) = [n for n in g.nodes if n.symbol == "×"]
    assert [e.name or e.value for e in mul.inputs] == ["y", 2]
    assert mul.inputs[1].is_constant
