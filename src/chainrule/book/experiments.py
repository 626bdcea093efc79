"""The experiments of the book's chapter 6, as functions that return curves.

Each experiment trains a few :class:`~chainrule.nn.multilayer.MultiLayerNet` variants on the
same mini-batches and returns an :class:`ExperimentResult`: named curves (loss per
iteration, or accuracy per epoch) with the settings that produced them. Nothing here
prints, draws or reads files: ``chainrule experiment`` loads the data, and
:mod:`chainrule.book.figures` draws the book's figures.

Randomness comes from ``seed`` only: one stream for the initial weights (every variant
of an experiment starts from weights drawn the same way), one for the batches (shared
by all variants), and each network's own generator for dropout masks.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from chainrule.core.layers import BatchNormalization, Dropout
from chainrule.nn.convnets import SimpleConvNet
from chainrule.nn.multilayer import MultiLayerNet, MultiLayerNetExtend
from chainrule.nn.optim import make_optimizer
from chainrule.training.tuning import keep_freed_memory

EXPERIMENTS = ("optimizers", "init", "batchnorm", "overfit")

Progress = Callable[[int, int], object]
"""``progress(steps_done, steps_total)``, called now and then during an experiment."""


@dataclass
class Curve:
    """One line of a figure: ``y`` against ``x`` for the variant ``label`` in panel ``group``."""

    label: str
    x: np.ndarray
    y: np.ndarray
    group: str = ""


@dataclass
class ExperimentResult:
    """The curves of one experiment, with what is needed to draw and reproduce them."""

    name: str
    title: str
    x_label: str
    y_label: str
    curves: list[Curve] = field(default_factory=list)
    settings: dict = field(default_factory=dict)  # JSON-able: sizes, rates, seed

    def groups(self) -> list[str]:
        """The panels, in order of first appearance."""
        return list(dict.fromkeys(c.group for c in self.curves))

    def labels(self) -> list[str]:
        """The variants, in order of first appearance."""
        return list(dict.fromkeys(c.label for c in self.curves))

    def curve(self, label: str, group: str = "") -> Curve:
        for c in self.curves:
            if c.label == label and c.group == group:
                return c
        raise KeyError(f"{self.name}: no curve {label!r} in group {group!r}")

    def to_csv(self) -> str:
        """The curves in long form: ``group,label,<x_label>,<y_label>`` rows."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["group", "label", self.x_label, self.y_label])
        for c in self.curves:
            for x, y in zip(c.x.tolist(), c.y.tolist(), strict=True):
                writer.writerow([c.group, c.label, x, repr(float(y))])
        return out.getvalue()


# ---------------------------------------------------------------- the loop


def streams(seed: int) -> tuple[np.random.SeedSequence, np.random.Generator]:
    """The two streams of an experiment: one for the initial weights (each network draws
    from a generator made from it, so all start alike), one for the batches."""
    init, batches = np.random.SeedSequence(seed).spawn(2)
    return init, np.random.default_rng(batches)


_streams = streams


class Together:
    """Networks trained side by side, each with its optimizer, on the same mini-batches
    (``batch_size`` rows of ``x``, ``t`` drawn with replacement from ``rng``, as the book
    draws them): one :meth:`step` at a time, so a caller can look at the networks
    between steps (the lab's pages do)."""

    def __init__(self, nets: Sequence, optimizers: Sequence, x, t, *, batch_size: int,
                 rng: np.random.Generator):
        if len(nets) != len(optimizers):
            raise ValueError(f"{len(nets)} networks but {len(optimizers)} optimizers")
        self.nets, self.optimizers = list(nets), list(optimizers)
        self.x, self.t, self.batch_size, self.rng = x, t, batch_size, rng
        self.iteration = 0  # steps taken

    def step(self) -> np.ndarray:
        """One step of every network on the next batch; their training losses."""
        batch = self.rng.integers(len(self.x), size=self.batch_size)
        xb, tb = self.x[batch], self.t[batch]
        losses = np.empty(len(self.nets))
        for j, (net, opt) in enumerate(zip(self.nets, self.optimizers, strict=True)):
            grads = net.gradient(xb, tb)
            losses[j] = net.lastLayer.loss
            opt.update(net.params, grads)
        self.iteration += 1
        return losses


def _train_together(nets: Sequence[MultiLayerNet], optimizers: Sequence, x, t, *,
                    iters: int, batch_size: int, rng: np.random.Generator,
                    progress: Progress | None = None, total: int = 0) -> list[np.ndarray]:
    """Train each net with its optimizer on the same batches for ``iters`` steps
    (:class:`Together`); return each net's training loss per step."""
    training = Together(nets, optimizers, x, t, batch_size=batch_size, rng=rng)
    losses = np.empty((len(nets), iters))
    for i in range(iters):
        losses[:, i] = training.step()
        _tell(progress, i, len(nets), 0, total)
    return list(losses)


def _tell(progress: Progress | None, i: int, nets: int, done: int, total: int) -> None:
    """``progress`` every 50 steps (``i``: the step just taken, 0-based)."""
    if progress is not None and (i + 1) % 50 == 0:
        progress(done + (i + 1) * nets, total)


def _subset(x, t, size: int | None, what: str):
    if size is None:
        return x, t
    if not 0 < size <= len(x):
        raise ValueError(f"{what} must be between 1 and {len(x)}, got {size}")
    return x[:size], t[:size]


def _classes(t: np.ndarray) -> int:
    """The number of classes of index (or one-hot) labels."""
    t = np.asarray(t)
    return int(t.shape[1]) if t.ndim == 2 else int(t.max()) + 1


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")


# ---------------------------------------------------------------- figure 6-9


BOOK_OPTIMIZERS = {"SGD": ("sgd", 0.01), "Momentum": ("momentum", 0.01),
                   "AdaGrad": ("adagrad", 0.01), "Adam": ("adam", 0.001)}
"""The book's comparison: each optimizer with its default learning rate."""


def compare_optimizers(x_train, t_train, *,
                       optimizers: Mapping[str, tuple[str, float]] = BOOK_OPTIMIZERS,
                       hidden_size_list: Sequence[int] = (100, 100, 100, 100),
                       iters: int = 2000, batch_size: int = 128, seed: int = 0,
                       dtype=np.float32, progress: Progress | None = None) -> ExperimentResult:
    """Figure 6-9: training loss per iteration of a 5-layer ReLU net (He init) trained
    with each optimizer (``label -> (name, lr)``) on the same batches from the same
    initial weights."""
    _check_sizes(iters=iters, batch_size=batch_size)
    init, rng = streams(seed)
    sizes = (x_train.shape[1], list(hidden_size_list), _classes(t_train))
    nets = [MultiLayerNet(*sizes, dtype=dtype, rng=np.random.default_rng(init))
            for _ in optimizers]
    opts = [make_optimizer(name, lr) for name, lr in optimizers.values()]
    losses = _train_together(nets, opts, x_train, t_train, iters=iters, batch_size=batch_size,
                             rng=rng, progress=progress, total=iters * len(nets))
    steps = np.arange(iters)
    return ExperimentResult(
        "optimizers", f"optimizers on {len(hidden_size_list) + 1}-layer ReLU net",
        "iterations", "loss", [Curve(label, steps, loss)
                               for label, loss in zip(optimizers, losses, strict=True)],
        {"optimizers": {k: list(v) for k, v in optimizers.items()},
         "hidden_size_list": list(hidden_size_list), "iters": iters,
         "batch_size": batch_size, "seed": seed, "train_size": len(x_train)})


# ---------------------------------------------------------------- figure 6-15


BOOK_INITS = {"std=0.01": 0.01, "Xavier": "xavier", "He": "he"}


def compare_weight_init(x_train, t_train, *, inits: Mapping[str, str | float] = BOOK_INITS,
                        activation: str = "relu",
                        hidden_size_list: Sequence[int] = (100, 100, 100, 100),
                        iters: int = 2000, batch_size: int = 128, lr: float = 0.01,
                        seed: int = 0, dtype=np.float32,
                        progress: Progress | None = None) -> ExperimentResult:
    """Figure 6-15: training loss per iteration of a 5-layer ReLU net trained with SGD
    from weights of std 0.01, Xavier's ``sqrt(1/n)`` and He's ``sqrt(2/n)``."""
    _check_sizes(iters=iters, batch_size=batch_size)
    init, rng = streams(seed)
    sizes = (x_train.shape[1], list(hidden_size_list), _classes(t_train))
    nets = [MultiLayerNet(*sizes, activation=activation, weight_init_std=w, dtype=dtype,
                          rng=np.random.default_rng(init)) for w in inits.values()]
    opts = [make_optimizer("sgd", lr) for _ in nets]
    losses = _train_together(nets, opts, x_train, t_train, iters=iters, batch_size=batch_size,
                             rng=rng, progress=progress, total=iters * len(nets))
    steps = np.arange(iters)
    return ExperimentResult(
        "init", f"weight initialisation, {len(hidden_size_list) + 1}-layer {activation} net",
        "iterations", "loss",
        [Curve(label, steps, loss) for label, loss in zip(inits, losses, strict=True)],
        {"inits": dict(inits), "activation": activation,
         "hidden_size_list": list(hidden_size_list), "iters": iters, "batch_size": batch_size,
         "lr": lr, "seed": seed, "train_size": len(x_train)})


# ---------------------------------------------------------------- figures 6-18, 6-19


BOOK_WEIGHT_SCALES = tuple(float(w) for w in np.logspace(0, -4, num=16))
BATCHNORM_LABELS = ("Batch Normalization", "Normal (without BatchNorm)")


class BatchNormPair:
    """Figure 6-18 for one initial weight std: the book's ``batch_norm_test.py`` nets,
    :class:`MultiLayerNetExtend` with and without batch norm (``nets``, in the order of
    :data:`BATCHNORM_LABELS`), from weights drawn alike from ``init``, trained with SGD
    on the same batches of ``x`` (from ``rng``).

    :meth:`next_point` trains to the next point of the curves and measures it: as the
    book, right after step ``0``, then after steps ``per_epoch``, ``2 * per_epoch``, ...
    Without batch norm, large initial weights make the activations overflow: that net's
    loss turns NaN and its weights with it, and its accuracy reads 0.0 (a NaN score
    counts as wrong; the book's ``argmax`` calls it class 0, about 0.1)."""

    def __init__(self, x, t, weight_init_std: float, *,
                 hidden_size_list: Sequence[int] = (100, 100, 100, 100, 100),
                 batch_size: int = 100, lr: float = 0.01, dtype=np.float32,
                 init: np.random.SeedSequence, rng: np.random.Generator):
        _check_sizes(batch_size=batch_size)
        self.x, self.t = x, t
        self.per_epoch = max(len(x) // batch_size, 1)
        sizes = (x.shape[1], list(hidden_size_list), _classes(t))
        self.nets = [MultiLayerNetExtend(*sizes, weight_init_std=weight_init_std,
                                         use_batchnorm=bn, dtype=dtype,
                                         rng=np.random.default_rng(init))
                     for bn in (True, False)]
        self.training = Together(self.nets, [make_optimizer("sgd", lr) for _ in self.nets],
                                 x, t, batch_size=batch_size, rng=rng)
        self.points = 0  # measured so far

    def train_to(self, iteration: int) -> None:
        """Take steps until ``iteration`` steps are done."""
        with np.errstate(over="ignore", invalid="ignore"):
            while self.training.iteration < iteration:
                self.training.step()

    def next_point(self) -> list[float]:
        """Each net's eval-mode accuracy on all of ``x`` at the next point of the curves."""
        self.train_to(self.points * self.per_epoch + 1)
        self.points += 1
        with np.errstate(over="ignore", invalid="ignore"):
            return [net.accuracy(self.x, self.t) for net in self.nets]

    def diverged(self) -> list[bool]:
        """Whether each net's weights hold NaN or infinite values."""
        return [not all(np.isfinite(p).all() for p in net.params.values())
                for net in self.nets]

    def pre_activations(self, x) -> list[dict[str, np.ndarray]]:
        """What reaches each hidden layer's activation function (first to last) for the
        batch ``x`` in training mode (batch statistics; nothing of the nets changes):
        ``"affine"``, the plain net's ``Affine{i}`` output; ``"bn_affine"`` and
        ``"bn_normalized"``, the batch-norm net's ``Affine{i}`` output and what its
        ``BatchNorm{i}`` makes of it."""
        with np.errstate(over="ignore", invalid="ignore"):
            bn, plain = (layer_outputs(net, x) for net in self.nets)
        return [{"affine": plain[f"Affine{i}"], "bn_affine": bn[f"Affine{i}"],
                 "bn_normalized": bn[f"BatchNorm{i}"]}
                for i in range(1, self.nets[0].hidden_layer_num + 1)]


def layer_outputs(net: MultiLayerNet, x) -> dict[str, np.ndarray]:
    """Every layer's output for ``x`` in training mode, by layer name, inside the net's
    :meth:`~chainrule.nn.multilayer.MultiLayerNet.deterministic` (so the running
    statistics and the dropout generator are left as they were)."""
    outputs = {}
    with net.deterministic():
        for name, layer in net.layers.items():
            moded = isinstance(layer, (BatchNormalization, Dropout))
            x = layer.forward(x, True) if moded else layer.forward(x)
            outputs[name] = x
    return outputs


def compare_batchnorm(x_train, t_train, *, weight_scales: Sequence[float] = BOOK_WEIGHT_SCALES,
                      train_size: int | None = 1000,
                      hidden_size_list: Sequence[int] = (100, 100, 100, 100, 100),
                      epochs: int = 20, batch_size: int = 100, lr: float = 0.01, seed: int = 0,
                      dtype=np.float32, progress: Progress | None = None) -> ExperimentResult:
    """Figures 6-18 and 6-19: training accuracy per epoch of a 6-layer ReLU net with and
    without batch norm (a :class:`BatchNormPair`), for each initial weight std in
    ``weight_scales``, with SGD on the first ``train_size`` training images.

    As the book's ``batch_norm_test.py``: the nets are :class:`MultiLayerNetExtend`
    (batch-norm running variances start at 0, so eval mode follows the batches from the
    first step; :class:`MultiLayerNet`'s start at 1, which swamps the tiny variances of
    small initial weights for hundreds of steps), accuracy is measured in eval mode
    after steps 0, ``per_epoch``, ``2 * per_epoch``, ..., on all ``train_size`` images.
    A net whose weights overflowed to NaN reads 0.0: ``settings["diverged"]`` lists
    them as ``[group, label]`` pairs. Each pair trains ``epochs * per_epoch`` steps
    (the last few after its last point), so the batches of the next start where they
    did."""
    _check_sizes(epochs=epochs, batch_size=batch_size)
    x, t = _subset(x_train, t_train, train_size, "train_size")
    init, rng = streams(seed)
    points, diverged = {}, {}
    for k, w in enumerate(weight_scales):
        pair = BatchNormPair(x, t, w, hidden_size_list=hidden_size_list,
                             batch_size=batch_size, lr=lr, dtype=dtype, init=init, rng=rng)
        iters = epochs * pair.per_epoch
        points[w] = [pair.next_point() for _ in range(epochs)]
        pair.train_to(iters)
        diverged[w] = pair.diverged()
        if progress is not None:
            progress((k + 1) * iters * 2, len(weight_scales) * iters * 2)
    return batchnorm_result(points, diverged, {
        "weight_scales": list(weight_scales), "train_size": len(x),
        "hidden_size_list": list(hidden_size_list), "epochs": epochs,
        "batch_size": batch_size, "lr": lr, "seed": seed})


def batchnorm_result(points: Mapping[float, Sequence[Sequence[float]]],
                     diverged: Mapping[float, Sequence[bool]], settings: dict
                     ) -> ExperimentResult:
    """The figure's curves: for each weight std, its points (``[with, without]`` batch
    norm, as :meth:`BatchNormPair.next_point` gives them) and which net diverged."""
    curves, nan = [], []
    for w, found in points.items():
        group = f"W: {w:.3g}"
        accs = np.array(found, dtype=np.float64).reshape(-1, 2).T
        for label, acc, bad in zip(BATCHNORM_LABELS, accs, diverged[w], strict=True):
            curves.append(Curve(label, np.arange(len(acc)), acc, group))
            if bad:
                nan.append([group, label])
    return ExperimentResult("batchnorm", "batch normalization vs initial weight scale",
                            "epochs", "accuracy", curves, {**settings, "diverged": nan})


# ---------------------------------------------------------------- figures 6-20, 6-21, 6-23


BOOK_REGULARIZATION = {"no regularization": {},
                       "weight decay (lambda=0.1)": {"weight_decay_lambda": 0.1},
                       "dropout (ratio=0.2)": {"dropout_ratio": 0.2}}


class Regularized:
    """Figures 6-20, 6-21 and 6-23 as they happen: variants of one :class:`MultiLayerNet`
    (``label -> keyword arguments``, e.g. ``{"weight_decay_lambda": 0.1}``; ``nets`` in
    their order), from weights drawn alike from ``init``, trained with SGD on the same
    batches of the training images ``x`` (from ``rng``). :meth:`next_epoch` measures
    every net's train and test accuracy at the start of an epoch, then trains it."""

    def __init__(self, x, t, x_test, t_test, variants: Mapping[str, dict], *,
                 hidden_size_list: Sequence[int] = (100,) * 6, batch_size: int = 100,
                 lr: float = 0.01, dtype=np.float32, init: np.random.SeedSequence,
                 rng: np.random.Generator):
        _check_sizes(batch_size=batch_size)
        self.x, self.t, self.x_test, self.t_test = x, t, x_test, t_test
        self.per_epoch = max(len(x) // batch_size, 1)
        sizes = (x.shape[1], list(hidden_size_list), _classes(t))
        self.labels = list(variants)
        self.nets = [MultiLayerNet(*sizes, **kw, dtype=dtype, rng=np.random.default_rng(init))
                     for kw in variants.values()]
        self.training = Together(self.nets, [make_optimizer("sgd", lr) for _ in self.nets],
                                 x, t, batch_size=batch_size, rng=rng)
        self.epochs = 0  # trained so far

    def measure(self) -> tuple[list[float], list[float]]:
        """Each net's accuracy (eval mode) on the training and on the test images."""
        return ([net.accuracy(self.x, self.t) for net in self.nets],
                [net.accuracy(self.x_test, self.t_test) for net in self.nets])

    def next_epoch(self, progress: Progress | None = None,
                   total: int = 0) -> tuple[list[float], list[float]]:
        """The accuracies at the start of the next epoch (:meth:`measure`); then its
        ``per_epoch`` steps."""
        accs = self.measure()
        for _ in range(self.per_epoch):
            self.training.step()
            _tell(progress, self.training.iteration - 1, len(self.nets), 0, total)
        self.epochs += 1
        return accs


def compare_regularization(x_train, t_train, x_test, t_test, *,
                           variants: Mapping[str, dict] = BOOK_REGULARIZATION,
                           train_size: int = 300, test_size: int | None = None,
                           hidden_size_list: Sequence[int] = (100,) * 6, epochs: int = 201,
                           batch_size: int = 100, lr: float = 0.01, seed: int = 0,
                           dtype=np.float32, progress: Progress | None = None
                           ) -> ExperimentResult:
    """Figures 6-20, 6-21 and 6-23: overfitting a 7-layer ReLU net on ``train_size``
    training images with SGD, without regularization, with weight decay and with
    dropout (``label -> MultiLayerNet keyword arguments``; a :class:`Regularized`).
    Train and test accuracy are measured at the start of each epoch (test on the first
    ``test_size`` test images; None, the default: all of them, as in the book)."""
    _check_sizes(epochs=epochs, batch_size=batch_size)
    x, t = _subset(x_train, t_train, train_size, "train_size")
    xt, tt = _subset(x_test, t_test, test_size, "test_size")
    init, rng = streams(seed)
    race = Regularized(x, t, xt, tt, variants, hidden_size_list=hidden_size_list,
                       batch_size=batch_size, lr=lr, dtype=dtype, init=init, rng=rng)
    total = epochs * race.per_epoch * len(race.nets)
    measured = [race.next_epoch(progress, total) for _ in range(epochs)]
    return regularization_result(list(variants), measured, {
        "variants": {k: dict(v) for k, v in variants.items()}, "train_size": len(x),
        "test_size": len(xt), "hidden_size_list": list(hidden_size_list), "epochs": epochs,
        "batch_size": batch_size, "lr": lr, "seed": seed})


def regularization_result(labels: Sequence[str],
                          measured: Sequence[tuple[Sequence[float], Sequence[float]]],
                          settings: dict) -> ExperimentResult:
    """The figure's curves: one panel per variant (``labels``), train and test accuracy
    per epoch from the ``(train, test)`` accuracies :meth:`Regularized.next_epoch` gave."""
    shape = (len(measured), len(labels))
    accs = {"train": np.array([m[0] for m in measured], dtype=np.float64).reshape(shape).T,
            "test": np.array([m[1] for m in measured], dtype=np.float64).reshape(shape).T}
    curves = [Curve(which, np.arange(len(measured)), accs[which][j], group)
              for j, group in enumerate(labels) for which in ("train", "test")]
    return ExperimentResult(
        "overfit", f"overfitting {settings['train_size']} images: regularization", "epochs",
        "accuracy", curves, settings)


# ---------------------------------------------------------------- chapter 7: figure 7-24


@dataclass
class FilterResult:
    """The first convolution's filters of a SimpleConvNet before and after training
    (``(FN, C, FH, FW)`` arrays), the book's ``visualize_filter.py``."""

    before: np.ndarray
    after: np.ndarray
    test_acc: float  # of the trained network, on the test images given
    settings: dict = field(default_factory=dict)

    name = "filters"


def learn_filters(x_train, t_train, x_test=None, t_test=None, *, epochs: float = 1,
                  batch_size: int = 100, lr: float = 0.001, seed: int = 0, dtype=np.float32,
                  progress: Progress | None = None) -> FilterResult:
    """Train the book's SimpleConvNet (30 filters of 5x5, Adam, as ``train_convnet.py``)
    for ``epochs`` on square one-channel images and return its first layer's filters
    before and after (figure 7-24: from noise to edge and blob detectors)."""

    _check_sizes(batch_size=batch_size)
    keep_freed_memory()  # as the trainer does: a convnet's steps reuse large arrays
    if not epochs > 0:
        raise ValueError(f"epochs must be positive, got {epochs}")
    side = int(np.sqrt(np.prod(x_train.shape[1:])))
    init, rng = streams(seed)
    net = SimpleConvNet((1, side, side), output_size=_classes(t_train), dtype=dtype,
                        rng=np.random.default_rng(init))
    before = net.params["W1"].copy()
    iters = max(round(epochs * max(len(x_train) // batch_size, 1)), 1)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):  # as the trainer's steps: small products, one thread
        _train_together([net], [make_optimizer("adam", lr)], x_train, t_train, iters=iters,
                        batch_size=batch_size, rng=rng, progress=progress, total=iters)
    test_acc = float("nan") if x_test is None else net.accuracy(x_test, t_test)
    return FilterResult(before, net.params["W1"].copy(), test_acc,
                        {"epochs": epochs, "iters": iters, "batch_size": batch_size, "lr": lr,
                         "seed": seed, "train_size": len(x_train),
                         "test_size": 0 if x_test is None else len(x_test)})
