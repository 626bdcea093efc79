"""The book's ``common/trainer.py``: ``Trainer(network, x_train, t_train, x_test, t_test, ...)``
with ``train()``, ``train_step()`` and its lists, run by chainrule's own loop
(:class:`chainrule.training.loop.TrainingLoop`).

Each step draws a batch of ``mini_batch_size`` indices with replacement, computes
``network.gradient``, lets the optimizer update ``network.params``, then records
``network.loss`` on the same batch (after the update, as the book's). After step ``i``
with ``i % iter_per_epoch == 0`` it measures train and test accuracy (on the first
``evaluate_sample_num_per_epoch`` samples of each set, or all of them). ``verbose``
prints what the book's prints. With no ``seed`` or ``rng`` the batches come from
NumPy's global state (``np.random.choice``, as the book's), so ``np.random.seed``
decides them.
"""

from __future__ import annotations

import math

import numpy as np

from chainrule.core.rng import Random, make_rng
from chainrule.nn.optim import (  # noqa: F401 - the book's module exports the optimizers too
    SGD,
    AdaGrad,
    Adam,
    Momentum,
    Nesterov,
    RMSprop,
    make_optimizer,
)
from chainrule.training.loop import TrainingLoop


class _Network:
    """``network`` as chainrule's loop sees it.

    It keeps the batch of the last ``gradient`` (the book records the loss on it after
    the update) and reads that forward pass's loss from the network's last layer for
    the loop's NaN check. It has no ``astype``, so the loop evaluates in its own
    thread, right after the step: the lines print in the book's order.
    """

    def __init__(self, network):
        self.network = network
        self.batch = None
        self.loss = math.nan
        self.lastLayer = self  # the loop reads lastLayer.loss

    @property
    def params(self):
        return self.network.params

    def gradient(self, x, t):
        grads = self.network.gradient(x, t)
        self.batch = (x, t)
        net = self.network
        last = getattr(net, "lastLayer", None) or getattr(net, "last_layer", None)
        loss = getattr(last, "loss", None)
        self.loss = float(net.loss(x, t) if loss is None else loss)
        return grads

    def predict(self, x):
        return self.network.predict(x)


def _eval_every(train_size: int, batch_size: int) -> int:
    """The book evaluates when ``current_iter % max(train_size / batch_size, 1) == 0``:
    every ``train_size / batch_size`` steps when that is whole, else at its first whole
    multiple (the book's float remainder may miss some of those)."""
    if train_size <= batch_size:
        return 1
    if train_size % batch_size == 0:
        return train_size // batch_size
    return train_size // math.gcd(train_size, batch_size)


class Trainer:
    """The book's trainer: ``train()`` runs ``max_iter = int(epochs * iter_per_epoch)``
    steps and prints the final test accuracy (``verbose``); ``train_step()`` runs one.

    ``optimizer`` is a name (``'SGD'``, ``'Momentum'``, ``'Nesterov'``, ``'AdaGrad'``,
    ``'RMSprop'``, ``'Adam'``, any case) made with ``optimizer_param``. Batches come
    from ``rng`` or a generator made from ``seed``; with neither, from NumPy's global
    state. ``loop`` is the :class:`~chainrule.training.loop.TrainingLoop` that runs the steps.
    """

    def __init__(self, network, x_train, t_train, x_test, t_test, epochs=20,
                 mini_batch_size=100, optimizer="SGD", optimizer_param={"lr": 0.01},  # noqa: B006 - the book's default, never modified
                 evaluate_sample_num_per_epoch=None, verbose=True, *, seed=None,
                 rng: Random | None = None):
        self.network = network
        self.verbose = verbose
        self.x_train, self.t_train = x_train, t_train
        self.x_test, self.t_test = x_test, t_test
        self.epochs = epochs
        self.batch_size = mini_batch_size
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch
        self.optimizer = make_optimizer(optimizer, **dict(optimizer_param))
        self.train_size = x_train.shape[0]
        self.iter_per_epoch = max(self.train_size / mini_batch_size, 1)
        self.max_iter = int(epochs * self.iter_per_epoch)
        self.current_iter = 0
        self.current_epoch = 0
        self.train_loss_list = []
        self.train_acc_list = []
        self.test_acc_list = []
        self._net = _Network(network)
        self.loop = TrainingLoop(self._net, self.optimizer, x_train, t_train, x_test, t_test,
                          batch_size=mini_batch_size, iters=0,
                          eval_every=_eval_every(self.train_size, mini_batch_size),
                          rng=make_rng(seed, rng), eval_samples=evaluate_sample_num_per_epoch)

    def train_step(self) -> None:
        """One step: a batch, its gradient, the update, the loss after it (and an
        evaluation when the step ends an epoch)."""
        self._run(1)

    def train(self) -> None:
        """``max_iter`` steps, then the accuracy on the whole test set."""
        self._run(self.max_iter)
        test_acc = self.network.accuracy(self.x_test, self.t_test)
        if self.verbose:
            print("=============== Final Test Accuracy ===============")
            print("test acc:" + str(test_acc))

    def _run(self, steps: int) -> None:
        loop = self.loop
        loop.iters = loop.iteration + steps
        loop.run(on_eval=self._on_eval, on_progress=self._on_step, progress_every=1,
                 handle_sigint=False)

    def _on_step(self, loop: TrainingLoop) -> None:
        if loop.iteration == self.current_iter:  # the call at the end of a run: no new step
            return
        x, t = self._net.batch
        loss = self.network.loss(x, t)
        self.train_loss_list.append(loss)
        if self.verbose:
            print("train loss:" + str(loss))
        self.current_iter = loop.iteration

    def _on_eval(self, loop: TrainingLoop, row: dict) -> None:
        self.current_epoch += 1
        train_acc, test_acc = row["train_acc"], row["test_acc"]
        self.train_acc_list.append(train_acc)
        self.test_acc_list.append(test_acc)
        if self.verbose:
            print("=== epoch:" + str(self.current_epoch) + ", train acc:" + str(train_acc)
                  + ", test acc:" + str(test_acc) + " ===")


__all__ = ["np", "Trainer", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]
