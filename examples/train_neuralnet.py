"""The book's train_neuralnet.py: TwoLayerNet on MNIST with mini-batch SGD.

784-50-10, learning rate 0.1, batches of 100 drawn with replacement, 10000
iterations, train and test accuracy once per epoch (17 lines). Pass a number of
iterations as the first argument for a shorter run.
"""

import sys

import numpy as np

from chainrule import TwoLayerNet, load_mnist

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)

network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10, dtype=np.float32, seed=0)
rng = np.random.default_rng(0)

iters_num = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
train_size = x_train.shape[0]
batch_size = 100
learning_rate = 0.1

train_loss_list = []
train_acc_list = []
test_acc_list = []

iter_per_epoch = max(train_size // batch_size, 1)

for i in range(iters_num):
    batch_mask = rng.choice(train_size, batch_size)
    x_batch = x_train[batch_mask]
    t_batch = t_train[batch_mask]

    grad = network.gradient(x_batch, t_batch)

    for key in ("W1", "b1", "W2", "b2"):
        network.params[key] -= learning_rate * grad[key]

    loss = network.lastLayer.loss  # gradient() has just computed it
    train_loss_list.append(loss)

    if i % iter_per_epoch == 0:
        train_acc = network.accuracy(x_train, t_train)
        test_acc = network.accuracy(x_test, t_test)
        train_acc_list.append(train_acc)
        test_acc_list.append(test_acc)
        print(train_acc, test_acc)
