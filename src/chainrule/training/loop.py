"""Mini-batch training, the book's chapter-5 protocol: :class:`TrainingLoop`.

The loop of ``train_neuralnet.py``: draw ``batch_size`` indices with replacement, one
backprop ``gradient``, one optimizer ``update``; after step ``i`` with
``i % eval_every == 0`` measure train and test accuracy on the full sets (chunked).
With the defaults (60000 images, batch 100, 10000 iterations) that is after steps
0, 600, ..., 9600: 17 evaluations, as in the book. Its record is a
:class:`~chainrule.training.history.History`.

Nothing here prints or writes files: :mod:`chainrule.training.runs` keeps a run on disk
and ``chainrule train`` shows it.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from chainrule.core import parallel
from chainrule.core.checks import is_finite, is_int
from chainrule.core.functions import check_labels
from chainrule.data.load import Data, num_classes
from chainrule.nn.network import (
    accuracy_on,
    buffers_of,
    copy_of,
    loss_layer,
    own_rng,
    predicts_in_chunks,
)
from chainrule.nn.optim import make_optimizer
from chainrule.training.build import build_net, check_first_scores, check_fits
from chainrule.training.config import TrainConfig
from chainrule.training.diverged import TrainingDiverged
from chainrule.training.history import History
from chainrule.training.tuning import BlasThreads, keep_freed_memory

DIVERGENCE_FACTOR = 1000.0
"""A step's loss above ``DIVERGENCE_FACTOR * max(first step's loss, 1)`` is divergence.

Measured over 400 steps of MNIST (``benchmarks/divergence.py``): legitimate runs (the
book's protocol, the README's chapter-6 commands, SGD up to lr 1, Adam, AdaGrad and
RMSprop on a deeper net) peak at most 129 times their first loss; SGD at lr 100 peaks
at 26000 times, ``--lr 1e6`` at 2e29 times, Adam at lr 10 at 41000 times. Runs that only
fail to learn (SGD at lr 30, Adam at lr 1: 73 and 469 times) are left to go on."""


class SignalInterrupt(KeyboardInterrupt):
    """A second stop signal inside :meth:`TrainingLoop.stopping_on_signals`: stop at once.
    ``signum`` says which (the CLI exits with 128 + it, as a shell would report)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = int(signum)


def iters_per_epoch(train_size: int, batch_size: int) -> int:
    """``max(train_size // batch_size, 1)``, as in the book."""
    return max(train_size // batch_size, 1)


class TrainingLoop:
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
            raise ValueError("TrainingLoop: inputs and labels have different lengths")
        if x_test is not None and len(x_test) == 0:
            raise ValueError("TrainingLoop: the test set is empty (give None for no test set)")
        if divergence_factor is not None and not (is_finite(divergence_factor)
                                                  and divergence_factor > 1):
            raise ValueError(f"TrainingLoop: divergence_factor must be a number > 1 or None, "
                             f"got {divergence_factor!r}")
        if not 0 < batch_size <= len(x_train):
            raise ValueError(f"TrainingLoop: batch size {batch_size} must be between 1 and the "
                             f"training set size ({len(x_train)})")
        if iters < 0 or (eval_every is not None and eval_every < 1):
            raise ValueError(f"TrainingLoop: need iters >= 0 and eval_every >= 1, got {iters} "
                             f"and {eval_every}")
        if rng is not None and seed is not None:
            raise ValueError("TrainingLoop: give either seed or rng, not both")
        if eval_samples is not None and not (isinstance(eval_samples, (int, np.integer))
                                             and eval_samples > 0):
            raise ValueError(f"TrainingLoop: eval_samples must be a positive integer or None, "
                             f"got {eval_samples!r}")
        self.eval_samples = None if eval_samples is None else int(eval_samples)
        _check_label_sets(net, x_train, t_train, x_test, t_test)
        self.net, self.optimizer = net, optimizer
        self.x_train, self.t_train, self.x_test, self.t_test = x_train, t_train, x_test, t_test
        self.batch_size, self.iters = batch_size, iters
        self.iters_per_epoch = iters_per_epoch(len(x_train), batch_size)
        self.eval_every = eval_every or self.iters_per_epoch
        self.eval_batch_size = eval_batch_size
        if threads is not None and not (is_int(threads) and threads >= 1):
            raise ValueError(f"TrainingLoop: threads must be an integer >= 1 or None, "
                             f"got {threads!r}")
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
        self._threads = BlasThreads(None)

    @classmethod
    def from_config(cls, config: TrainConfig, data: Data, **kwargs) -> TrainingLoop:
        """A fresh network (:func:`build_net`) and optimizer for ``config``: weights (and
        dropout masks) and batches come from two independent streams of ``config.seed``."""
        config = config.resolved()
        init_seq, batch_seq = np.random.SeedSequence(config.seed).spawn(2)
        shape = tuple(data.x_train.shape[1:])  # flat rows, or (C, H, W) images
        output_size = num_classes(data.t_train, data.t_test)
        ipe = iters_per_epoch(len(data.x_train), config.batch_size)
        check_fits(config, shape, output_size, iters_per_epoch=ipe,
                   eval_batch=kwargs.get("eval_batch_size", 2000))
        net = build_net(config, math.prod(shape), output_size,
                        rng=np.random.default_rng(init_seq),
                        input_dim=shape if len(shape) == 3 else None)
        check_first_scores(net, data.x_train[:config.batch_size], config)
        kwargs.setdefault("eval_samples", config.eval_samples or None)
        optimizer = make_optimizer(config.optimizer, lr=config.lr)
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
        chunked = predicts_in_chunks(self.net)
        with parallel.threads(self.threads), \
                BlasThreads(self.step_threads if chunked else None), \
                np.errstate(over="ignore", invalid="ignore"):  # NaN scores: wrong answers
            return self._accuracies(self.net, train=train)

    def _accuracies(self, net, samples: int | None = None, *,
                    train: bool = True) -> tuple[float, float]:
        """Train and test accuracy on the first ``samples`` of each set (None: all)."""
        def first(a):  # slicing converts ScaledImages: only slice when asked to
            return a if samples is None else a[:samples]

        train = (math.nan if not train else
                 accuracy_on(net, first(self.x_train), first(self.t_train), self.eval_batch_size))
        test = (math.nan if self.x_test is None else
                accuracy_on(net, first(self.x_test), first(self.t_test), self.eval_batch_size))
        return train, test

    def run(self, *, on_eval: Callable[[TrainingLoop, dict], Any] | None = None,
            on_progress: Callable[[TrainingLoop], Any] | None = None, progress_every: int = 50,
            handle_sigint: bool = True,
            on_checkpoint: Callable[[TrainingLoop], Any] | None = None,
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
              BlasThreads(self.step_threads) as threads,
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
        gradient, last = self.net.gradient, loss_layer(self.net)
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
        snapshot = copy_of(self.net)
        if snapshot is None:  # no way to copy it: wait
            done: Future = Future()
            with self._threads.released():
                train_acc, test_acc = self._accuracies(self.net, self.eval_samples)
            done.set_result({**row, "train_acc": train_acc, "test_acc": test_acc})
            return done

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
        net_rng = own_rng(net)
        buffers = buffers_of(net)
        return {
            "iteration": self.iteration,
            "rng": self.rng.bit_generator.state,
            "net_rng": None if net_rng is None else net_rng.bit_generator.state,
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
        net_rng = own_rng(self.net)
        if state.get("net_rng") is not None and net_rng is not None:
            net_rng.bit_generator.state = state["net_rng"]  # in place: layers hold it
        self.optimizer.load_state_dict(dict(state["optimizer"]))
        self.history = History.from_state_dict(state["history"])
        self.iteration = iteration
        self.status = "completed" if self.done else "interrupted"


def _check_label_sets(net, x_train, t_train, x_test, t_test) -> None:
    """Check both label sets as the loss would, once, against the network's output size."""
    predict = getattr(net, "predict", None)
    if not callable(predict) or not len(x_train):
        return
    with np.errstate(all="ignore"):  # only the shape counts here
        outputs = np.shape(predict(x_train[:1]))[-1]
    for name, t in (("t_train", t_train), ("t_test", t_test)):
        if t is not None:
            t = np.asarray(t)
            check_labels(np.broadcast_to(np.float32(0), (len(t), outputs)), t,
                         f"TrainingLoop: {name}")


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


_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def _generator(state: dict) -> np.random.Generator:
    """A generator in the given ``bit_generator.state``."""
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in _BIT_GENERATORS:
        raise ValueError(f"state: unknown random generator {name!r}")
    bit_generator = getattr(np.random, name)()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:  # NumPy's, for a bad one
        raise ValueError(f"state: not a {name} generator's state ({exc})") from None
    return np.random.Generator(bit_generator)
