"""The book's ``Trainer`` (chainrule.book.trainer) against the loop its code documents, step for step."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.book.trainer import Trainer
from chainrule.nn.multilayer import MultiLayerNet, MultiLayerNetExtend
from chainrule.nn.optim import Adam


def blobs(n=40, d=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, k, n)
    x = rng.standard_normal((n, d)) + 2 * np.eye(k, d)[t]
    return x, t


def book_loop(network, x, t, xt, tt, epochs, batch, lr, samples=None):
    """The book's ``Trainer.train``, as its text describes it: a batch drawn with
    ``np.random.choice``, the gradient, an SGD update, the loss on the batch after it, and
    train/test accuracy whenever ``i % iter_per_epoch == 0``."""
    iter_per_epoch = max(len(x) / batch, 1)
    losses, train_acc, test_acc = [], [], []
    for i in range(int(epochs * iter_per_epoch)):
        mask = np.random.choice(len(x), batch)
        grads = network.gradient(x[mask], t[mask])
        for key in network.params:
            network.params[key] -= lr * grads[key]
        losses.append(network.loss(x[mask], t[mask]))
        if i % iter_per_epoch == 0:
            k = len(x) if samples is None else samples
            train_acc.append(network.accuracy(x[:k], t[:k]))
            test_acc.append(network.accuracy(xt[:k], tt[:k]))
    return losses, train_acc, test_acc


@pytest.mark.parametrize("samples", [None, 10])
@pytest.mark.parametrize("make", [
    lambda: MultiLayerNet(6, [8, 8], 3, weight_decay_lambda=0.01),
    lambda: MultiLayerNetExtend(6, [8, 8], 3, use_dropout=True, dropout_ration=0.2,
                                use_batchnorm=True)], ids=["multilayer", "extend"])
def test_the_same_numbers_as_the_books_loop_under_np_random_seed(make, samples):
    x, t = blobs()
    xt, tt = blobs(20, seed=1)
    np.random.seed(0)
    net = make()
    trainer = Trainer(net, x, t, xt, tt, epochs=3, mini_batch_size=10, optimizer="sgd",
                      optimizer_param={"lr": 0.1}, evaluate_sample_num_per_epoch=samples,
                      verbose=False)
    trainer.train()
    np.random.seed(0)
    ref = make()
    losses, train_acc, test_acc = book_loop(ref, x, t, xt, tt, 3, 10, 0.1, samples)
    assert trainer.max_iter == 12 and trainer.iter_per_epoch == 4.0
    assert trainer.current_iter == 12 and trainer.current_epoch == 3
    np.testing.assert_allclose(trainer.train_loss_list, losses, rtol=1e-12)
    assert trainer.train_acc_list == train_acc and trainer.test_acc_list == test_acc
    for k in net.params:
        np.testing.assert_allclose(net.params[k], ref.params[k], rtol=1e-12, atol=1e-15)


def test_verbose_output_reads_like_the_books(capsys):
    x, t = blobs()
    np.random.seed(1)
    trainer = Trainer(MultiLayerNet(6, [8], 3), x, t, x[:20], t[:20], epochs=2,
                      mini_batch_size=20)
    trainer.train()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "train loss", "=== epoch", "train loss", "train loss", "=== epoch", "train loss",
        "=============== Final Test Accuracy ===============", "test acc"]
    loss = trainer.train_loss_list[0]
    assert lines[0] == "train loss:" + str(loss)
    assert lines[1] == (f"=== epoch:1, train acc:{trainer.train_acc_list[0]}, "
                        f"test acc:{trainer.test_acc_list[0]} ===")
    assert lines[-1] == "test acc:" + str(trainer.network.accuracy(x[:20], t[:20]))


def test_train_step_runs_one_step_and_train_runs_max_iter_more():
    x, t = blobs()
    np.random.seed(2)
    trainer = Trainer(MultiLayerNet(6, [8], 3), x, t, x, t, epochs=1, mini_batch_size=10,
                      optimizer="Adam", optimizer_param={"lr": 0.01}, verbose=False)
    assert isinstance(trainer.optimizer, Adam) and trainer.optimizer.lr == 0.01
    trainer.train_step()
    assert trainer.current_iter == 1 and len(trainer.train_loss_list) == 1
    assert trainer.current_epoch == 1 and len(trainer.test_acc_list) == 1  # step 0 ends epoch
    trainer.train()
    assert trainer.current_iter == 5 and len(trainer.train_loss_list) == 5
    assert trainer.current_epoch == 2  # after steps 0 and 4


def test_a_partial_epoch_is_evaluated_at_its_first_whole_multiple():
    x, t = blobs(10)
    np.random.seed(3)
    trainer = Trainer(MultiLayerNet(6, [4], 3), x, t, x, t, epochs=4, mini_batch_size=4,
                      verbose=False)  # iter_per_epoch 2.5: evaluated after steps 0 and 5
    trainer.train()
    assert trainer.iter_per_epoch == 2.5 and trainer.max_iter == 10
    assert trainer.current_epoch == 2


def test_explicit_seed_leaves_the_global_state_alone_and_repeats():
    x, t = blobs()
    results = []
    for _ in range(2):
        np.random.seed(0)
        before = np.random.get_state()[1].copy()
        trainer = Trainer(MultiLayerNet(6, [8], 3, seed=5), x, t, x, t, epochs=2,
                          mini_batch_size=10, verbose=False, seed=7)
        trainer.train()
        np.testing.assert_array_equal(np.random.get_state()[1], before)
        results.append(trainer.train_loss_list)
    assert results[0] == results[1]


def test_bad_arguments_get_clear_errors():
    x, t = blobs()
    param = {"lr": 0.1}
    net = MultiLayerNet(6, [4], 3, seed=0)
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        Trainer(net, x, t, x, t, mini_batch_size=10, optimizer="lbfgs")
    Trainer(net, x, t, x, t, mini_batch_size=10, optimizer_param=param).train_step()
    assert param == {"lr": 0.1}
    # the one book call refused: a batch larger than the training set (see the README)
    with pytest.raises(ValueError, match=r"batch size 100 must be between 1 and the training "
                                         r"set size \(40\)"):
        Trainer(net, x, t, x, t)


class Softmax:
    """A network of the book's shape without a last layer to read the loss from."""

    def __init__(self):
        self.params = {"W": np.zeros((6, 3))}

    def predict(self, x):
        return x @ self.params["W"]

    def loss(self, x, t):
        y = self.predict(x)
        y = np.exp(y - y.max(axis=1, keepdims=True))
        return float(-np.mean(np.log(y[np.arange(len(t)), t] / y.sum(axis=1))))

    def accuracy(self, x, t):
        return float(np.mean(self.predict(x).argmax(axis=1) == t))

    def gradient(self, x, t):
        y = np.exp(self.predict(x))
        y /= y.sum(axis=1, keepdims=True)
        y[np.arange(len(t)), t] -= 1
        return {"W": x.T @ y / len(t)}


def test_any_network_with_the_books_methods_trains():
    x, t = blobs()
    np.random.seed(0)
    trainer = Trainer(Softmax(), x, t, x, t, epochs=5, mini_batch_size=10,
                      optimizer_param={"lr": 0.5}, verbose=False)
    trainer.train()
    assert trainer.train_loss_list[-1] < trainer.train_loss_list[0]
    assert trainer.train_acc_list[-1] > 0.8
