"""Figure 6-24: the book's random search of the learning rate and the weight decay
(``ch06/hyperparameter_optimization.py``), one trial at a time.

The book's protocol: the first 500 training images, shuffled, 20% of them (100) kept
aside as validation images and the other 400 trained on; a :class:`MultiLayerNet`
784-[100]*6-10 (ReLU, He) trained with SGD on batches of 100 for 50 epochs per trial;
``lr = 10 ** uniform(-6, -2)``, ``weight_decay = 10 ** uniform(-8, -4)``; 100 trials,
ranked by their last validation accuracy.

Randomness comes from ``seed`` only, in four streams: the shuffle, the trials'
learning rates and weight decays (trial ``k`` is the ``k``-th pair drawn, so a longer
search begins with the trials of a shorter one), the initial weights and the batches.
Every trial starts from the same initial weights and sees the same batches (the book
draws both anew for each trial): two trials differ only in their learning rate and
weight decay. Accuracy is measured on the validation and the training images before
training (epoch 0) and after each epoch, ``epochs + 1`` points per curve (the book's
``Trainer`` measures after the first step of each epoch, ``epochs`` points). Nothing
here prints, draws or reads files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from chainrule.book.experiments import Curve, ExperimentResult, Progress
from chainrule.nn.multilayer import MultiLayerNet
from chainrule.nn.optim import make_optimizer
from chainrule.training.tuning import BlasThreads

BOOK_SEARCH = {"train_size": 500, "validation_rate": 0.2, "hidden_size_list": (100,) * 6,
               "batch_size": 100, "epochs": 50, "trials": 100, "log_lr": (-6.0, -2.0),
               "log_weight_decay": (-8.0, -4.0)}
"""The book's settings (``hyperparameter_optimization.py``); ``log_*`` are the ranges of
the base-10 exponents."""
BEST_SPANS = (5, 10, 20)
"""How many of the best trials :func:`best_spans` describes (the book draws 20)."""


@dataclass(frozen=True)
class Trial:
    """One trial: its hyperparameters and its accuracy curves (``epochs + 1`` points,
    the first before training). ``diverged``: its weights overflowed to NaN (a NaN score
    counts as wrong, so its accuracy reads 0)."""

    index: int
    lr: float
    weight_decay: float
    val_acc: np.ndarray
    train_acc: np.ndarray
    diverged: bool = False

    @property
    def final_val(self) -> float:
        return float(self.val_acc[-1])

    @property
    def final_train(self) -> float:
        return float(self.train_acc[-1])

    def key(self) -> str:
        """The book's name for the trial: ``lr:<lr>, weight decay:<weight decay>``."""
        return f"lr:{self.lr!r}, weight decay:{self.weight_decay!r}"


def _check_range(name: str, bounds) -> tuple[float, float]:
    lo, hi = (float(b) for b in bounds)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} must be two finite exponents, low < high; got {bounds!r}")
    return lo, hi


class RandomSearch:
    """The book's random search on ``x_train``, ``t_train`` (see the module): the split
    is made and every trial's hyperparameters are drawn when it is built; :meth:`run`
    trains one trial, :meth:`__iter__` all of them in order."""

    def __init__(self, x_train, t_train, *, trials: int = 100, epochs: int = 50,
                 log_lr: Sequence[float] = (-6.0, -2.0),
                 log_weight_decay: Sequence[float] = (-8.0, -4.0), train_size: int = 500,
                 validation_rate: float = 0.2,
                 hidden_size_list: Sequence[int] = (100,) * 6, batch_size: int = 100,
                 seed: int = 0, dtype=np.float32):
        for name, value in (("trials", trials), ("epochs", epochs), ("batch_size", batch_size)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        if not 1 < train_size <= len(x_train):
            raise ValueError(f"train_size must be from 2 to {len(x_train)}, got {train_size}")
        n_val = int(train_size * validation_rate)  # the book's int(500 * 0.2) = 100
        if not 0 < n_val < train_size:
            raise ValueError(f"validation_rate {validation_rate} leaves no validation or no "
                             f"training image of {train_size}")
        self.log_lr = _check_range("log_lr", log_lr)
        self.log_weight_decay = _check_range("log_weight_decay", log_weight_decay)
        self.trials, self.epochs, self.batch_size = int(trials), int(epochs), int(batch_size)
        self.hidden_size_list, self.dtype, self.seed = list(hidden_size_list), dtype, seed
        split, draws, self.init, self.batches = np.random.SeedSequence(seed).spawn(4)
        order = np.random.default_rng(split).permutation(train_size)
        x = np.asarray(x_train[:train_size], dtype=dtype)[order]
        t = np.asarray(t_train[:train_size])[order]
        self.x_val, self.t_val = x[:n_val], t[:n_val]
        self.x_train, self.t_train = x[n_val:], t[n_val:]
        self.classes = int(t.shape[1]) if t.ndim == 2 else int(t.max()) + 1
        self.per_epoch = max(len(self.x_train) // self.batch_size, 1)
        u = np.random.default_rng(draws).random((self.trials, 2))  # the book: decay, then lr
        self.weight_decays = 10.0 ** (self.log_weight_decay[0] + np.diff(self.log_weight_decay)
                                      * u[:, 0])
        self.lrs = 10.0 ** (self.log_lr[0] + np.diff(self.log_lr) * u[:, 1])

    def settings(self) -> dict:
        """What decides the search's numbers, JSON-able."""
        return {"trials": self.trials, "epochs": self.epochs, "log_lr": list(self.log_lr),
                "log_weight_decay": list(self.log_weight_decay),
                "train_size": len(self.x_train) + len(self.x_val),
                "validation_size": len(self.x_val), "hidden_size_list": self.hidden_size_list,
                "batch_size": self.batch_size, "optimizer": "sgd", "seed": self.seed}

    def run(self, index: int, stopping: Callable[[], bool] | None = None) -> Trial | None:
        """Train trial ``index`` (its net, its SGD, its ``epochs``); None when
        ``stopping()`` turned true between two epochs."""
        lr, decay = float(self.lrs[index]), float(self.weight_decays[index])
        net = MultiLayerNet(self.x_train.shape[1], self.hidden_size_list, self.classes,
                            weight_decay_lambda=decay, dtype=self.dtype,
                            rng=np.random.default_rng(self.init))
        sgd, rng = make_optimizer("sgd", lr), np.random.default_rng(self.batches)
        val, train = [], []
        with np.errstate(over="ignore", invalid="ignore"):
            for epoch in range(self.epochs + 1):
                if epoch:
                    if stopping is not None and stopping():
                        return None
                    for _ in range(self.per_epoch):
                        batch = rng.integers(len(self.x_train), size=self.batch_size)
                        grads = net.gradient(self.x_train[batch], self.t_train[batch])
                        sgd.update(net.params, grads)
                val.append(net.accuracy(self.x_val, self.t_val))
                train.append(net.accuracy(self.x_train, self.t_train))
        diverged = not all(np.isfinite(p).all() for p in net.params.values())
        return Trial(index, lr, decay, np.array(val), np.array(train), diverged)

    def __iter__(self) -> Iterator[Trial]:
        for k in range(self.trials):
            found = self.run(k)
            assert found is not None
            yield found


def ranked(trials: Sequence[Trial]) -> list[Trial]:
    """Best first: by last validation accuracy, then last training accuracy, then order."""
    return sorted(trials, key=lambda tr: (-tr.final_val, -tr.final_train, tr.index))


def best_spans(trials: Sequence[Trial], counts: Sequence[int] = BEST_SPANS) -> dict[int, dict]:
    """For the best ``k`` trials (each ``k`` in ``counts``, at most all of them): the
    smallest and largest learning rate and weight decay among them, and the range of
    their validation accuracies: ``{k: {"lr": [lo, hi], "weight_decay": [lo, hi],
    "val_acc": [lo, hi], "count": n}}``."""
    best = ranked(trials)
    spans = {}
    for k in counts:
        top = best[:k]
        if not top:
            continue
        spans[k] = {name: [min(getattr(tr, attr) for tr in top),
                           max(getattr(tr, attr) for tr in top)]
                    for name, attr in (("lr", "lr"), ("weight_decay", "weight_decay"),
                                       ("val_acc", "final_val"))}
        spans[k]["count"] = len(top)
    return spans


def search_result(trials: Sequence[Trial], settings: dict) -> ExperimentResult:
    """Figure 6-24's data: every trial's validation and training accuracy per epoch, best
    first, each in a group named by the book's key; ``settings["ranked"]`` lists each
    trial's ``index``, ``key``, ``lr``, ``weight_decay``, ``val_acc``, ``train_acc``, ``diverged``
    (best first, what the figure's scatter draws) and ``settings["best_spans"]`` is
    :func:`best_spans` (keys as strings, as in JSON)."""
    best = ranked(trials)
    curves = [Curve(label, np.arange(len(acc)), np.asarray(acc, dtype=np.float64), tr.key())
              for tr in best for label, acc in (("val", tr.val_acc), ("train", tr.train_acc))]
    rows = [{"index": tr.index, "key": tr.key(), "lr": tr.lr, "weight_decay": tr.weight_decay,
             "val_acc": tr.final_val, "train_acc": tr.final_train, "diverged": tr.diverged}
            for tr in best]
    return ExperimentResult("hyperparameters",
                            f"random search of lr and weight decay: {len(best)} trials",
                            "epochs", "accuracy", curves,
                            {**settings, "ranked": rows, "best_spans": {
                                str(k): span for k, span in best_spans(best).items()}})


def random_search(x_train, t_train, *, progress: Progress | None = None,
                  **options) -> ExperimentResult:
    """Figure 6-24: the book's random search (:class:`RandomSearch` with ``options``,
    the book's settings by default), every trial trained, as an :class:`ExperimentResult`
    (:func:`search_result`)."""
    search = RandomSearch(x_train, t_train, **options)
    trials = []
    with BlasThreads(1):  # small products: one thread is faster, much faster on a busy machine
        for tr in search:
            trials.append(tr)
            if progress is not None:
                progress(len(trials), search.trials)
    return search_result(trials, search.settings())
