"""The book's gradient_check.py: backprop against numerical gradients on 3 MNIST images.

Prints each parameter's mean absolute difference (the book's figure) and the
largest relative error; exits 1 if any parameter fails.
"""

import sys

from chainrule import TwoLayerNet, gradient_check, load_mnist

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)

network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10, seed=0)

x_batch = x_train[:3]
t_batch = t_train[:3]

report = gradient_check(network, x_batch, t_batch)  # every coordinate, in float64

for key, check in report.params.items():
    print(f"{key}:{check.mean_abs_diff:.6g}")
print(report)
sys.exit(0 if report.passed else 1)
