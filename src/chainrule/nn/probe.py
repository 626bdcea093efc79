"""One input through a trained network, looked at from every side.

:func:`probe` runs one sample forward and backward with the network's own layers:
the class probabilities, the activations of every hidden layer, the gradient arriving
at every layer and the gradient of the loss with respect to the input pixels,
``dL/dx = dout_1 @ W1.T`` (the first Affine's ``dx``, which a network's ``gradient``
skips because training never needs it). :func:`learn_step` then takes one SGD step on
that sample, alone (N = 1) or among others (the loss their mean, as in training), on a
copy of the network, and reports what moved.

Both run the network in evaluation mode (batch norm with its running statistics, no
dropout): the network as it predicts. For the book's ``TwoLayerNet`` that is exactly
what ``gradient`` computes. The loss is the cross-entropy of the chosen class; weight
decay, which does not depend on the input, is added to the weight gradients only. The
loss a :class:`Probe` reports is recomputed in float64 from the scores, so a loss too
small for float32 (a class at 99.99999%) reads as the number it is, never ``-0.0``.

Works for any network whose ``layers`` (an ordered mapping), ``lastLayer`` and
``params`` follow the book (``TwoLayerNet``, ``MultiLayerNet``, and convolutional ones
whose ``config()`` names an ``input_dim``). Not thread-safe: like ``predict``, it uses
the layers' caches, so share a network between threads only under a lock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from chainrule.core.functions import check_labels
from chainrule.core.layers import BatchNormalization, Dropout, Relu, Sigmoid, Tanh
from chainrule.nn.network import copy_of, input_shape, loss_layer

ACTIVATION_LAYERS = (Relu, Sigmoid, Tanh)
"""Layers whose outputs are reported as a network's hidden activations."""
_MODED = (Dropout, BatchNormalization)  # forward(x, train_flg)
_GRAD_ATTRS = (("W", "dW"), ("b", "db"), ("gamma", "dgamma"), ("beta", "dbeta"))


@dataclass
class Probe:
    """What :func:`probe` saw. Arrays are for one sample (no batch axis)."""

    scores: np.ndarray  # the last Affine's output, before softmax
    probabilities: np.ndarray  # softmax(scores)
    target: int  # the class whose loss is differentiated
    loss: float  # -log softmax(scores)[target], in float64 (see exact_loss)
    hidden: dict[str, np.ndarray]  # activation layer name -> its output
    dout: np.ndarray  # (y - t) / N leaving SoftmaxWithLoss (N: the batch it was in)
    layer_grads: dict[str, np.ndarray]  # layer name -> dL/d(its output), forward order
    input_grad: np.ndarray  # dL/dx, in the shape of the input given

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.probabilities))


def _sample(net, x) -> tuple[np.ndarray, tuple[int, ...]]:
    """``x`` (one sample, any shape of the right size) as a batch of one, in the net's dtype."""
    x = np.asarray(x)
    shape = input_shape(net)
    if x.size != math.prod(shape) or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"probe: expected one input of {math.prod(shape)} numbers "
                         f"(shape {shape}), got {x.dtype} {x.shape}")
    return x.astype(net.dtype).reshape(1, *shape), x.shape


def _forward(net, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Scores and hidden activations of the batch ``x``, in evaluation mode."""
    hidden = {}
    for name, layer in net.layers.items():
        x = layer.forward(x, False) if isinstance(layer, _MODED) else layer.forward(x)
        if isinstance(layer, ACTIVATION_LAYERS):
            hidden[name] = x
    return x, hidden


def exact_loss(scores, target: int) -> float:
    """``-log softmax(scores)[target]`` in float64, without rounding to 0:
    ``log(1 + sum_j exp(s_j - s_target))`` over the other classes, by ``logaddexp``
    (a class ahead by 40 has a loss of 4e-18, not 0). Never negative, never ``-0.0``."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    others = np.delete(s, target) - s[target]
    return float(np.logaddexp.reduce(np.concatenate(([0.0], others)))) + 0.0


@dataclass
class _Pass:
    """One forward and backward pass of a batch: every array keeps its batch axis."""

    scores: np.ndarray
    y: np.ndarray  # the loss layer's softmax
    hidden: dict[str, np.ndarray]
    dout: np.ndarray  # (y - t) / N
    layer_grads: dict[str, np.ndarray]  # forward order
    input_grad: np.ndarray

    def row(self, i: int, target: int, shape: tuple[int, ...]) -> Probe:
        return Probe(self.scores[i].copy(), self.y[i].copy(), int(target),
                     exact_loss(self.scores[i], target),
                     {k: v[i].copy() for k, v in self.hidden.items()}, self.dout[i].copy(),
                     {k: g[i].copy() for k, g in self.layer_grads.items()},
                     np.asarray(self.input_grad[i]).reshape(shape))

    def mean_loss(self, targets: np.ndarray) -> float:
        """The batch's loss as training computes it (the mean), in float64."""
        return math.fsum(exact_loss(s, t) for s, t in zip(self.scores, targets, strict=True)) \
            / len(targets)


def _pass(net, batch: np.ndarray, targets: np.ndarray, forward=None) -> _Pass:
    """Forward ``batch`` (unless ``forward`` holds its scores and hidden activations),
    then backward from the mean loss of ``targets`` to the input."""
    scores, hidden = _forward(net, batch) if forward is None else forward
    last = loss_layer(net)
    last.forward(scores, targets)
    dout = first = last.backward(1)
    grads = {}
    for name, layer in reversed(net.layers.items()):
        grads[name] = dout
        dout = layer.backward(dout)
    return _Pass(scores, last.y, hidden, first, dict(reversed(grads.items())), dout)


def _target(target, k: int, who: str = "probe: target") -> int:
    if isinstance(target, bool) or not (isinstance(target, (int, np.integer))
                                        and 0 <= target < k):
        raise ValueError(f"{who} must be a class in 0..{k - 1}, got {target!r}")
    return int(target)


def probe(net, x, target: int | None = None) -> Probe:
    """Forward ``x`` (one sample), then backward from the loss of class ``target``
    (default: the predicted class) through every layer to the input."""
    batch, shape = _sample(net, x)
    forward = _forward(net, batch)
    scores = forward[0]
    target = _target(int(np.argmax(scores[0])) if target is None else target, scores.shape[-1])
    return _pass(net, batch, np.array([target]), forward).row(0, target, shape)


def param_grads(net) -> dict[str, np.ndarray]:
    """The gradients the layers hold after a backward pass, keyed like ``net.params``.

    Each layer's ``W``/``b`` (``gamma``/``beta``) is matched to the parameter it uses
    by reference; ``weight_decay_lambda * W`` is added to every ``W*`` key, as the
    networks' ``gradient`` does.
    """
    by_id = {id(p): k for k, p in net.params.items()}
    grads = {}
    for layer in net.layers.values():
        for attr, grad_attr in _GRAD_ATTRS:
            key = by_id.get(id(getattr(layer, attr, None)))
            if key is not None and getattr(layer, grad_attr, None) is not None:
                grads[key] = np.array(getattr(layer, grad_attr))
    missing = [k for k in net.params if k not in grads]
    if missing:
        raise ValueError(f"{type(net).__name__}: no layer holds the gradient of "
                         f"{', '.join(missing)}")
    lam = float(getattr(net, "weight_decay_lambda", 0.0) or 0.0)
    if lam:
        for k in grads:
            if k.startswith("W"):
                grads[k] += lam * net.params[k]
    return grads


@dataclass
class WeightChange:
    """One weight moved by a step: ``params[param][index]`` went from ``before`` to ``after``."""

    param: str
    index: tuple[int, ...]
    before: float
    after: float

    @property
    def delta(self) -> float:
        return self.after - self.before


@dataclass
class LearnStep:
    """One SGD step on one sample, alone or in a batch (see :func:`learn_step`)."""

    label: int
    lr: float
    before: Probe  # the sample in the network as it was, loss of ``label``
    after: Probe  # the sample in the copy after the step
    grads: dict[str, np.ndarray]  # dL/dparam of the batch's (mean) loss
    changes: list[WeightChange]  # the weights that moved most, largest first
    param_change: dict[str, float] = field(default_factory=dict)  # ||delta|| per parameter
    net: object = None  # the stepped copy
    n: int = 1  # the batch: the sample and n - 1 others
    batch_loss: tuple[float, float] = (math.nan, math.nan)  # its mean loss, before and after

    @property
    def dout(self) -> np.ndarray:
        """``(y - t) / N``: the gradient leaving Softmax-with-Loss, the sample's row."""
        return self.before.dout


def learn_step(net, x, label: int, lr: float = 0.1, *, top: int = 10,
               among: tuple | None = None) -> LearnStep:
    """One step of SGD, ``W <- W - lr * dL/dW``, on the sample ``x`` with true class
    ``label``, taken on a copy: ``net`` itself is not changed.

    Alone (N = 1), the sample's gradient is the whole step. ``among=(xs, labels)`` puts
    it in a batch with those samples (one per row of ``xs``, each of the input's size)
    and their classes: the loss is the batch's mean, as in training, so the sample's
    ``(y - t)`` is divided by N and the others pull the weights their own ways.
    ``before`` and ``after`` are the sample's own view (its row); ``batch_loss`` the
    batch's mean loss before and after.

    The gradients are those of :func:`probe` (evaluation mode); for a ``TwoLayerNet``
    they equal ``net.gradient(batch, labels)``. ``changes`` lists the ``top`` weights
    whose values moved most.
    """
    lr = float(lr)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"learn_step: lr must be a positive number, got {lr}")
    copy = copy_of(net)
    if copy is None:
        raise ValueError(f"{type(net).__name__} cannot be copied (it has no astype)")
    batch, shape = _sample(copy, x)
    forward = _forward(copy, batch)
    label = _target(label, forward[0].shape[-1], "learn_step: label")
    targets = np.array([label])
    if among is not None:
        batch, targets = _batch(copy, batch, label, among, forward[0].shape[-1])
        forward = None
    first = _pass(copy, batch, targets, forward)
    before = first.row(0, label, shape)
    grads = param_grads(copy)
    old = {k: p.copy() for k, p in copy.params.items()}
    with np.errstate(over="ignore", invalid="ignore"):
        for k, p in copy.params.items():
            p -= p.dtype.type(lr) * grads[k]  # in place: the layers hold these arrays
        second = _pass(copy, batch, targets)
    deltas = {k: copy.params[k] - old[k] for k in old}
    return LearnStep(label, lr, before, second.row(0, label, shape), grads,
                     _largest(old, copy.params, deltas, top),
                     {k: float(np.linalg.norm(d)) for k, d in deltas.items()}, copy,
                     len(targets), (first.mean_loss(targets), second.mean_loss(targets)))


def _batch(net, batch: np.ndarray, label: int, among: tuple, k: int):
    """The sample's batch of one followed by ``among``'s samples; all the labels."""
    xs, labels = among
    xs = np.asarray(xs)
    shape = input_shape(net)
    size = math.prod(shape)
    if xs.ndim < 1 or xs.size != len(xs) * size or not np.issubdtype(xs.dtype, np.number):
        raise ValueError(f"learn_step: among's samples must be rows of {size} numbers, "
                         f"got {xs.dtype} {xs.shape}")
    if len(xs) == 0:  # no others: the sample alone
        return batch, np.array([label])
    labels = check_labels(np.zeros((len(xs), k)), np.asarray(labels), "learn_step: among")
    if labels.ndim != 1:
        raise ValueError("learn_step: among's labels must be class indices")
    rows = xs.astype(net.dtype).reshape(len(xs), *shape)
    return np.concatenate([batch, rows]), np.concatenate([[label], labels]).astype(np.int64)


def _largest(old: dict[str, np.ndarray], new: dict[str, np.ndarray],
             deltas: dict[str, np.ndarray], top: int) -> list[WeightChange]:
    keys = list(deltas)
    flat = np.concatenate([np.abs(deltas[k]).ravel() for k in keys])
    top = max(0, min(int(top), flat.size))
    if top == 0:
        return []
    picked = np.argpartition(-flat, top - 1)[:top]
    picked = picked[np.argsort(-flat[picked], kind="stable")]
    starts = np.cumsum([0] + [deltas[k].size for k in keys])
    out = []
    for i in picked:
        j = int(np.searchsorted(starts, i, side="right")) - 1
        k = keys[j]
        index = np.unravel_index(int(i - starts[j]), deltas[k].shape)
        out.append(WeightChange(k, tuple(int(n) for n in index), float(old[k][index]),
                                float(new[k][index])))
    return out
