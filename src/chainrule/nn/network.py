"""What a network is to chainrule: the :class:`Network` protocol, and the few questions
the loop, the files, the lab and export ask of one, answered in one place.

The book's networks (``TwoLayerNet``, ``MultiLayerNet(Extend)``, ``SimpleConvNet``,
``DeepConvNet``) satisfy :class:`Network` whole. The book's ``Trainer`` and
:class:`~chainrule.training.loop.TrainingLoop` also take a learner's own network that
has only the book's chapter-5 members (``params``, ``predict``, ``loss``,
``gradient``, ``lastLayer``); the functions below give the answer for such a network
(no buffers, no generator of its own, cannot be copied, predicts any number of rows at
once) instead of each caller probing attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from chainrule.core.functions import check_labels


@runtime_checkable
class Network(Protocol):
    """A chainrule network: the book's members, and what saving, resuming and the lab use.

    The book's: ``params`` (name -> array, used by the layers by reference),
    ``layers`` (an ordered mapping of layer name -> layer), ``lastLayer``
    (``SoftmaxWithLoss``), ``predict(x)`` (scores before softmax), ``loss(x, t)``,
    ``accuracy(x, t)`` and ``gradient(x, t)`` (name -> gradient, like ``params``).

    chainrule's: ``config()`` (a JSON-able dict naming its ``"class"``) and the
    classmethod ``from_config(config, params, buffers=None, rng=None)`` (what a model
    file holds, see :mod:`chainrule.nn.registry`); ``dtype``; ``astype(dtype)`` (an
    independent copy: the loop evaluates one while the steps go on); ``buffers()`` and
    ``load_buffers()`` (state saved beside the parameters: batch-norm statistics);
    ``rng`` (the generator of its dropout masks, or None); ``chunk_size`` (how many
    rows to predict at a time when predicting many, or None for all at once) and
    ``input_dim`` (``(C, H, W)`` for a network of images, None for flat rows).
    """

    params: dict[str, np.ndarray]
    layers: Mapping[str, Any]
    chunk_size: int | None
    input_dim: tuple[int, int, int] | None
    rng: np.random.Generator | None

    @property
    def lastLayer(self) -> Any: ...  # noqa: N802 - the book's name

    @property
    def dtype(self) -> np.dtype: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...

    def loss(self, x: np.ndarray, t: np.ndarray) -> float: ...

    def accuracy(self, x: np.ndarray, t: np.ndarray) -> float: ...

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]: ...

    def config(self) -> dict: ...

    def astype(self, dtype) -> Network: ...

    def buffers(self) -> dict[str, np.ndarray]: ...

    def load_buffers(self, buffers: Mapping[str, np.ndarray]) -> None: ...


def buffers_of(net) -> dict[str, np.ndarray]:
    """``net.buffers()``, or none for a network without them."""
    buffers = getattr(net, "buffers", None)
    return buffers() if callable(buffers) else {}


def own_rng(net) -> np.random.Generator | None:
    """The generator ``net`` draws its dropout masks from, if it has one."""
    rng = getattr(net, "rng", None)
    return rng if isinstance(rng, np.random.Generator) else None


def copy_of(net):
    """An independent copy of ``net`` (``net.astype(net.dtype)``), or None when the
    network cannot be copied."""
    astype = getattr(net, "astype", None)
    return astype(net.dtype) if callable(astype) else None


def chunk_size(net, batch_size: int) -> int:
    """``batch_size``, or less where the network says so (``net.chunk_size``: a convnet's
    activations are large; a few hundred images at a time stay in cache)."""
    own = getattr(net, "chunk_size", None)
    return batch_size if own is None else min(batch_size, own)


def predicts_in_chunks(net) -> bool:
    """Whether ``net`` asks to predict a few rows at a time (a convnet)."""
    return getattr(net, "chunk_size", None) is not None


def loss_layer(net):
    """The network's last layer: the book's ``lastLayer`` (chapter 6 spells it
    ``last_layer``)."""
    last = getattr(net, "lastLayer", None)
    return last if last is not None else getattr(net, "last_layer", None)


def input_shape(net) -> tuple[int, ...]:
    """The shape of one input sample of ``net``: ``net.input_dim`` (``(C, H, W)`` for a
    convolutional network), else ``(input_size,)``, the rows of the first weight
    matrix ``W1``."""
    dim = getattr(net, "input_dim", None)
    if dim is not None:
        return tuple(int(d) for d in dim)
    first = net.params["W1"] if "W1" in net.params else next(iter(net.params.values()))
    return (int(first.shape[0]),)


def predict_in_chunks(predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                      batch_size: int | None) -> np.ndarray:
    """``predict(x)`` computed ``batch_size`` rows at a time (bounded memory)."""
    if batch_size is None or len(x) <= batch_size:
        return predict(x)
    return np.concatenate([predict(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def accuracy_of(scores: np.ndarray, t) -> float:
    """Share of rows whose highest score is the label (one-hot or index labels, one per
    row: :func:`~chainrule.core.functions.check_labels`). A row with a NaN score predicts
    nothing and counts as wrong (``argmax`` would call it class 0)."""
    scores = np.asarray(scores)
    t = check_labels(scores, t, "accuracy")
    if t.shape == scores.shape:
        t = t.argmax(axis=-1)
    correct = scores.argmax(axis=-1) == t
    if scores.dtype.kind in "fc":
        correct &= ~np.isnan(scores).any(axis=-1)
    return float(np.mean(correct))


def accuracy_on(net, x, t, batch_size: int) -> float:
    """``net``'s accuracy on ``(x, t)``, predicted ``chunk_size(net, batch_size)`` rows
    at a time."""
    return accuracy_of(predict_in_chunks(net.predict, x, chunk_size(net, batch_size)), t)
