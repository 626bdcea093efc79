"""A node's local rule, written out with its actual numbers (or shapes, for arrays).

:func:`rule` reads a recorded :class:`~chainrule.graph.record.Node` after ``forward`` (and
``backward``, for the gradients) and returns, for a ``×`` node::

    {"op": "×", "note": "mul", "dout": "1.1",
     "forward": "x · y = 100 · 2 = 200",
     "backward": ["dx = dout · y = 1.1 · 2 = 2.2", "dy = dout · x = 1.1 · 100 = 110"]}

The formulas are language-neutral (symbols and numbers only); the prose that goes
with them is the stable key ``note``, to be translated by whoever shows it
(:data:`NOTES` holds the English). The few lines that hold words as well
(``dx = dout where x > 0, else 0``) are messages (:data:`MESSAGES`): :func:`rule` sends
their code and params beside them. ``x`` and ``y`` are the node's own first and second
inputs, ``dout`` the gradient arriving at its output, ``dx`` and ``dy`` what its
``backward`` returned. Before backward (or on a node the output does not depend on)
``backward`` holds the formulas without numbers and ``dout`` is None. Nothing is
computed here: the numbers are the ones the layers produced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.core import layers, operations
from chainrule.core.messages import Catalog, coded_fields, said
from chainrule.graph.layout import format_value
from chainrule.graph.parts import Node

NOTES = {
    "mul": "A × node multiplies dout by the other input: the inputs swap.",
    "add": "A + node passes dout on to both inputs unchanged.",
    "sub": "A − node passes dout to x and −dout to y.",
    "neg": "A − node of one input passes −dout back.",
    "div": "A ÷ node: x gets dout / y, y gets −dout · x / y².",
    "reciprocal": "A / node (1 / x) passes back −dout / x².",
    "exp": "exp is its own derivative: dout times the node's output.",
    "log": "The derivative of log x is 1 / x.",
    "pow": "The power rule: n · x to the power n − 1.",
    "sigmoid": "The sigmoid's derivative is y · (1 − y), from its output y alone.",
    "tanh": "The derivative of tanh is 1 − y², from its output y alone.",
    "relu": "ReLU passes dout where its input was positive, and 0 elsewhere.",
    "affine": "Affine: the gradients are matrix products with the other operand transposed.",
    "softmax_with_loss": "Softmax with cross-entropy loss: the gradient is (y − t) / N.",
    "dropout": "Dropout passes dout through the units it kept, scaled as in forward.",
    "batchnorm": "Batch normalization: the gradient through the mean and the variance.",
    "layer": "This layer's own backward gives its gradients.",
}


MESSAGES = Catalog("rule", {
    "rule.relu_where": "dx = dout where x > 0, else 0: {shape}",
    "rule.dropout_eval": "y = x (eval): {shape}",
    "rule.dropout_forward": "y = x · mask / (1 − {ratio}): {shape}",
    "rule.dropout_backward": "dx = dout · mask / (1 − {ratio}): {shape}",
    "rule.affine_db": "db = Σ dout (axis 0): {rows} → {cols}",
})
"""The rule lines that hold words besides symbols: each is a
:class:`~chainrule.core.messages.Said` string, so :func:`rule` sends its code and
numbers too and a page can word it in its language."""


class _Parts:
    """The numbers of one node, formatted: inputs, output, dout, and the results."""

    def __init__(self, node: Node, precision: int):
        self.node, self.precision = node, precision
        self.ins = [e.value for e in node.inputs]
        self.out = node.output.value
        self.dout = node.output.grad if node.grads is not None else None
        self.grads = node.grads or ()

    def f(self, value: Any) -> str:
        text = self.plain(value)
        return f"({text})" if text.startswith("-") else text

    def plain(self, value: Any) -> str:
        """A number as drawn, but -0.0 as -0 (``1 / -0`` is ``-inf``: the sign matters)."""
        if np.ndim(value) == 0 and isinstance(value, (float, np.floating)) and value == 0 \
                and np.signbit(value):
            return "-0"
        return format_value(value, self.precision)

    def x(self, i: int = 0) -> str:
        return self.f(self.ins[i])

    def d(self, i: int) -> str:
        g = self.grads[i] if i < len(self.grads) else None
        return format_value(g, self.precision) if g is not None else "None"

    def line(self, symbolic: str, numbers: str, i: int) -> str:
        """``symbolic = numbers = result`` once there are gradients, else ``symbolic``."""
        if self.dout is None:
            return symbolic
        return f"{symbolic} = {numbers} = {self.d(i)}"

    def passed(self, symbolic: str, i: int) -> str:
        """``dx = dout = 1.1``: a gradient passed on as it came."""
        return symbolic if self.dout is None else f"{symbolic} = {self.d(i)}"

    @property
    def o(self) -> str:
        return format_value(self.out, self.precision)

    @property
    def g(self) -> str:
        return self.f(self.dout)


def shape(value: Any) -> str:
    return str(tuple(np.shape(value)))


def _mul(p: _Parts):
    return "mul", f"x · y = {p.x(0)} · {p.x(1)} = {p.o}", [
        p.line("dx = dout · y", f"{p.g} · {p.x(1)}", 0),
        p.line("dy = dout · x", f"{p.g} · {p.x(0)}", 1)]


def _add(p: _Parts):
    return "add", f"x + y = {p.x(0)} + {p.x(1)} = {p.o}", [
        p.passed("dx = dout", 0), p.passed("dy = dout", 1)]


def _sub(p: _Parts):
    return "sub", f"x − y = {p.x(0)} − {p.x(1)} = {p.o}", [
        p.passed("dx = dout", 0), p.line("dy = −dout", f"−{p.g}", 1)]


def _neg(p: _Parts):
    return "neg", f"−x = −{p.x()} = {p.o}", [p.line("dx = −dout", f"−{p.g}", 0)]


def _div(p: _Parts):
    return "div", f"x / y = {p.x(0)} / {p.x(1)} = {p.o}", [
        p.line("dx = dout / y", f"{p.g} / {p.x(1)}", 0),
        p.line("dy = −dout · x / y²", f"−{p.g} · {p.x(0)} / {p.x(1)}²", 1)]


def _reciprocal(p: _Parts):
    return "reciprocal", f"1 / x = 1 / {p.x()} = {p.o}", [
        p.line("dx = −dout / x²", f"−{p.g} / {p.x()}²", 0)]


def _exp(p: _Parts):
    return "exp", f"exp(x) = exp({p.plain(p.ins[0])}) = {p.o}", [
        p.line("dx = dout · exp(x)", f"{p.g} · {p.f(p.out)}", 0)]


def _log(p: _Parts):
    return "log", f"log(x) = log({p.plain(p.ins[0])}) = {p.o}", [
        p.line("dx = dout / x", f"{p.g} / {p.x()}", 0)]


def _pow(p: _Parts):
    n = p.node.layer.n
    m = format_value(n - 1, p.precision)
    return "pow", f"x ** {n} = {p.x()} ** {n} = {p.o}", [
        p.line(f"dx = dout · {n} · x ** {m}", f"{p.g} · {n} · {p.x()} ** {m}", 0)]


def _is_array(p: _Parts) -> bool:
    return any(np.ndim(v) > 0 for v in p.ins)


def _sigmoid(p: _Parts):
    if _is_array(p):
        return "sigmoid", f"y = 1 / (1 + exp(−x)): {shape(p.ins[0])} → {shape(p.out)}", [
            f"dx = dout · y · (1 − y): {shape(p.out)}"]
    y = p.f(p.out)
    return "sigmoid", f"σ(x) = 1 / (1 + exp(−x)) = σ({p.plain(p.ins[0])})"\
        f" = {p.o}", [p.line("dx = dout · y · (1 − y)", f"{p.g} · {y} · (1 − {y})", 0)]


def _tanh(p: _Parts):
    if _is_array(p):
        return "tanh", f"y = tanh(x): {shape(p.ins[0])} → {shape(p.out)}", [
            f"dx = dout · (1 − y²): {shape(p.out)}"]
    return "tanh", f"tanh(x) = tanh({p.plain(p.ins[0])}) = {p.o}", [
        p.line("dx = dout · (1 − y²)", f"{p.g} · (1 − {p.f(p.out)}²)", 0)]


def _relu(p: _Parts):
    if _is_array(p):
        return "relu", f"max(x, 0): {shape(p.ins[0])} → {shape(p.out)}", [
            said("rule.relu_where", shape=shape(p.out))]
    forward = f"max(x, 0) = max({p.plain(p.ins[0])}, 0) = {p.o}"
    if p.ins[0] > 0:
        return "relu", forward, [p.passed("dx = dout (x > 0)", 0)]
    return "relu", forward, [p.passed("dx = 0 (x ≤ 0)", 0)]


def _affine(p: _Parts):
    W, x = p.node.layer.W, p.ins[0]
    n_in, n_out = W.shape
    rows = int(np.size(x) // n_in) if np.ndim(x) != 1 else 1
    x2, out2 = (rows, n_in), (rows, n_out)
    return "affine", f"x · W + b: {x2}·{W.shape} + {(n_out,)} → {shape(p.out)}", [
        f"dx = dout · Wᵀ: {out2}·{(n_out, n_in)} → {shape(x)}",
        f"dW = xᵀ · dout: {(n_in, rows)}·{out2} → {W.shape}",
        said("rule.affine_db", rows=str(out2), cols=str((n_out,)))]


def _softmax_with_loss(p: _Parts):
    x, t = p.ins[0], p.ins[1] if len(p.ins) > 1 else None
    n = int(np.size(x) // np.shape(x)[-1]) if np.ndim(x) else 1
    return "softmax_with_loss", (
        f"L = −Σ t · log softmax(x) / N: {shape(x)}, {shape(t)} → L = {p.o} (N = {n})"), [
        f"dx = dout · (y − t) / N: {shape(x)}" if p.dout is None else
        f"dx = dout · (y − t) / N = {p.g} · (y − t) / {n}: {shape(x)}"]


def _dropout(p: _Parts):
    layer, s = p.node.layer, shape(p.out)
    if getattr(layer, "_scale", None) is None:
        return "dropout", said("rule.dropout_eval", shape=s), [f"dx = dout: {s}"]
    r = format_value(layer.dropout_ratio, p.precision)
    return "dropout", said("rule.dropout_forward", ratio=r, shape=s), [
        said("rule.dropout_backward", ratio=r, shape=s)]


def _batchnorm(p: _Parts):
    s, d = shape(p.out), (p.node.layer.gamma.shape[0],)
    return "batchnorm", f"y = γ · (x − μ) / √(σ² + ε) + β: {shape(p.ins[0])} → {s}", [
        f"dx = (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂)) / √(σ² + ε), dx̂ = γ · dout: {s}",
        f"dγ = Σ dout · x̂: {d}", f"dβ = Σ dout: {d}"]


def _layer(p: _Parts):
    ins = ", ".join(shape(v) for v in p.ins)
    return "layer", f"{p.node.label}: {ins} → {shape(p.out)}", [
        f"d{i + 1}: {shape(g)}" for i, g in enumerate(p.grads) if g is not None]


RULES: list[tuple[type, Callable]] = [  # the first that matches
    (operations.MulLayer, _mul), (operations.AddLayer, _add), (operations.SubLayer, _sub),
    (operations.NegLayer, _neg), (operations.DivLayer, _div),
    (operations.ReciprocalLayer, _reciprocal),
    (operations.ExpLayer, _exp), (operations.LogLayer, _log), (operations.PowLayer, _pow),
    (operations.SigmoidNode, _sigmoid), (layers.Sigmoid, _sigmoid), (operations.TanhNode, _tanh),
    (layers.Tanh, _tanh), (operations.ReluNode, _relu), (layers.Relu, _relu),
    (layers.Affine, _affine), (layers.SoftmaxWithLoss, _softmax_with_loss),
    (layers.Dropout, _dropout), (layers.BatchNormalization, _batchnorm),
]


def rule(node: Node, precision: int = 4) -> dict[str, Any]:
    """``{"op", "note", "forward", "backward", "dout"}`` of a recorded node (see
    the module's docstring); numbers to ``precision`` significant digits. A line with
    words (:data:`MESSAGES`) comes with its code and params: ``forward_code`` and
    ``forward_params``, ``backward_code`` and ``backward_params`` (lists, None for a line
    of symbols only)."""
    p = _Parts(node, precision)
    explain = next((f for cls, f in RULES if type(node.layer) is cls), None)
    if explain is None:  # a subclass of a known layer may compute something else
        explain = _layer
    try:
        note, forward, backward = explain(p)
    except (AttributeError, IndexError, TypeError, ValueError):
        note, forward, backward = _layer(p)  # an odd call of a known layer
    out = {"op": node.label, "note": note, "forward": forward, "backward": backward,
           "dout": None if p.dout is None else format_value(p.dout, precision)}
    return {**out, **coded_fields("forward", forward), **coded_fields("backward", backward)}
