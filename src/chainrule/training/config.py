"""What decides a run's numbers: :class:`TrainConfig`, with the book's chapter-5 protocol
as its defaults and its chapter-7 and chapter-8 networks one field away."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.core.checks import is_finite, is_int
from chainrule.data.catalog import DATASET_NAMES
from chainrule.nn.init import init_name
from chainrule.nn.multilayer import ACTIVATIONS
from chainrule.nn.optim import OPTIMIZERS, make_optimizer

DTYPES = ("float32", "float64")
MAX_ITERS = 10**9
"""The most steps a run may have (``iters``, or ``epochs`` times the iterations per
epoch): a run keeps every step's loss, 8 bytes on disk and about 32 in memory, so a
billion steps is already 32 GB of history (and days of training)."""
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
        init = self.weight_init_std
        checks = [
            (self.dataset in DATASET_NAMES,
             f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASET_NAMES)}"),
            (self.network in NETWORKS,
             f"network must be one of {', '.join(NETWORKS)}, got {self.network!r}"),
            (_sizes_ok(self.hidden), f"hidden must be >= 1, got {self.hidden}"),
            (self.activation in ACTIVATIONS,
             f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}"),
            (init is None or (is_finite(init) and init > 0) or init_name(init) is not None,
             f"weight_init_std must be he, xavier or a positive number, got {init!r}"),
            (isinstance(self.batchnorm, (bool, np.bool_)),
             f"batchnorm must be true or false, got {self.batchnorm!r}"),
            (is_finite(self.dropout) and 0 <= self.dropout < 1,
             f"dropout must be in [0, 1), got {self.dropout}"),
            (is_finite(self.weight_decay) and self.weight_decay >= 0,
             f"weight_decay must be a finite number >= 0, got {self.weight_decay}"),
            (str(self.optimizer).lower() in OPTIMIZERS,
             f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"),
            (self.lr is None or (is_finite(self.lr) and self.lr > 0),
             f"lr must be a finite number > 0, got {self.lr}"),
            (is_int(self.batch_size) and self.batch_size > 0,
             f"batch_size must be >= 1, got {self.batch_size}"),
            (is_int(self.iters) and 0 <= self.iters <= MAX_ITERS,
             f"iters must be from 0 to {MAX_ITERS:,}, got {self.iters}"),
            (self.epochs is None or (is_finite(self.epochs) and 0 <= self.epochs <= MAX_ITERS),
             f"epochs must be a finite number from 0 to {MAX_ITERS:,}, got {self.epochs}"),
            (self.eval_every is None or (is_int(self.eval_every) and self.eval_every > 0),
             f"eval_every must be >= 1, got {self.eval_every}"),
            (is_int(self.seed) and self.seed >= 0, f"seed must be >= 0, got {self.seed}"),
            (self.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}"),
            (is_int(self.eval_samples) and self.eval_samples >= 0,
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
            weight_init_std=init_name(init) or (init if init is None else float(init)),
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
        return [self.hidden] if is_int(self.hidden) else list(self.hidden)

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


def _sizes_ok(hidden) -> bool:
    if is_int(hidden):
        return hidden > 0
    return (isinstance(hidden, (list, tuple)) and len(hidden) > 0
            and all(is_int(n) and n > 0 for n in hidden))
