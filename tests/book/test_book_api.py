"""Every public name of the book's ``common/`` modules and ``dataset/mnist.py`` exists in
chainrule with a signature that accepts every call the book's does.

The tables below were written from reading the book's code (the official repository of
*Deep Learning from Scratch*); the test needs only chainrule. A chainrule signature is
compatible when the book's parameters come first, in the book's order, with the book's
names and defaults (or a default listed as equivalent), and anything chainrule adds
after them has a default.
"""

from __future__ import annotations

import importlib
import inspect

import numpy as np
import pytest

REQUIRED = object()  # a parameter without a default

# (parameter name, book default, *chainrule defaults that mean the same)
FUNCTIONS = {
    "identity_function": [("x", REQUIRED)],
    "step_function": [("x", REQUIRED)],
    "sigmoid": [("x", REQUIRED)],
    "sigmoid_grad": [("x", REQUIRED)],
    "relu": [("x", REQUIRED)],
    "relu_grad": [("x", REQUIRED)],
    "softmax": [("x", REQUIRED)],
    "sum_squared_error": [("y", REQUIRED), ("t", REQUIRED)],
    "cross_entropy_error": [("y", REQUIRED), ("t", REQUIRED)],
    "softmax_loss": [("X", REQUIRED), ("t", REQUIRED)],
}
GRADIENT = {
    "numerical_gradient": [("f", REQUIRED), ("x", REQUIRED)],
    "numerical_gradient_2d": [("f", REQUIRED), ("X", REQUIRED)],
}
UTIL = {
    "smooth_curve": [("x", REQUIRED)],
    "shuffle_dataset": [("x", REQUIRED), ("t", REQUIRED)],
    "conv_output_size": [("input_size", REQUIRED), ("filter_size", REQUIRED), ("stride", 1),
                         ("pad", 0)],
    "im2col": [("input_data", REQUIRED), ("filter_h", REQUIRED), ("filter_w", REQUIRED),
               ("stride", 1), ("pad", 0)],
    "col2im": [("col", REQUIRED), ("input_shape", REQUIRED), ("filter_h", REQUIRED),
               ("filter_w", REQUIRED), ("stride", 1), ("pad", 0)],
}
X_ONLY, X_T, DOUT = [("x", REQUIRED)], [("x", REQUIRED), ("t", REQUIRED)], [("dout", REQUIRED)]
# class -> (constructor, {method: parameters}, attributes of an instance)
LAYERS = {
    "Relu": ([], {"forward": X_ONLY, "backward": DOUT}, ["mask"]),
    "Sigmoid": ([], {"forward": X_ONLY, "backward": DOUT}, ["out"]),
    "Affine": ([("W", REQUIRED), ("b", REQUIRED)], {"forward": X_ONLY, "backward": DOUT},
               ["W", "b", "x", "original_x_shape", "dW", "db"]),
    "SoftmaxWithLoss": ([], {"forward": X_T, "backward": [("dout", 1)]}, ["loss", "y", "t"]),
    "Dropout": ([("dropout_ratio", 0.5)],
                {"forward": [("x", REQUIRED), ("train_flg", True)], "backward": DOUT},
                ["dropout_ratio", "mask"]),
    "BatchNormalization": (
        [("gamma", REQUIRED), ("beta", REQUIRED), ("momentum", 0.9), ("running_mean", None),
         ("running_var", None)],
        {"forward": [("x", REQUIRED), ("train_flg", True)], "backward": DOUT},
        # the book's caches xc and batch_size are not kept (see the README)
        ["gamma", "beta", "momentum", "input_shape", "running_mean", "running_var", "std",
         "dgamma", "dbeta"]),
    # chapter 7, chainrule.core.conv; the book's caches x, col and col_W are not kept (README)
    "Convolution": ([("W", REQUIRED), ("b", REQUIRED), ("stride", 1), ("pad", 0)],
                    {"forward": X_ONLY, "backward": DOUT},
                    ["W", "b", "stride", "pad", "dW", "db"]),
    "Pooling": ([("pool_h", REQUIRED), ("pool_w", REQUIRED), ("stride", 2), ("pad", 0)],
                {"forward": X_ONLY, "backward": DOUT},
                ["pool_h", "pool_w", "stride", "pad", "arg_max"]),
}
CONV_LAYERS = {"Convolution", "Pooling"}  # chainrule has them in chainrule.core.conv
PARAMS_GRADS = [("params", REQUIRED), ("grads", REQUIRED)]
OPTIMIZERS = {
    "SGD": ([("lr", 0.01)], ["lr"]),
    "Momentum": ([("lr", 0.01), ("momentum", 0.9)], ["lr", "momentum", "v"]),
    "Nesterov": ([("lr", 0.01), ("momentum", 0.9)], ["lr", "momentum", "v"]),
    "AdaGrad": ([("lr", 0.01)], ["lr", "h"]),
    "RMSprop": ([("lr", 0.01), ("decay_rate", 0.99)], ["lr", "decay_rate", "h"]),
    "Adam": ([("lr", 0.001), ("beta1", 0.9), ("beta2", 0.999)],
             ["lr", "beta1", "beta2", "iter", "m", "v"]),
}
TRAINER = [("network", REQUIRED), ("x_train", REQUIRED), ("t_train", REQUIRED),
           ("x_test", REQUIRED), ("t_test", REQUIRED), ("epochs", 20), ("mini_batch_size", 100),
           ("optimizer", "SGD"), ("optimizer_param", {"lr": 0.01}),
           ("evaluate_sample_num_per_epoch", None), ("verbose", True)]
TRAINER_ATTRIBUTES = ["network", "verbose", "x_train", "t_train", "x_test", "t_test", "epochs",
                      "batch_size", "evaluate_sample_num_per_epoch", "optimizer", "train_size",
                      "iter_per_epoch", "max_iter", "current_iter", "current_epoch",
                      "train_loss_list", "train_acc_list", "test_acc_list"]
NET = [("input_size", REQUIRED), ("hidden_size_list", REQUIRED), ("output_size", REQUIRED),
       ("activation", "relu"), ("weight_init_std", "relu", "he"), ("weight_decay_lambda", 0)]
NET_EXTEND = [*NET, ("use_dropout", False), ("dropout_ration", 0.5), ("use_batchnorm", False)]
NET_METHODS = {"predict": X_ONLY, "loss": X_T, "accuracy": X_T, "numerical_gradient": X_T,
               "gradient": X_T}
# the book's predict/loss default to eval mode (False); chainrule's None means the same
NET_EXTEND_METHODS = {**NET_METHODS,
                      "predict": [("x", REQUIRED), ("train_flg", False, None)],
                      "loss": [("x", REQUIRED), ("t", REQUIRED), ("train_flg", False, None)]}
NET_ATTRIBUTES = ["input_size", "output_size", "hidden_size_list", "hidden_layer_num",
                  "weight_decay_lambda", "params", "layers", "last_layer"]
MNIST_FUNCTIONS = {
    "load_mnist": [("normalize", True), ("flatten", True), ("one_hot_label", False)],
    "init_mnist": [],
    "download_mnist": [],
}
# save_file (the book's pickle) has no counterpart: chainrule never writes a pickle
MNIST_CONSTANTS = {"train_num": 60000, "test_num": 10000, "img_dim": (1, 28, 28),
                   "img_size": 784}

# the book's module -> chainrule's module, the book shim's module
MODULES = {
    "functions": ("chainrule.core.functions", "chainrule.book_shim.common.functions"),
    "gradient": ("chainrule.core.gradient", "chainrule.book_shim.common.gradient"),
    "layers": ("chainrule.core.layers", "chainrule.book_shim.common.layers"),
    "util": ("chainrule.book.util", "chainrule.book_shim.common.util"),
    "optimizer": ("chainrule.nn.optim", "chainrule.book_shim.common.optimizer"),
    "trainer": ("chainrule.book.trainer", "chainrule.book_shim.common.trainer"),
    "multi_layer_net": ("chainrule.nn.multilayer", "chainrule.book_shim.common.multi_layer_net"),
    "multi_layer_net_extend": ("chainrule.nn.multilayer",
                               "chainrule.book_shim.common.multi_layer_net_extend"),
    "mnist": ("chainrule.book.mnist", "chainrule.book_shim.dataset.mnist"),
}
# what ``from common.<module> import *`` gives in the book (its own names, what its
# imports bring along, and ``np``); the shim's modules must give at least these
STAR = {
    "functions": {"np", *FUNCTIONS},
    "gradient": {"np", *GRADIENT},
    "util": {"np", *UTIL},
    "layers": {"np", *FUNCTIONS, "im2col", "col2im", *LAYERS},
    "optimizer": {"np", *OPTIMIZERS},
    "trainer": {"np", "Trainer", *OPTIMIZERS},
    "multi_layer_net": {"np", "MultiLayerNet", "numerical_gradient", *FUNCTIONS, *LAYERS},
    "multi_layer_net_extend": {"np", "MultiLayerNetExtend", "numerical_gradient", *FUNCTIONS,
                               *LAYERS},
    "mnist": {"np", *MNIST_FUNCTIONS, *MNIST_CONSTANTS, "url_base", "key_file", "dataset_dir"},
}


def assert_compatible(where: str, func, expected) -> None:
    """``func`` accepts every call that a function with the ``expected`` parameters does."""
    params = [p for p in inspect.signature(func).parameters.values() if p.name != "self"]
    positional = (inspect.Parameter.POSITIONAL_OR_KEYWORD,)
    for i, (name, default, *same) in enumerate(expected):
        assert i < len(params), f"{where}: no parameter {name!r}"
        p = params[i]
        assert (p.name, p.kind in positional) == (name, True), \
            f"{where}: parameter {i} is {p.name!r} ({p.kind.description}), the book's {name!r}"
        if default is REQUIRED:
            assert p.default is inspect.Parameter.empty, f"{where}: {name} must be required"
        else:
            assert p.default in (default, *same) and type(p.default) in {
                type(d) for d in (default, *same)} | ({float} if type(default) is int else set()), \
                f"{where}: {name} defaults to {p.default!r}, the book's to {default!r}"
    for p in params[len(expected):]:
        assert p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is not p.empty, \
            f"{where}: added parameter {p.name!r} needs a default"


def module(book_name: str, shim: bool = False):
    return importlib.import_module(MODULES[book_name][shim])


@pytest.mark.parametrize("shim", [False, True], ids=["chainrule", "shim"])
@pytest.mark.parametrize("book_name, table", [("functions", FUNCTIONS), ("gradient", GRADIENT),
                                              ("util", UTIL), ("mnist", MNIST_FUNCTIONS)])
def test_functions(book_name, table, shim):
    mod = module(book_name, shim)
    for name, expected in table.items():
        assert callable(getattr(mod, name, None)), f"{mod.__name__} has no {name}"
        assert_compatible(f"{mod.__name__}.{name}", getattr(mod, name), expected)


@pytest.mark.parametrize("shim", [False, True], ids=["chainrule", "shim"])
def test_layers(shim):
    mod = module("layers", shim)
    conv = mod if shim else importlib.import_module("chainrule.core.conv")
    rng = np.random.default_rng(0)
    args = {"Affine": (rng.standard_normal((4, 3)), np.zeros(3)),
            "BatchNormalization": (np.ones(3), np.zeros(3)),
            "Convolution": (rng.standard_normal((2, 1, 2, 2)), np.zeros(2)),
            "Pooling": (2, 2)}
    for name, (init, methods, attributes) in LAYERS.items():
        cls = getattr(conv if name in CONV_LAYERS else mod, name)
        assert_compatible(f"{name}()", cls, init)
        for method, expected in methods.items():
            assert_compatible(f"{name}.{method}", getattr(cls, method), expected)
        layer = cls(*args.get(name, ()))
        if name == "SoftmaxWithLoss":
            layer.forward(rng.standard_normal((2, 3)), np.array([0, 2]))
        elif name in CONV_LAYERS:
            layer.forward(rng.standard_normal((2, 1, 4, 4)))
        elif name != "Affine":
            layer.forward(rng.standard_normal((2, 3)))
        missing = [a for a in attributes if not hasattr(layer, a)]
        assert not missing, f"{name} has no {missing}"


@pytest.mark.parametrize("shim", [False, True], ids=["chainrule", "shim"])
def test_optimizers(shim):
    mod = module("optimizer", shim)
    for name, (init, attributes) in OPTIMIZERS.items():
        cls = getattr(mod, name)
        assert_compatible(f"{name}()", cls, init)
        assert_compatible(f"{name}.update", cls.update, PARAMS_GRADS)
        opt = cls()
        opt.update({"w": np.ones(2)}, {"w": np.ones(2)})
        missing = [a for a in attributes if not hasattr(opt, a)]
        assert not missing, f"{name} has no {missing}"


@pytest.mark.parametrize("shim", [False, True], ids=["chainrule", "shim"])
def test_trainer(shim):
    cls = module("trainer", shim).Trainer
    assert_compatible("Trainer()", cls, TRAINER)
    assert_compatible("Trainer.train", cls.train, [])
    assert_compatible("Trainer.train_step", cls.train_step, [])
    from chainrule.nn.multilayer import MultiLayerNet

    x, t = np.zeros((4, 3)), np.array([0, 1, 0, 1])
    trainer = cls(MultiLayerNet(3, [2], 2, seed=0), x, t, x, t, mini_batch_size=2, verbose=False)
    missing = [a for a in TRAINER_ATTRIBUTES if not hasattr(trainer, a)]
    assert not missing, f"Trainer has no {missing}"


@pytest.mark.parametrize("shim", [False, True], ids=["chainrule", "shim"])
@pytest.mark.parametrize("book_name, cls_name, init, methods, kwargs", [
    ("multi_layer_net", "MultiLayerNet", NET, NET_METHODS, {}),
    ("multi_layer_net_extend", "MultiLayerNetExtend", NET_EXTEND, NET_EXTEND_METHODS,
     {"use_dropout": True, "use_batchnorm": True})])
def test_networks(book_name, cls_name, init, methods, kwargs, shim):
    cls = getattr(module(book_name, shim), cls_name)
    assert isinstance(cls, type)
    assert_compatible(f"{cls_name}()", cls, init)
    for method, expected in methods.items():
        assert_compatible(f"{cls_name}.{method}", getattr(cls, method), expected)
    net = cls(input_size=4, hidden_size_list=[3], output_size=2, **kwargs)
    assert isinstance(net, cls)
    attributes = NET_ATTRIBUTES + (["use_dropout", "use_batchnorm"] if kwargs else [])
    missing = [a for a in attributes if not hasattr(net, a)]
    assert not missing, f"{cls_name} has no {missing}"


@pytest.mark.parametrize("shim", [False, True], ids=["chainrule", "shim"])
def test_mnist_constants(shim):
    mod = module("mnist", shim)
    for name, value in MNIST_CONSTANTS.items():
        assert getattr(mod, name) == value
    assert mod.key_file == {"train_img": "train-images-idx3-ubyte.gz",
                            "train_label": "train-labels-idx1-ubyte.gz",
                            "test_img": "t10k-images-idx3-ubyte.gz",
                            "test_label": "t10k-labels-idx1-ubyte.gz"}
    assert mod.url_base.startswith("http") and mod.url_base.endswith("/")
    assert isinstance(mod.dataset_dir, str)


@pytest.mark.parametrize("book_name", sorted(STAR))
def test_star_imports_give_what_the_books_give(book_name):
    """``from common.<module> import *`` through the shim gives the book's names, ``np``
    included (``ch06/optimizer_compare_mnist.py`` uses ``np`` from the optimizer's)."""
    namespace: dict = {}
    exec(f"from {MODULES[book_name][1]} import *", namespace)  # noqa: S102 - a fixed name
    missing = STAR[book_name] - set(namespace)
    assert not missing, f"from common.{book_name} import * lacks {sorted(missing)}"
    assert namespace["np"] is np


@pytest.mark.parametrize("book_name", ["functions", "gradient", "util", "optimizer", "trainer",
                                       "mnist"])
def test_star_imports_of_chainrule_modules_leak_np_as_the_books(book_name):
    namespace: dict = {}
    exec(f"from {MODULES[book_name][0]} import *", namespace)  # noqa: S102 - a fixed name
    own = {n for n in STAR[book_name] if n in vars(module(book_name))}
    assert own - set(namespace) == set() and namespace["np"] is np


def test_the_compatibility_check_can_fail():
    def book(x, t, train_flg=False):
        pass

    def reordered(t, x, train_flg=False):
        pass

    def other_default(x, t, train_flg=True):
        pass

    def added_required(x, t, train_flg=False, *, k):
        pass

    expected = [("x", REQUIRED), ("t", REQUIRED), ("train_flg", False)]
    assert_compatible("book", book, expected)
    for bad in (reordered, other_default, added_required):
        with pytest.raises(AssertionError):
            assert_compatible(bad.__name__, bad, expected)
