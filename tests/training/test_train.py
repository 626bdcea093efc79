"""The training loop: the book's schedule, the history, reproducibility, exact resume."""

from __future__ import annotations

import json
import math
import os
import signal
import warnings

import numpy as np
import pytest

from chainrule.data.load import Data, load_data
from chainrule.nn.optim import SGD
from chainrule.nn.two_layer import TwoLayerNet
from chainrule.training import checkpoint
from chainrule.training.config import TrainConfig
from chainrule.training.evaluation import confusion_matrix, evaluate
from chainrule.training.history import History
from chainrule.training.loop import TrainingDiverged, TrainingLoop, iters_per_epoch


def blobs(n_train=600, n_test=150, dim=20, classes=3, seed=0, dtype=np.float32) -> Data:
    """Gaussian clusters: learnable in a few hundred steps."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (classes, dim))
    def make(n):
        t = rng.integers(0, classes, n)
        return (centres[t] + rng.normal(0, 0.8, (n, dim))).astype(dtype), t
    return Data(*make(n_train), *make(n_test))


def trainer(data=None, *, iters=300, eval_every=None, batch_size=10, seed=0, lr=0.1, **kw):
    config = TrainConfig(dataset="digits", hidden=16, lr=lr, batch_size=batch_size,
                         iters=iters, eval_every=eval_every, seed=seed)
    return TrainingLoop.from_config(config, data or blobs(), **kw)


def params_equal(a, b) -> bool:
    return all(np.array_equal(a.net.params[k], b.net.params[k]) for k in a.net.params)


def test_book_schedule_17_evaluations():
    # 600 samples / batch 10 = 60 iterations per epoch; 1000 steps -> evaluated after
    # steps 0, 60, ..., 960: 17 rows, epochs 0..16, as the book's 10000 / 600.
    tr = trainer(iters=1000)
    history = tr.run(handle_sigint=False)
    assert tr.iters_per_epoch == 60 == iters_per_epoch(600, 10)
    assert history.iteration == list(range(0, 1000, 60))
    assert history.epoch == [float(e) for e in range(17)]
    assert len(history.step_loss) == 1000 and tr.status == "completed" and tr.done
    assert history.test_acc[-1] > 0.9
    assert history.train_acc_list is history.train_acc  # the book's names
    assert history.train_loss_list is history.step_loss


def test_loss_column_is_mean_since_previous_evaluation():
    history = trainer(iters=200, eval_every=50).run(handle_sigint=False)
    steps = history.step_loss
    assert history.loss[0] == steps[0]
    assert history.loss[1] == pytest.approx(np.mean(steps[1:51]), rel=1e-12)
    assert history.loss[3] == pytest.approx(np.mean(steps[101:151]), rel=1e-12)


def test_step_loss_is_the_forward_loss_before_the_update():
    data = blobs()
    tr = trainer(data, iters=1)
    net = TwoLayerNet.from_params({k: v.copy() for k, v in tr.net.params.items()})
    rng = np.random.Generator(type(tr.rng.bit_generator)())
    rng.bit_generator.state = tr.rng.bit_generator.state
    batch = rng.integers(len(data.x_train), size=10)
    tr.run(handle_sigint=False)
    assert tr.history.step_loss[0] == net.loss(data.x_train[batch], data.t_train[batch])


def test_same_seed_same_numbers_other_seed_other_numbers():
    a, b, c = trainer(seed=3), trainer(seed=3), trainer(seed=4)
    for t in (a, b, c):
        t.run(handle_sigint=False)
    assert a.history.to_csv() == b.history.to_csv()
    assert a.history.step_loss == b.history.step_loss and params_equal(a, b)
    assert a.history.step_loss != c.history.step_loss


def test_float32_stays_float32():
    tr = trainer(iters=20)
    tr.run(handle_sigint=False)
    assert all(p.dtype == np.float32 for p in tr.net.params.values())
    assert all(type(v) is float for v in tr.history.step_loss)


def _stop_at(k):
    def on_progress(tr):
        if tr.iteration == k:
            tr.request_stop()
    return on_progress


@pytest.mark.parametrize("k", [1, 37, 60, 61])
def test_stop_and_resume_through_a_checkpoint_file_is_bit_identical(tmp_path, k):
    data = blobs()
    full = trainer(data, iters=250, eval_every=30)
    full.run(handle_sigint=False)

    first = trainer(data, iters=250, eval_every=30)
    first.run(on_progress=_stop_at(k), progress_every=1, handle_sigint=False)
    assert first.status == "interrupted" and first.iteration == k
    checkpoint.save_checkpoint(tmp_path / "c.npz", first)

    second = trainer(data, iters=250, eval_every=30)  # fresh weights, overwritten below
    second.load_state_dict(checkpoint.load_checkpoint(tmp_path / "c.npz"))
    assert second.iteration == k
    second.run(handle_sigint=False)
    assert second.history.to_csv() == full.history.to_csv()
    assert second.history.step_loss == full.history.step_loss
    assert params_equal(second, full)


def test_sigint_finishes_the_step_then_stops_and_restores_the_handler():
    data = blobs()
    full = trainer(data, iters=100, eval_every=20)
    full.run(handle_sigint=False)
    before = signal.getsignal(signal.SIGINT)

    sent = []

    def ctrl_c(tr):
        if tr.iteration == 42 and not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGINT)

    tr = trainer(data, iters=100, eval_every=20)
    tr.run(on_progress=ctrl_c, progress_every=1)
    assert tr.status == "interrupted" and tr.iteration == 42
    assert signal.getsignal(signal.SIGINT) is before
    tr.run()  # continue in memory
    assert tr.history.to_csv() == full.history.to_csv() and params_equal(tr, full)


def test_second_sigint_raises_keyboard_interrupt():
    def ctrl_c_twice(tr):
        if tr.iteration == 5 and tr.status == "running":
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    tr = trainer(iters=100)
    with pytest.raises(KeyboardInterrupt):
        tr.run(on_progress=ctrl_c_twice, progress_every=1)


def test_nan_loss_raises_and_skips_the_bad_update():
    tr = trainer(lr=1e30, iters=200, eval_every=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings: the NaN check speaks
        with pytest.raises(TrainingDiverged, match="lower learning rate") as info:
            tr.run(handle_sigint=False)
    exc = info.value
    assert not math.isfinite(exc.loss) and tr.status == "diverged"
    assert tr.iteration == exc.iteration == len(tr.history.step_loss)


def test_run_again_after_completion_does_nothing():
    tr = trainer(iters=30)
    tr.run(handle_sigint=False)
    csv = tr.history.to_csv()
    tr.run(handle_sigint=False)
    assert tr.history.to_csv() == csv and tr.iteration == 30


def test_history_state_roundtrip_and_csv():
    h = trainer(iters=100, eval_every=25).run(handle_sigint=False)
    again = History.from_state_dict(h.state_dict())
    assert again == h
    lines = h.to_csv().splitlines()
    assert lines[0] == "iteration,epoch,loss,train_acc,test_acc" and len(lines) == 5
    assert float(lines[2].split(",")[3]) == h.train_acc[1]  # full precision


@pytest.mark.parametrize("change, match", [
    ({"lr": -0.1}, "lr must be a finite number > 0"),
    ({"lr": float("nan")}, "lr must be a finite number > 0"),
    ({"batch_size": 0}, "batch_size"),
    ({"dataset": "cifar"}, "unknown dataset 'cifar'"),
    ({"dtype": "float16"}, "dtype"),
    ({"optimizer": "adagrad9"}, "unknown optimizer"),
    ({"eval_every": 0}, "eval_every"),
    ({"hidden": 2.5}, "hidden"),
])
def test_config_validation_names_the_field(change, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**change).validate()


@pytest.mark.parametrize("change, match", [
    ({"hidden": [16, 0]}, "hidden must be >= 1"),
    ({"hidden": []}, "hidden must be >= 1"),
    ({"activation": "gelu"}, "unknown activation 'gelu'"),
    ({"weight_init_std": "lecun"}, "weight_init_std must be he, xavier or a positive"),
    ({"weight_init_std": -0.01}, "weight_init_std must be he, xavier or a positive"),
    ({"dropout": 1.0}, "dropout must be in"),
    ({"dropout": -0.1}, "dropout must be in"),
    ({"weight_decay": -1e-4}, "weight_decay must be a finite number >= 0"),
    ({"batchnorm": "yes"}, "batchnorm must be true or false"),
])
def test_config_validation_of_the_network_fields(change, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**change).resolved()


@pytest.mark.parametrize("change, two_layer, init, lr", [
    ({}, True, 0.01, 0.1),  # the book's chapter-5 protocol
    ({"hidden": [50]}, True, 0.01, 0.1),
    ({"optimizer": "Adam"}, True, 0.01, 0.001),  # the optimizer's own default rate
    ({"optimizer": "momentum", "weight_init_std": 0.05}, True, 0.05, 0.01),
    ({"optimizer": "adam", "lr": 0.1}, True, 0.01, 0.1),
    ({"hidden": [256, 128]}, False, "he", 0.1),
    ({"activation": "tanh"}, False, "xavier", 0.1),
    ({"weight_init_std": "relu"}, False, "he", 0.1),  # the book's spelling of He
    ({"batchnorm": True}, False, "he", 0.1),
    ({"dropout": 0.2}, False, "he", 0.1),
    ({"weight_decay": 1e-4, "weight_init_std": 0.01}, False, 0.01, 0.1),
])
def test_config_resolves_the_net_the_init_and_the_learning_rate(change, two_layer, init, lr):
    from chainrule.nn.multilayer import MultiLayerNet

    c = TrainConfig(**change)
    r = c.resolved()
    assert (r.two_layer, r.weight_init_std, r.lr) == (two_layer, init, lr)
    assert c.lr == change.get("lr") and r.resolved() == r  # a copy; idempotent
    tr = TrainingLoop.from_config(TrainConfig(**{**change, "iters": 5, "batch_size": 10}), blobs())
    assert type(tr.net) is (TwoLayerNet if two_layer else MultiLayerNet)
    assert tr.optimizer.lr == lr


def test_config_roundtrip_ignores_derived_keys():
    c = TrainConfig(lr=0.05, epochs=3)
    assert TrainConfig.from_dict({**c.to_dict(), "net": {}, "train_size": 5}) == c
    deep = TrainConfig(hidden=[8, 4], dropout=0.1, optimizer="adam").resolved()
    assert TrainConfig.from_dict(json.loads(json.dumps(deep.to_dict()))) == deep


def test_config_from_a_file_written_before_chapter_6():
    old = {"dataset": "mnist", "hidden": 50, "weight_init_std": 0.01, "optimizer": "sgd",
           "lr": 0.1, "batch_size": 100, "iters": 10000, "epochs": None, "eval_every": None,
           "seed": 0, "dtype": "float32", "net": {"class": "TwoLayerNet"}}
    c = TrainConfig.from_dict(old).resolved()
    assert c == TrainConfig(lr=0.1, weight_init_std=0.01) and c.two_layer


def test_trainer_rejects_batch_larger_than_data():
    d = blobs(n_train=50)
    net = TwoLayerNet(20, 4, 3, seed=0)
    with pytest.raises(ValueError, match="batch size 100"):
        TrainingLoop(net, SGD(0.1), d.x_train, d.t_train, batch_size=100)


def test_epochs_sets_the_length_and_one_hot_labels_work():
    d = blobs()
    onehot = Data(d.x_train, np.eye(3)[d.t_train], d.x_test, np.eye(3)[d.t_test])
    tr = TrainingLoop.from_config(TrainConfig(hidden=8, batch_size=10, epochs=2), onehot)
    assert tr.iters == 120
    tr.run(handle_sigint=False)
    assert len(tr.history) == 2 and tr.history.test_acc[-1] > 0.5


def test_no_test_set_gives_nan_test_accuracy():
    d = blobs()
    tr = TrainingLoop(TwoLayerNet(20, 8, 3, seed=0), SGD(0.1), d.x_train, d.t_train,
                 batch_size=10, iters=5, seed=0)
    h = tr.run(handle_sigint=False)
    assert math.isnan(h.test_acc[0]) and 0 <= h.train_acc[0] <= 1


def test_evaluate_and_confusion_matrix():
    m = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]

    class Fixed:
        def predict(self, x):
            return np.eye(3)[[0, 1, 1, 2, 2, 0]]

    result = evaluate(Fixed(), np.zeros((6, 1)), np.array([0, 0, 1, 2, 2, 2]),
                      class_names=["a", "b", "c"])
    assert result.accuracy == pytest.approx(4 / 6)
    assert result.per_class.tolist() == pytest.approx([0.5, 1.0, 2 / 3])
    text = str(result)
    assert "confusion matrix" in text and "0.6667" in text


def test_short_real_mnist_run(mnist_arrays):
    """600 steps of the book's protocol on real MNIST reach > 0.85 test accuracy."""
    (x, t), (xt, tt) = mnist_arrays
    data = Data(np.asarray(x), np.asarray(t), np.asarray(xt), np.asarray(tt))
    tr = TrainingLoop.from_config(TrainConfig(iters=601), data)
    h = tr.run(handle_sigint=False)
    assert h.iteration == [0, 600] and tr.iters_per_epoch == 600
    assert h.test_acc[-1] > 0.85 and h.train_acc[-1] > 0.85
    # The figures the README prints for the default run's first two evaluations.
    printed = [(2.3032, 0.0850, 0.0826), (0.7204, 0.9034, 0.9066)]
    for row, (loss, train_acc, test_acc) in zip(h.rows(), printed, strict=True):
        assert row["loss"] == pytest.approx(loss, abs=5e-5)
        assert row["train_acc"] == pytest.approx(train_acc, abs=5e-5)
        assert row["test_acc"] == pytest.approx(test_acc, abs=5e-5)


def test_load_data_keeps_uint8_and_normalizes_rows_like_load_mnist(real_data_root, mnist_arrays):
    d = load_data("mnist", real_data_root / "mnist", download=False)
    assert d.x_train.raw.dtype == np.uint8 and type(d.x_train.raw) is np.ndarray
    assert d.x_train.dtype == np.float32 and d.x_train.shape == (60000, 784)
    assert d.t_test.dtype == np.int64
    (x, _), (xt, _) = mnist_arrays
    rows = np.array([0, 59999, 123])
    assert d.x_train[rows].tobytes() == x[rows].tobytes()
    assert d.x_test[:100].tobytes() == xt[:100].tobytes()


def test_deeper_net_with_dropout_batchnorm_and_adam_resumes_bit_identically(tmp_path):
    from chainrule.nn.multilayer import MultiLayerNet
    from chainrule.nn.optim import Adam

    data = blobs()

    def make():
        net = MultiLayerNet(20, [16, 16], 3, dropout_ratio=0.2, use_batchnorm=True,
                            dtype=np.float32, seed=5)
        return TrainingLoop(net, Adam(lr=0.01), *data, batch_size=10, iters=150, eval_every=40,
                       seed=6)

    full = make()
    full.run(handle_sigint=False)
    first = make()
    first.run(on_progress=_stop_at(55), progress_every=1, handle_sigint=False)
    checkpoint.save_checkpoint(tmp_path / "c.npz", first)
    second = make()
    second.load_state_dict(checkpoint.load_checkpoint(tmp_path / "c.npz"))
    second.run(handle_sigint=False)
    assert second.history.to_csv() == full.history.to_csv()
    assert params_equal(second, full)
    for k, b in full.net.buffers().items():
        assert np.array_equal(second.net.buffers()[k], b)
    model = checkpoint.load_model(checkpoint.save_model(tmp_path / "m.npz", full.net))
    assert np.array_equal(model.predict(data.x_test), full.net.predict(data.x_test))


def test_no_checkpoint_stands_past_an_unrecorded_evaluation():
    """Evaluations run beside the steps; whenever on_eval fires (and a checkpoint is
    written), every evaluation scheduled before the current iteration is recorded, so
    resuming from that checkpoint never skips one."""
    rng = np.random.default_rng(0)
    x = rng.random((400, 12), dtype=np.float32)
    t = rng.integers(0, 3, 400)
    net = TwoLayerNet(12, 8, 3, weight_init_std=0.1, dtype=np.float32, seed=0)
    from chainrule import SGD

    trainer = TrainingLoop(net, SGD(lr=0.1), x, t, x[:100], t[:100], batch_size=10, iters=300,
                      eval_every=7, seed=0)
    seen = []

    def on_eval(tr, row):
        scheduled = [e for e in range(tr.iteration) if e % tr.eval_every == 0]
        seen.append(scheduled == tr.history.iteration[:len(scheduled)]
                    and len(tr.history.iteration) >= len(scheduled))

    history = trainer.run(on_eval=on_eval, handle_sigint=False)
    assert seen and all(seen)
    assert history.iteration == list(range(0, 300, 7))


def test_eval_samples_measures_the_first_k_of_each_set():
    """``eval_samples=k``: the scheduled accuracies are those of the first k samples
    (the book's evaluate_sample_num_per_epoch); ``evaluate()`` still uses the full sets."""
    from chainrule.nn.network import accuracy_of

    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((300, 4)), rng.integers(0, 3, 300)
    xt, tt = rng.standard_normal((200, 4)), rng.integers(0, 3, 200)
    net = TwoLayerNet(4, 5, 3, weight_init_std=1.0, seed=0)
    trainer = TrainingLoop(net, SGD(0.1), x, t, xt, tt, batch_size=10, iters=1, seed=0,
                      eval_samples=50)
    trainer.run(handle_sigint=False)  # one step, evaluated after it: the net as it is now
    row = trainer.history.last()
    first = (accuracy_of(net.predict(x[:50]), t[:50]), accuracy_of(net.predict(xt[:50]), tt[:50]))
    full = (accuracy_of(net.predict(x), t), accuracy_of(net.predict(xt), tt))
    assert first != full  # the data tells the two apart
    assert (row["train_acc"], row["test_acc"]) == first
    assert trainer.evaluate() == full
    with pytest.raises(ValueError, match="eval_samples"):
        TrainingLoop(net, SGD(0.1), x, t, batch_size=10, eval_samples=0)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_second_signal_stops_at_once_and_names_itself(sig, monkeypatch, capsys):
    """The first stop signal asks for a stop after the step; a second one raises
    SignalInterrupt carrying its number, and the CLI exits 128 + it (130, 143, 129)."""
    from chainrule import cli
    from chainrule.training.loop import SignalInterrupt

    tr = trainer()
    with pytest.raises(SignalInterrupt) as caught, tr.stopping_on_signals():
        os.kill(os.getpid(), sig)
        assert tr.stop_requested and tr.stopped_by == sig
        os.kill(os.getpid(), sig)
    assert caught.value.signum == sig and isinstance(caught.value, KeyboardInterrupt)

    def command(args):
        raise SignalInterrupt(sig)

    monkeypatch.setattr(cli, "build_parser", lambda: _Parser(command))
    assert cli.main([]) == 128 + sig
    err = capsys.readouterr().err.strip()
    assert err == ("chainrule: interrupted" if sig == signal.SIGINT
                   else f"chainrule: interrupted by {signal.Signals(sig).name}")


class _Parser:
    def __init__(self, func):
        self.func = func

    def parse_args(self, argv):
        import argparse

        return argparse.Namespace(command="train", func=self.func)
