"""Mini-batch training, the book's chapter-5 protocol: :class:`Trainer` and its :class:`History`.

The loop of ``train_neuralnet.py``: draw ``batch_size`` indices with replacement, one
backprop ``gradient``, one optimizer ``update``; after step ``i`` with
``i % eval_every == 0`` measure train and test accuracy on the full sets (chunked).
With the defaults (60000 images, batch 100, 10000 iterations) that is after steps
0, 600, ..., 9600: 17 evaluations, as in the book.

Nothing here prints or writes files: :mod:`chainrule.training.runs` keeps a run on disk and
``chainrule train`` shows it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from chainrule.core import parallel
from chainrule.core.functions import check_labels
from chainrule.data.images import ScaledImages
from chainrule.nn.nets import MultiLayerNet, TwoLayerNet, accuracy_of, predict_in_chunks
from chainrule.nn.optim import OPTIMIZERS, make_optimizer

DTYPES = ("float32", "float64")
NETWORKS = ("mlp", "simple-conv", "deep-conv")
"""``TrainConfig.network``: the book's fully connected nets (chapters 5 and 6), or its
SimpleConvNet (chapter 7) or DeepConvNet (chapter 8)."""

NETWORK_DEFAULTS: dict[str, dict[str, Any]] = {
    "mlp": {},
    "simple-conv": {"hidden": 100, "optimizer": "adam", "epochs": 20, "eval_samples": 1000},
    "deep-conv": {"hidden": 50, "optimizer": "adam", "epochs": 20, "eval_samples": 1000,
                  "dropout": 0.5},
}
"""What :meth:`TrainConfig.for_network` changes from chapter 5's defaults: the book's
``train_convnet.py`` and ``train_deepnet.py`` (Adam 0.001, batch 100, 20 epochs, accuracy
on the first 1000 training and test images after each epoch)."""


DIVERGENCE_FACTOR = 1000.0
"""A step's loss above ``DIVERGENCE_FACTOR * max(first step's loss, 1)`` is divergence.

Measured over 400 steps of MNIST (``benchmarks/divergence.py``): legitimate runs (the
book's protocol, the README's chapter-6 commands, SGD up to lr 1, Adam, AdaGrad and
RMSprop on a deeper net) peak at most 129 times their first loss; SGD at lr 100 peaks
at 26000 times, ``--lr 1e6`` at 2e29 times, Adam at lr 10 at 41000 times. Runs that only
fail to learn (SGD at lr 30, Adam at lr 1: 73 and 469 times) are left to go on."""


class SignalInterrupt(KeyboardInterrupt):
    """A second stop signal inside :meth:`Trainer.stopping_on_signals`: stop at once.
    ``signum`` says which (the CLI exits with 128 + it, as a shell would report)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = int(signum)


class TrainingDiverged(FloatingPointError):
    """The loss became NaN, infinite or far above the first step's loss (see
    :data:`DIVERGENCE_FACTOR`); the step that produced it was not applied."""

    def __init__(self, iteration: int, loss: float, lr: float | None = None, *,
                 factor: float | None = None, first: float | None = None):
        self.iteration, self.loss, self.lr = iteration, loss, lr
        self.factor, self.first = factor, first
        super().__init__(f"training diverged at iteration {iteration}: {self.reason}; "
                         + (f"try a lower learning rate (now {lr:g})" if lr is not None
                            else "try a lower learning rate"))

    @property
    def reason(self) -> str:
        """``the loss is nan``, or ``the loss is 1.2e+27, more than 1000 times the first
        step's (2.303)``."""
        if math.isfinite(self.loss) and self.factor is not None and self.first is not None:
            if self.first >= 1:
                return (f"the loss is {self.loss:.4g}, more than {self.factor:g} times the "
                        f"first step's ({self.first:.4g})")
            return f"the loss is {self.loss:.4g}, more than {self.factor:g}"
        return f"the loss is {self.loss}"


# ---------------------------------------------------------------- configuration


@dataclass
class TrainConfig:
    """Everything that decides a run's numbers; the defaults are the book's chapter-5 protocol.

    The network is the book's ``TwoLayerNet`` when ``hidden`` is one size, ``activation``
    is relu, ``weight_init_std`` a number and there is no batch norm, dropout or weight
    decay; otherwise a ``MultiLayerNet`` (see :func:`build_net`). Two fields left at
    ``None`` are filled in by :meth:`resolved`: ``lr`` (0.1 for sgd, as the book trains
    chapter 5; the optimizer's own default otherwise, e.g. 0.001 for adam) and
    ``weight_init_std`` (0.01 for TwoLayerNet; ``"he"`` for relu and ``"xavier"`` for
    sigmoid/tanh in a MultiLayerNet).

    ``network="simple-conv"`` or ``"deep-conv"`` trains the book's SimpleConvNet or
    DeepConvNet instead (``hidden`` is then its one hidden size, ``dropout`` DeepConvNet's
    ratio); :meth:`for_network` gives such a config with its chapter's defaults.
    ``eval_samples=k`` measures the scheduled accuracies on the first ``k`` images of
    each set (0: all of them) and the final one on the whole test set.
    """

    dataset: str = "mnist"
    network: str = "mlp"  # one of NETWORKS (config.json's "net" is the architecture)
    hidden: int | list[int] = 50  # one size, or one per hidden layer
    activation: str = "relu"
    weight_init_std: float | str | None = None  # a number, "he" or "xavier"
    batchnorm: bool = False
    dropout: float = 0.0
    weight_decay: float = 0.0
    optimizer: str = "sgd"
    lr: float | None = None
    batch_size: int = 100
    iters: int = 10000
    epochs: float | None = None  # if set, iters = round(epochs * iters_per_epoch)
    eval_every: int | None = None  # None: once per epoch
    seed: int = 0
    dtype: str = "float32"
    eval_samples: int = 0  # 0: evaluate on the full sets

    @classmethod
    def for_network(cls, network: str = "mlp", **fields) -> TrainConfig:
        """A config for ``network`` with its chapter's defaults (:data:`NETWORK_DEFAULTS`),
        then ``fields``: ``TrainConfig.for_network("simple-conv")`` is the book's
        train_convnet.py."""
        if network not in NETWORKS:
            raise ValueError(f"network must be one of {', '.join(NETWORKS)}, got {network!r}")
        defaults = dict(NETWORK_DEFAULTS[network])
        if "iters" in fields:  # a length in iterations replaces the default in epochs
            defaults.pop("epochs", None)
        return cls(**{"network": network, **defaults, **fields})

    def validate(self) -> TrainConfig:
        """Raise ``ValueError`` naming the first bad field; return ``self``."""
        from chainrule.data.datasets import DATASET_NAMES
        from chainrule.nn.nets import ACTIVATIONS

        init = self.weight_init_std
        checks = [
            (self.dataset in DATASET_NAMES,
             f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASET_NAMES)}"),
            (self.network in NETWORKS,
             f"network must be one of {', '.join(NETWORKS)}, got {self.network!r}"),
            (_sizes_ok(self.hidden), f"hidden must be >= 1, got {self.hidden}"),
            (self.activation in ACTIVATIONS,
             f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}"),
            (init is None or (_finite(init) and init > 0) or _init_name(init) is not None,
             f"weight_init_std must be he, xavier or a positive number, got {init!r}"),
            (isinstance(self.batchnorm, (bool, np.bool_)),
             f"batchnorm must be true or false, got {self.batchnorm!r}"),
            (_finite(self.dropout) and 0 <= self.dropout < 1,
             f"dropout must be in [0, 1), got {self.dropout}"),
            (_finite(self.weight_decay) and self.weight_decay >= 0,
             f"weight_decay must be >= 0, got {self.weight_decay}"),
            (str(self.optimizer).lower() in OPTIMIZERS,
             f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"),
            (self.lr is None or (_finite(self.lr) and self.lr > 0),
             f"lr must be positive, got {self.lr}"),
            (_is_int(self.batch_size) and self.batch_size > 0,
             f"batch_size must be >= 1, got {self.batch_size}"),
            (_is_int(self.iters) and self.iters >= 0, f"iters must be >= 0, got {self.iters}"),
            (self.epochs is None or (_finite(self.epochs) and self.epochs >= 0),
             f"epochs must be >= 0, got {self.epochs}"),
            (self.eval_every is None or (_is_int(self.eval_every) and self.eval_every > 0),
             f"eval_every must be >= 1, got {self.eval_every}"),
            (_is_int(self.seed) and self.seed >= 0, f"seed must be >= 0, got {self.seed}"),
            (self.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}"),
            (_is_int(self.eval_samples) and self.eval_samples >= 0,
             f"eval_samples must be >= 0 (0: all), got {self.eval_samples}"),
            *self._conv_checks(),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        return self

    def _conv_checks(self) -> list[tuple[bool, str]]:
        """What a convolutional net does not take (its layers are the book's)."""
        if self.network == "mlp":
            return []
        only = f"applies to --net mlp only, not {self.network}"
        return [(_sizes_ok(self.hidden) and len(self.hidden_sizes) == 1,
                 f"hidden must be one size for {self.network}, got {self.hidden}"),
                (self.activation == "relu", f"activation {only}"),
                (not self.batchnorm, f"batchnorm {only}"),
                (self.weight_decay == 0, f"weight_decay {only}"),
                (self.network == "deep-conv" or self.dropout == 0,
                 f"dropout applies to --net mlp and deep-conv only, not {self.network}")]

    def resolved(self) -> TrainConfig:
        """A validated copy with ``lr`` and ``weight_init_std`` filled in, names in lower
        case and ``hidden`` as an int (one size) or a list: what ``config.json`` records."""
        self.validate()
        sizes = self.hidden_sizes
        init = self.weight_init_std
        c = dataclasses.replace(
            self, hidden=int(sizes[0]) if len(sizes) == 1 else [int(n) for n in sizes],
            weight_init_std=_init_name(init) or (init if init is None else float(init)),
            batchnorm=bool(self.batchnorm), dropout=float(self.dropout),
            weight_decay=float(self.weight_decay), optimizer=str(self.optimizer).lower())
        if c.weight_init_std is None:
            c.weight_init_std = (0.01 if c.two_layer or c.network == "simple-conv" else
                                 "he" if c.activation == "relu" else "xavier")
        if c.lr is None:
            c.lr = default_lr(c.optimizer)
        c.lr = float(c.lr)
        return c

    @property
    def hidden_sizes(self) -> list[int]:
        """``hidden`` as a list of sizes, one per hidden layer."""
        return [self.hidden] if _is_int(self.hidden) else list(self.hidden)

    @property
    def two_layer(self) -> bool:
        """Whether :func:`build_net` makes the book's ``TwoLayerNet``: one hidden size,
        relu, a numeric (or default) init, no batch norm, dropout or weight decay."""
        return (self.network == "mlp" and len(self.hidden_sizes) == 1 and self.activation == "relu"
                and not isinstance(self.weight_init_std, str) and not self.batchnorm
                and self.dropout == 0 and self.weight_decay == 0)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """The config in ``d``; keys that are not fields (e.g. derived values) are ignored,
        missing ones (in files written before they existed) take their defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def default_lr(optimizer: str) -> float:
    """0.1 for sgd (the book's chapter-5 rate), else the optimizer's own default."""
    name = str(optimizer).lower()
    return 0.1 if name == "sgd" else float(make_optimizer(name).lr)


INIT_NAMES = {"he": "he", "relu": "he", "xavier": "xavier", "sigmoid": "xavier"}
"""Weight-initialisation names (the book spells He ``relu`` and Xavier ``sigmoid``)."""


def _init_name(v) -> str | None:
    return INIT_NAMES.get(v.lower()) if isinstance(v, str) else None


def _sizes_ok(hidden) -> bool:
    if _is_int(hidden):
        return hidden > 0
    return (isinstance(hidden, (list, tuple)) and len(hidden) > 0
            and all(_is_int(n) and n > 0 for n in hidden))


def build_net(config: TrainConfig, input_size: int, output_size: int, *,
              rng: np.random.Generator, input_dim: tuple[int, int, int] | None = None):
    """The network of a resolved ``config``: the book's ``TwoLayerNet`` when
    ``config.two_layer``, a ``MultiLayerNet`` for other MLPs, a ``SimpleConvNet`` or
    ``DeepConvNet`` for ``network`` simple-conv or deep-conv (on ``input_dim`` images,
    ``(C, H, W)``; by default one channel of square images of ``input_size`` pixels);
    weights (and later dropout masks) drawn from ``rng``."""
    if config.network != "mlp":
        from chainrule.nn.convnets import DeepConvNet, SimpleConvNet

        if input_dim is None:
            side = math.isqrt(input_size)
            if side * side != input_size:
                raise ValueError(f"network {config.network} needs images: {input_size} inputs "
                                 "are not a square picture")
            input_dim = (1, side, side)
        kwargs = {"hidden_size": config.hidden_sizes[0], "output_size": output_size,
                  "weight_init_std": config.weight_init_std, "dtype": config.dtype, "rng": rng}
        if config.network == "simple-conv":
            return SimpleConvNet(input_dim, **kwargs)
        return DeepConvNet(input_dim, dropout_ratio=config.dropout, **kwargs)
    if config.two_layer:
        return TwoLayerNet(input_size, config.hidden_sizes[0], output_size, config.weight_init_std,
                           dtype=config.dtype, rng=rng)
    return MultiLayerNet(input_size, config.hidden_sizes, output_size,
                         activation=config.activation, weight_init_std=config.weight_init_std,
                         weight_decay_lambda=config.weight_decay, dropout_ratio=config.dropout,
                         use_batchnorm=config.batchnorm, dtype=config.dtype, rng=rng)


OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "nesterov": 1, "adagrad": 1, "rmsprop": 1,
                   "adam": 2}
"""Arrays of the parameters' size that each optimizer keeps."""


def memory_needed(sizes: list[int], dtype, *, batch: int, slots: int = 0,
                  batchnorm: bool = False) -> tuple[int, int]:
    """``(parameters, bytes)`` that a fully connected network of layer ``sizes`` needs:
    its weights drawn in float64 and stored in ``dtype``, a gradient, ``slots``
    optimizer arrays and an evaluation copy of each, plus the activations of ``batch``
    rows (a rough upper estimate, for refusing a network before allocating it)."""
    n = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    if batchnorm:
        n += 2 * sum(sizes[1:-1])
    itemsize = np.dtype(dtype).itemsize
    activations = 4 * batch * sum(sizes) * itemsize
    return n, n * (8 + itemsize * (3 + slots)) + activations


def physical_memory() -> int | None:
    """This machine's memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(sizes: list[int], dtype, *, batch: int, slots: int = 0,
                 batchnorm: bool = False, available: int | None = None) -> None:
    """Raise ``ValueError`` (parameter count and bytes) if the network of layer ``sizes``
    needs more than ``available`` bytes (default: this machine's memory)."""
    n, needed = memory_needed(sizes, dtype, batch=batch, slots=slots, batchnorm=batchnorm)
    available = physical_memory() if available is None else available
    if available is not None and needed > available:
        size = "-".join(map(str, sizes))
        raise ValueError(f"the network {size} has {n:,} parameters "
                         f"({_bytes(n * np.dtype(dtype).itemsize)} in {np.dtype(dtype)}); "
                         f"training it needs about {_bytes(needed)}, more than this "
                         f"machine's {_bytes(available)} of memory")


def _bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover


def describe_net(net_config: dict[str, Any], init: float | str | None = None) -> str:
    """A network's architecture in words, from ``net.config()``: ``TwoLayerNet 784-50-10``,
    ``MultiLayerNet 784-256-128-10 relu he, batchnorm, dropout 0.2, weight decay 0.0001``
    (``init`` is shown for a MultiLayerNet when given)."""
    c = net_config
    if c.get("class") in ("SimpleConvNet", "DeepConvNet"):
        return _describe_convnet(c, init)
    hidden = c.get("hidden_size_list", [c.get("hidden_size")])
    sizes = "-".join(str(n) for n in (c.get("input_size"), *hidden, c.get("output_size")))
    text = f"{c.get('class')} {sizes}"
    if c.get("class") != "MultiLayerNet":
        return text
    text += f" {c['activation']}" + ("" if init is None else f" {init:g}" if _finite(init)
                                     else f" {init}")
    if c.get("use_batchnorm"):
        text += ", batchnorm"
    if c.get("dropout_ratio"):
        text += f", dropout {c['dropout_ratio']:g}"
    if c.get("weight_decay_lambda"):
        text += f", weight decay {c['weight_decay_lambda']:g}"
    return text


def _describe_convnet(c: dict[str, Any], init) -> str:
    """``SimpleConvNet 1x28x28: conv 30 5x5, pool 2x2, affine 100, affine 10``."""
    convs = c.get("conv_params") or [c.get("conv_param") or {}]
    nums = "-".join(str(p.get("filter_num")) for p in convs)
    sizes = {f"{p.get('filter_size')}x{p.get('filter_size')}" for p in convs}
    pads = {p.get("pad") for p in convs}
    strides = {p.get("stride") for p in convs}
    conv = f"conv {nums} {'/'.join(sorted(sizes))}"
    if pads != {0}:
        conv += f" pad {'/'.join(str(p) for p in sorted(pads))}"
    if strides != {1}:
        conv += f" stride {'/'.join(str(s) for s in sorted(strides))}"
    pool = "pool 2x2 after every 2nd conv" if len(convs) > 1 else "pool 2x2"
    text = (f"{c.get('class')} {'x'.join(str(d) for d in c.get('input_dim', []))}: {conv}, "
            f"{pool}, affine {c.get('hidden_size')}, affine {c.get('output_size')}")
    if c.get("dropout_ratio"):
        text += f", dropout {c['dropout_ratio']:g}"
    if init is not None:
        text += f", init {init:g}" if _finite(init) else f", init {init}"
    return text


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _finite(v) -> bool:
    return isinstance(v, (int, float, np.number)) and math.isfinite(v)


def iters_per_epoch(train_size: int, batch_size: int) -> int:
    """``max(train_size // batch_size, 1)``, as in the book."""
    return max(train_size // batch_size, 1)


class Data(NamedTuple):
    """Training and test arrays: flat inputs, class-index (or one-hot) labels."""

    x_train: np.ndarray
    t_train: np.ndarray
    x_test: np.ndarray | None = None
    t_test: np.ndarray | None = None


def load_data(dataset: str = "mnist", data_dir=None, dtype="float32", *,
              download: bool = True) -> Data:
    """``load_mnist`` flat, with images normalized to ``dtype`` as they are read.

    The images stay uint8 in memory (:class:`ScaledImages`): 47 MB for MNIST's training
    set instead of 188 MB in float32, with bit-identical batches.
    """
    from chainrule.data.datasets import load_mnist, pixel_max

    (x, t), (xt, tt) = load_mnist(normalize=False, flatten=True, dataset=dataset,
                                  data_dir=data_dir, download=download)
    scale = pixel_max(dataset)
    return Data(ScaledImages(x, dtype, scale), t, ScaledImages(xt, dtype, scale), tt)


def num_classes(*labels: np.ndarray | None) -> int:
    """Number of classes seen in one-hot or index label arrays."""
    sizes = [t.shape[1] if t.ndim == 2 else int(t.max()) + 1
             for t in labels if t is not None and len(t)]
    return max(sizes, default=0)


# ---------------------------------------------------------------- history


@dataclass
class History:
    """One row per evaluation, plus every step's mini-batch loss.

    ``loss`` of a row is the mean mini-batch loss of the steps since the previous row
    (each measured in its step's forward pass, before that step's update);
    ``iteration`` is the 0-based index ``i`` of the step after which the row was
    measured; ``epoch = i / iters_per_epoch``.
    """

    COLUMNS = ("iteration", "epoch", "loss", "train_acc", "test_acc")

    iteration: list[int] = field(default_factory=list)
    epoch: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)

    # the book's names
    @property
    def train_loss_list(self) -> list[float]:
        return self.step_loss

    @property
    def train_acc_list(self) -> list[float]:
        return self.train_acc

    @property
    def test_acc_list(self) -> list[float]:
        return self.test_acc

    def __len__(self) -> int:
        return len(self.iteration)

    def append(self, row: dict[str, float]) -> None:
        for c in self.COLUMNS:
            getattr(self, c).append(row[c])

    def rows(self) -> list[dict[str, float]]:
        return [dict(zip(self.COLUMNS, r, strict=True))
                for r in zip(*(getattr(self, c) for c in self.COLUMNS), strict=True)]

    def last(self) -> dict[str, float] | None:
        return self.rows()[-1] if self.iteration else None

    def to_csv(self) -> str:
        """``metrics.csv``: a header and one row per evaluation, floats in full precision."""
        lines = [",".join(self.COLUMNS)]
        lines += [f"{r['iteration']}," + ",".join(repr(float(r[c])) for c in self.COLUMNS[1:])
                  for r in self.rows()]
        return "\n".join(lines) + "\n"

    def state_dict(self, *, steps_from: int = 0) -> dict[str, np.ndarray]:
        """The rows, and the step losses from step ``steps_from`` on (all by default).

        With ``steps_from = k > 0`` the arrays also hold ``step_loss_from`` (k) and
        ``first_loss`` (step 0's loss): :meth:`from_state_dict` puts NaN for steps
        ``1 .. k-1`` (a run folder keeps them in its own file, see
        :mod:`chainrule.training.runs`). What resuming needs is the steps since the last row.
        """
        arrays = {c: np.array(getattr(self, c), dtype=np.float64) for c in self.COLUMNS}
        arrays["iteration"] = np.array(self.iteration, dtype=np.int64)
        arrays["step_loss"] = np.array(self.step_loss[steps_from:], dtype=np.float64)
        if steps_from > 0:
            arrays["step_loss_from"] = np.array(steps_from, dtype=np.int64)
            arrays["first_loss"] = np.array(self.step_loss[0] if self.step_loss else math.nan)
        return arrays

    @classmethod
    def from_state_dict(cls, arrays: dict[str, np.ndarray]) -> History:
        missing = [c for c in (*cls.COLUMNS, "step_loss") if c not in arrays]
        if missing:
            raise ValueError(f"history: missing {', '.join(missing)}")
        h = cls(**{c: [float(v) for v in arrays[c]] for c in (*cls.COLUMNS[1:], "step_loss")})
        h.iteration = [int(v) for v in arrays["iteration"]]
        if len({len(getattr(h, c)) for c in cls.COLUMNS}) != 1:
            raise ValueError("history: columns have different lengths")
        start = int(arrays.get("step_loss_from", 0))
        if start < 0:
            raise ValueError(f"history: bad step_loss_from {start}")
        if start > 0:
            first = float(arrays.get("first_loss", math.nan))
            h.step_loss = [first] + [math.nan] * (start - 1) + h.step_loss
        return h

    def steps_since_last_row(self) -> int:
        """The first step whose loss the next row's mean needs."""
        return self.iteration[-1] + 1 if self.iteration else 0


# ---------------------------------------------------------------- the loop


class Trainer:
    """The book's training loop with a schedule, a history, interruption and exact resume.

    ``net`` needs ``params``, ``gradient(x, t)``, ``lastLayer.loss`` and ``predict``;
    ``optimizer`` needs ``update(params, grads)``, ``state_dict()`` and
    ``load_state_dict()``. A network's ``buffers()`` (batch-norm statistics) and own
    generator ``rng`` (dropout masks) are saved and restored too. Batches come from
    ``rng`` (or a generator made from ``seed``) only. ``run()`` trains until ``iters``
    steps are done or a stop is requested; call it again to continue.

    ``step_threads`` caps the BLAS threads during training steps (a mini-batch's
    matrices are too small to share between threads: one is faster, and much faster
    on a busy machine); :meth:`evaluate` uses them all, but for a network that
    predicts a few images at a time (a convnet's ``chunk_size``). It needs
    ``threadpoolctl`` and is ignored without it; ``None`` leaves BLAS alone.
    ``threads`` is how many threads the layers that split their work (convolution,
    pooling, a large affine's two products) may use (:mod:`chainrule.core.parallel`; None:
    one per core, up to 8); the numbers do not depend on it. While an evaluation runs
    beside the steps, it takes one of them. Evaluations predict ``eval_batch_size``
    rows at a time: 2000 float32 rows of MNIST (6 MB) stay in cache between the
    conversion from uint8 and the product, which 10000 rows do not.

    ``eval_samples=k`` measures the scheduled accuracies on the first ``k`` samples of
    each set instead of all of them (the book's ``evaluate_sample_num_per_epoch``,
    e.g. 1000 for its chapter-7 convnet); ``None`` uses the full sets.

    A step whose loss is NaN, infinite or above ``divergence_factor`` times the larger
    of the first step's loss and 1 (:data:`DIVERGENCE_FACTOR`; ``None``: only NaN and
    infinity) raises :class:`TrainingDiverged` before its update.
    """

    def __init__(self, net, optimizer, x_train, t_train, x_test=None, t_test=None, *,
                 batch_size: int = 100, iters: int = 10000, eval_every: int | None = None,
                 seed=None, rng: np.random.Generator | None = None,
                 eval_batch_size: int = 2000, step_threads: int | None = 1,
                 threads: int | None = None,
                 eval_samples: int | None = None,
                 divergence_factor: float | None = DIVERGENCE_FACTOR):
        if len(x_train) != len(t_train) or (x_test is not None and len(x_test) != len(t_test)):
            raise ValueError("Trainer: inputs and labels have different lengths")
        if x_test is not None and len(x_test) == 0:
            raise ValueError("Trainer: the test set is empty (give None for no test set)")
        if divergence_factor is not None and not (_finite(divergence_factor)
                                                  and divergence_factor > 1):
            raise ValueError(f"Trainer: divergence_factor must be a number > 1 or None, "
                             f"got {divergence_factor!r}")
        if not 0 < batch_size <= len(x_train):
            raise ValueError(f"Trainer: batch size {batch_size} must be between 1 and the "
                             f"training set size ({len(x_train)})")
        if iters < 0 or (eval_every is not None and eval_every < 1):
            raise ValueError(f"Trainer: need iters >= 0 and eval_every >= 1, got {iters} "
                             f"and {eval_every}")
        if rng is not None and seed is not None:
            raise ValueError("Trainer: give either seed or rng, not both")
        if eval_samples is not None and not (isinstance(eval_samples, (int, np.integer))
                                             and eval_samples > 0):
            raise ValueError(f"Trainer: eval_samples must be a positive integer or None, "
                             f"got {eval_samples!r}")
        self.eval_samples = None if eval_samples is None else int(eval_samples)
        _check_label_sets(net, x_train, t_train, x_test, t_test)
        self.net, self.optimizer = net, optimizer
        self.x_train, self.t_train, self.x_test, self.t_test = x_train, t_train, x_test, t_test
        self.batch_size, self.iters = batch_size, iters
        self.iters_per_epoch = iters_per_epoch(len(x_train), batch_size)
        self.eval_every = eval_every or self.iters_per_epoch
        self.eval_batch_size = eval_batch_size
        if threads is not None and not (_is_int(threads) and threads >= 1):
            raise ValueError(f"Trainer: threads must be an integer >= 1 or None, got {threads!r}")
        self.step_threads = step_threads
        self.threads = threads
        self.rng = rng if rng is not None else np.random.default_rng(seed)
        self.iteration = 0  # steps done
        self.history = History()
        self.status = "new"  # new, running, completed, interrupted, diverged
        self.divergence_factor = divergence_factor
        self.stop_requested = False
        self.stopped_by: int | None = None  # the signal that asked for the stop
        self._signals = False  # inside stopping_on_signals()
        self._threads = _BlasThreads(None)

    @classmethod
    def from_config(cls, config: TrainConfig, data: Data, **kwargs) -> Trainer:
        """A fresh network (:func:`build_net`) and optimizer for ``config``: weights (and
        dropout masks) and batches come from two independent streams of ``config.seed``."""
        config = config.resolved()
        init_seq, batch_seq = np.random.SeedSequence(config.seed).spawn(2)
        shape = tuple(data.x_train.shape[1:])  # flat rows, or (C, H, W) images
        output_size = num_classes(data.t_train, data.t_test)
        if config.network == "mlp":  # (a convnet's activations are another matter)
            sizes = [math.prod(shape), *config.hidden_sizes, output_size]
            check_memory(sizes, config.dtype, batch=max(config.batch_size,
                                                        kwargs.get("eval_batch_size", 2000)),
                         slots=OPTIMIZER_SLOTS.get(config.optimizer, 2),
                         batchnorm=config.batchnorm)
        net = build_net(config, math.prod(shape), output_size,
                        rng=np.random.default_rng(init_seq),
                        input_dim=shape if len(shape) == 3 else None)
        kwargs.setdefault("eval_samples", config.eval_samples or None)
        optimizer = make_optimizer(config.optimizer, lr=config.lr)
        ipe = iters_per_epoch(len(data.x_train), config.batch_size)
        iters = config.iters if config.epochs is None else round(config.epochs * ipe)
        return cls(net, optimizer, *data, batch_size=config.batch_size, iters=iters,
                   eval_every=config.eval_every, rng=np.random.default_rng(batch_seq), **kwargs)

    @property
    def done(self) -> bool:
        return self.iteration >= self.iters

    def request_stop(self) -> None:
        """Stop after the step in progress (what Ctrl-C does during :meth:`run`)."""
        self.stop_requested = True

    def evaluate(self, *, train: bool = True) -> tuple[float, float]:
        """``(train_acc, test_acc)`` of the network now, on the full sets (NaN: no test set;
        with ``train=False``, NaN for the training set, which is then not measured)."""
        # A network that predicts a few images at a time (a convnet's chunk_size) makes
        # small products, which BLAS threads slow down (and stall on a busy machine):
        # BLAS as in the steps, and the batch split between the cores instead.
        chunked = getattr(self.net, "chunk_size", None) is not None
        with parallel.threads(self.threads), _BlasThreads(self.step_threads if chunked else None):
            return self._accuracies(self.net, train=train)

    def _accuracies(self, net, samples: int | None = None, *,
                    train: bool = True) -> tuple[float, float]:
        """Train and test accuracy on the first ``samples`` of each set (None: all)."""
        def first(a):  # slicing converts ScaledImages: only slice when asked to
            return a if samples is None else a[:samples]

        train = (math.nan if not train else
                 _accuracy(net, first(self.x_train), first(self.t_train), self.eval_batch_size))
        test = (math.nan if self.x_test is None else
                _accuracy(net, first(self.x_test), first(self.t_test), self.eval_batch_size))
        return train, test

    def run(self, *, on_eval: Callable[[Trainer, dict], Any] | None = None,
            on_progress: Callable[[Trainer], Any] | None = None, progress_every: int = 50,
            handle_sigint: bool = True,
            on_checkpoint: Callable[[Trainer], Any] | None = None,
            checkpoint_every: float | None = None) -> History:
        """Train up to ``iters`` steps; return the history.

        ``on_eval(trainer, row)`` runs after each evaluation, ``on_progress(trainer)``
        every ``progress_every`` steps and at the end, ``on_checkpoint(trainer)`` between
        two steps once ``checkpoint_every`` seconds have passed since the last call or
        evaluation (every evaluation scheduled before then is recorded first, so a
        checkpoint never stands past an unrecorded one). With ``handle_sigint`` (and in
        the main thread) see :meth:`stopping_on_signals`: the first SIGINT (Ctrl-C),
        SIGTERM or SIGHUP finishes the current step and returns with
        ``status == "interrupted"`` and ``stopped_by`` set to the signal.
        Raises :class:`TrainingDiverged` on a NaN, infinite or exploding loss.
        """
        if not self._signals:  # a stop asked for within an outer block stays asked for
            self.stop_requested, self.stopped_by = False, None
        self.status = "running"
        keep_freed_memory()
        with (self.stopping_on_signals(handle_sigint),
              parallel.threads(self.threads),
              _BlasThreads(self.step_threads) as threads,
              np.errstate(over="ignore", invalid="ignore"),  # a NaN loss is caught below
              ThreadPoolExecutor(1, thread_name_prefix="chainrule-eval") as pool):
            self._threads, self._pool = threads, pool
            self._loop(on_eval, on_progress, max(int(progress_every), 1), on_checkpoint,
                       checkpoint_every)
        self.status = "completed" if self.done else "interrupted"
        if on_progress is not None:
            on_progress(self)
        return self.history

    def loss_limit(self) -> float:
        """The largest step loss that is not divergence: ``divergence_factor`` times
        the larger of the first step's loss and 1 (infinity before the first step)."""
        first = self.history.step_loss[0] if self.history.step_loss else math.nan
        if self.divergence_factor is None or not math.isfinite(first):
            return math.inf
        return self.divergence_factor * max(first, 1.0)

    def _loop(self, on_eval, on_progress, progress_every: int, on_checkpoint,
              checkpoint_every: float | None) -> None:
        params, update = self.net.params, self.optimizer.update
        gradient, last = self.net.gradient, self.net.lastLayer
        with _labels_checked(last):  # the whole set was checked once, in __init__
            self._steps(gradient, last, params, update, on_eval, on_progress,
                        progress_every, on_checkpoint, checkpoint_every)

    def _steps(self, gradient, last, params, update, on_eval, on_progress,
               progress_every: int, on_checkpoint, checkpoint_every: float | None) -> None:
        x, t, n, size = self.x_train, self.t_train, len(self.x_train), self.batch_size
        draw, append = self.rng.integers, self.history.step_loss.append
        every = self.eval_every
        limit = self.loss_limit()
        clock = time.monotonic
        period = checkpoint_every if on_checkpoint is not None and checkpoint_every else math.inf
        self._handed_out = clock()
        pending: Future | None = None  # an evaluation running beside the steps
        finished = False
        try:
            for i in range(self.iteration, self.iters):
                # Record a finished evaluation before this step, so that the checkpoint
                # written with it (iteration i) never stands past an unrecorded one.
                if pending is not None and (pending.done() or i % every == 0):
                    self._record(pending.result(), on_eval)
                    pending = None
                if clock() - self._handed_out >= period:
                    if pending is not None:  # its row first; on_eval may save
                        self._record(pending.result(), on_eval)
                        pending = None
                    if clock() - self._handed_out >= period:
                        on_checkpoint(self)
                        self._handed_out = clock()
                batch = draw(n, size=size)
                grads = gradient(x[batch], t[batch])
                loss = last.loss
                if not loss < limit:  # NaN, infinite, or far above the first step's
                    self._diverged(i, loss)
                append(loss)
                update(params, grads)
                self.iteration = i + 1
                if i == 0:
                    limit = self.loss_limit()
                if i % every == 0:
                    pending = self._start_evaluation(i)
                if on_progress is not None and (i + 1) % progress_every == 0:
                    on_progress(self)
                if self.stop_requested:
                    break
            finished = True
        finally:
            if pending is not None:  # its row belongs in the history whatever happened
                self._record(pending.result(), on_eval if finished else None)

    def _diverged(self, i: int, loss: float):
        self.status = "diverged"
        factor = self.divergence_factor if math.isfinite(loss) else None
        first = self.history.step_loss[0] if self.history.step_loss else None
        raise TrainingDiverged(i, loss, getattr(self.optimizer, "lr", None), factor=factor,
                               first=first)

    def _start_evaluation(self, i: int) -> Future:
        """Evaluate the network as it is after step ``i``, on a copy, in the pool's thread.

        The copy (``net.astype``) owns its parameters, buffers and layer caches, so the
        steps go on meanwhile: the evaluation's products run on the other core (BLAS is
        held to one thread during steps) instead of after them. Same numbers, same
        schedule; the row is recorded when it is ready, at the latest before the next
        evaluation starts or the run returns.
        """
        h = self.history
        window = h.step_loss[h.steps_since_last_row():i + 1]
        row = {"iteration": i, "epoch": i / self.iters_per_epoch,
               "loss": math.fsum(window) / len(window) if window else math.nan}
        if not callable(getattr(self.net, "astype", None)):  # no way to copy it: wait
            done: Future = Future()
            with self._threads.released():
                train_acc, test_acc = self._accuracies(self.net, self.eval_samples)
            done.set_result({**row, "train_acc": train_acc, "test_acc": test_acc})
            return done
        snapshot = self.net.astype(self.net.dtype)

        def evaluate() -> dict[str, float]:
            # as in the loop, per thread; and the steps leave this thread a core
            with np.errstate(over="ignore", invalid="ignore"), parallel.reserve():
                train_acc, test_acc = self._accuracies(snapshot, self.eval_samples)
            return {**row, "train_acc": train_acc, "test_acc": test_acc}

        return self._pool.submit(evaluate)

    def _record(self, row: dict[str, float], on_eval) -> None:
        self.history.append(row)
        if on_eval is not None:
            on_eval(self, row)
            self._handed_out = time.monotonic()

    STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
    """The signals that ask a run to stop and save (those this system has)."""

    @contextlib.contextmanager
    def stopping_on_signals(self, enabled: bool = True) -> Iterator[None]:
        """Within the block the first SIGINT (Ctrl-C), SIGTERM (``kill``, ``timeout``,
        ``docker stop``, schedulers) or SIGHUP (a closed terminal) asks the loop to stop
        after the step in progress (``stopped_by`` holds the signal number); a second
        one raises :class:`SignalInterrupt` (a ``KeyboardInterrupt``) at once. Signals
        set to be ignored (``nohup``, a background job's SIGINT) stay ignored. Only in
        the main thread; the previous handlers come back at the end. Nested blocks do
        nothing."""
        if not enabled or self._signals or \
                threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self.stop_requested:
                raise SignalInterrupt(signum)
            self.stopped_by = signum
            self.request_stop()

        self.stop_requested, self.stopped_by = False, None
        previous = {}
        for name in self.STOP_SIGNALS:
            number = getattr(signal, name, None)
            if number is not None and signal.getsignal(number) is not signal.SIG_IGN:
                previous[number] = signal.signal(number, handler)
        self._signals = True
        try:
            yield
        finally:
            self._signals = False
            for number, old in previous.items():
                signal.signal(number, old if old is not None else signal.SIG_DFL)

    # -------------------------------------------------------------- state

    def state_dict(self, *, all_steps: bool = True) -> dict[str, Any]:
        """What resuming needs: ``iteration``, ``rng`` and ``net_rng`` (JSON-able
        generator states; ``net_rng`` is the network's own, e.g. for dropout, or None),
        and ``params``, ``buffers``, ``optimizer`` and ``history`` arrays (copies).

        ``all_steps=False`` keeps only the step losses since the last row (and the
        first, for the divergence limit): a state of bounded size, whose
        ``history.step_loss`` comes back NaN for the steps left out."""
        net = self.net
        net_rng = getattr(net, "rng", None)
        buffers = net.buffers() if callable(getattr(net, "buffers", None)) else {}
        return {
            "iteration": self.iteration,
            "rng": self.rng.bit_generator.state,
            "net_rng": (net_rng.bit_generator.state
                        if isinstance(net_rng, np.random.Generator) else None),
            "params": {k: p.copy() for k, p in net.params.items()},
            "buffers": {k: np.array(b) for k, b in buffers.items()},
            "optimizer": {k: np.array(v) for k, v in self.optimizer.state_dict().items()},
            "history": self.history.state_dict(
                steps_from=0 if all_steps else self.history.steps_since_last_row()),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (as from :meth:`state_dict`); parameters are copied into
        the network's own arrays, which must match in names, shapes and dtypes."""
        params = self.net.params
        given = state["params"]
        if set(given) != set(params):
            raise ValueError(f"state: parameters {sorted(given)} do not match the network's "
                             f"{sorted(params)}")
        for k, p in params.items():
            if given[k].shape != p.shape or given[k].dtype != p.dtype:
                raise ValueError(f"state: parameter {k} is {given[k].dtype} {given[k].shape}, "
                                 f"the network's is {p.dtype} {p.shape}")
        iteration = int(state["iteration"])
        if not 0 <= iteration:
            raise ValueError(f"state: bad iteration {iteration}")
        self.rng = _generator(state["rng"])
        for k, p in params.items():
            np.copyto(p, given[k])
        if state.get("buffers"):
            self.net.load_buffers(state["buffers"])
        net_rng = getattr(self.net, "rng", None)
        if state.get("net_rng") is not None and isinstance(net_rng, np.random.Generator):
            net_rng.bit_generator.state = state["net_rng"]  # in place: layers hold it
        self.optimizer.load_state_dict(dict(state["optimizer"]))
        self.history = History.from_state_dict(state["history"])
        self.iteration = iteration
        self.status = "completed" if self.done else "interrupted"


class _BlasThreads:
    """Within ``with``: BLAS limited to ``n`` threads (via threadpoolctl, if installed);
    ``released()`` lifts the limit for a while."""

    def __init__(self, n: int | None):
        self.n, self.limit = n, None

    def __enter__(self) -> _BlasThreads:
        self._apply()
        return self

    def __exit__(self, *exc) -> None:
        self._lift()

    def _apply(self) -> None:
        if self.n is None:
            return
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            self.n = None
            return
        self.limit = threadpool_limits(limits=self.n, user_api="blas")

    def _lift(self) -> None:
        if self.limit is not None:
            self.limit.restore_original_limits()
            self.limit = None

    @contextlib.contextmanager
    def released(self) -> Iterator[None]:
        if self.limit is None:
            yield
            return
        self._lift()
        try:
            yield
        finally:
            self._apply()


def keep_freed_memory() -> None:
    """Ask glibc's malloc to keep freed memory for reuse instead of handing it back to
    the system (Linux only; elsewhere nothing happens).

    Every training step allocates and frees the same large arrays (a convnet's
    activations are megabytes). By default glibc returns such blocks to the system
    (``munmap``, or trimming the heap) and the next step faults the pages back in:
    measured on SimpleConvNet, a third of the step. Blocks up to 32 MB now come from the
    heap, which is trimmed only past 1 GB free. Called by :meth:`Trainer.run`; it
    changes no number, only where memory comes from.
    """
    global _kept
    if _kept or not sys.platform.startswith("linux"):
        return
    _kept = True
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl): leave malloc alone
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 << 20)  # glibc's maximum on 64-bit systems
    mallopt(m_trim_threshold, 1 << 30)


_kept = False


def _check_label_sets(net, x_train, t_train, x_test, t_test) -> None:
    """Check both label sets as the loss would, once, against the network's output size."""
    predict = getattr(net, "predict", None)
    if not callable(predict) or not len(x_train):
        return
    outputs = np.shape(predict(x_train[:1]))[-1]
    for name, t in (("t_train", t_train), ("t_test", t_test)):
        if t is not None:
            t = np.asarray(t)
            check_labels(np.broadcast_to(np.float32(0), (len(t), outputs)), t,
                         f"Trainer: {name}")


@contextlib.contextmanager
def _labels_checked(layer) -> Iterator[None]:
    """Within the block ``layer`` (a ``SoftmaxWithLoss``) trusts its labels."""
    if not hasattr(layer, "labels_checked"):
        yield
        return
    before, layer.labels_checked = layer.labels_checked, True
    try:
        yield
    finally:
        layer.labels_checked = before


def _accuracy(net, x, t, batch_size: int) -> float:
    return accuracy_of(predict_in_chunks(net.predict, x, _chunk(net, batch_size)), t)


def _chunk(net, batch_size: int) -> int:
    """``batch_size``, or less where the network says so (``net.chunk_size``: a convnet's
    activations are large; a few hundred images at a time stay in cache)."""
    return min(batch_size, getattr(net, "chunk_size", batch_size))


_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def _generator(state: dict) -> np.random.Generator:
    """A generator in the given ``bit_generator.state``."""
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in _BIT_GENERATORS:
        raise ValueError(f"state: unknown random generator {name!r}")
    bit_generator = getattr(np.random, name)()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


# ---------------------------------------------------------------- evaluation


@dataclass
class Evaluation:
    """Accuracy overall and per class, and the confusion matrix (rows: true class).

    A sample whose scores hold a NaN predicts no class: it counts as wrong and is
    kept out of the confusion matrix, in ``no_prediction`` (per true class).
    """

    accuracy: float
    confusion: np.ndarray
    class_names: tuple[str, ...]
    no_prediction: np.ndarray | None = None

    @property
    def counts(self) -> np.ndarray:
        counts = self.confusion.sum(axis=1)
        return counts if self.no_prediction is None else counts + self.no_prediction

    @property
    def per_class(self) -> np.ndarray:
        """Accuracy of each true class (NaN for a class with no samples)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / self.counts

    def __str__(self) -> str:
        k = len(self.class_names)
        named = any(n != str(c) for c, n in enumerate(self.class_names))
        name_width = max(map(len, self.class_names)) + 1 if named else 0
        lost = 0 if self.no_prediction is None else int(self.no_prediction.sum())
        lines = [f"accuracy {self.accuracy:.4f} ({int(np.trace(self.confusion))} of "
                 f"{int(self.counts.sum())})"
                 + (f"; {lost} with NaN scores predict nothing and count as wrong"
                    if lost else ""), "",
                 f"{'class':<{name_width + 3}} accuracy   count"]
        for c in range(k):
            name = f"{self.class_names[c]:<{name_width}}" if named else ""
            lines.append(f"{c:>2} {name}{self.per_class[c]:9.4f} {int(self.counts[c]):7d}")
        width = max(5, len(str(int(self.confusion.max(initial=0)))) + 1)
        lines += ["", "confusion matrix (rows: true class, columns: predicted class)",
                  "   " + "".join(f"{c:>{width}}" for c in range(k))]
        lines += [f"{r:>2} " + "".join(f"{v:>{width}}" for v in self.confusion[r])
                  for r in range(k)]
        return "\n".join(lines)


def confusion_matrix(t, y, num_classes: int) -> np.ndarray:
    """``m[i, j]`` = how many samples of true class ``i`` were predicted as ``j``."""
    t, y = np.asarray(t).reshape(-1), np.asarray(y).reshape(-1)
    return np.bincount(t * num_classes + y, minlength=num_classes ** 2).reshape(
        num_classes, num_classes)


def evaluate(net, x, t, *, class_names=None, batch_size: int = 10000) -> Evaluation:
    """Accuracy, per-class accuracy and confusion matrix of ``net`` on ``(x, t)``.

    ``t`` is checked as the loss checks it (one label per sample, in range); an empty
    set is a ``ValueError``. Samples with NaN scores count as wrong."""
    if len(x) == 0:
        raise ValueError("evaluate: no samples to evaluate (the set is empty)")
    scores = predict_in_chunks(net.predict, x, _chunk(net, batch_size))
    t = check_labels(scores, t, "evaluate")
    if t.shape == scores.shape:
        t = t.argmax(axis=-1)
    k = scores.shape[-1]
    names = tuple(class_names) if class_names is not None else tuple(str(c) for c in range(k))
    if len(names) != k:
        raise ValueError(f"evaluate: {len(names)} class names for {k} outputs")
    y = scores.argmax(axis=-1)
    nan = np.isnan(scores).any(axis=-1) if scores.dtype.kind in "fc" else np.zeros(len(y), bool)
    return Evaluation(float(np.mean((y == t) & ~nan)), confusion_matrix(t[~nan], y[~nan], k),
                      names, np.bincount(t[nan], minlength=k))
