"""Convolutional networks: the book's SimpleConvNet (chapter 7) and DeepConvNet (chapter 8).

Both have the book's attributes and methods (``params`` ``W1, b1, ...``, ``layers``,
``last_layer`` alias ``lastLayer``, ``predict``, ``loss``, ``accuracy(x, t,
batch_size=100)``, ``numerical_gradient``, ``gradient``, ``save_params`` /
``load_params``) plus what chainrule's trainer and files need (``config()`` /
``from_config``, ``astype``, ``dtype``, ``rng``, ``buffers``, ``input_dim``).

Inputs may be images ``(N, C, H, W)`` (the book's ``load_mnist(flatten=False)``), flat
rows ``(N, C * H * W)`` (``load_mnist()``, ``chainrule.data.load.load_data``), ``(N, H, W)``
for one channel, or a single image in any of those forms without ``N``.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from chainrule.core.conv import Convolution, Pooling
from chainrule.core.gradient import numerical_gradient
from chainrule.core.layers import Affine, Dropout, Relu, SoftmaxWithLoss
from chainrule.core.rng import copy_rng, make_rng
from chainrule.nn.convshapes import (
    activation_values,
    check_params,
    conv_param_value,
    conv_shape,
    expect_keys,
    input_dim_value,
    pool_shape,
    size_value,
)
from chainrule.nn.init import init_std
from chainrule.nn.network import accuracy_of, predict_in_chunks
from chainrule.store.npz import NpzError, read_npz, write_npz

BOOK_CONV_PARAM = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}
"""SimpleConvNet's default convolution (the book's ``conv_param``)."""

BOOK_DEEP_CONV_PARAMS = tuple(
    {"filter_num": n, "filter_size": 3, "pad": p, "stride": 1}
    for n, p in ((16, 1), (16, 1), (32, 1), (32, 2), (64, 1), (64, 1)))
"""DeepConvNet's six 3x3 convolutions (the book's ``conv_param_1`` .. ``conv_param_6``)."""


class _ConvNet:
    """What both networks share. A subclass gives ``_checked_config``, ``_weight_shapes``
    (from a config) and ``_make_layers``, which sets ``layers`` (the book's container),
    ``_layers`` (the same layers in order) and ``last_layer``."""

    chunk_size = 100
    """Rows per forward pass when predicting many (evaluations): bounded memory."""

    params: dict[str, np.ndarray]
    _layers: list
    _config: dict
    input_dim: tuple[int, int, int]
    rng: np.random.Generator

    def _build(self, config: dict, params: dict[str, np.ndarray],
               rng: np.random.Generator) -> None:
        check_params(type(self).__name__, params, self._weight_shapes(config))
        self._config, self.params, self.rng = config, params, rng
        self.input_dim = tuple(config["input_dim"])
        self._make_layers(config, params, rng)

    # -------------------------------------------------------------- description

    @classmethod
    def sizes(cls, config: Mapping) -> tuple[int, int, str]:
        """``(parameters, values per image, largest layer)`` of the network ``config``
        describes (as from :meth:`config`; checked), computed before anything is
        allocated: see :func:`~chainrule.nn.convshapes.activation_values`."""
        config = cls._checked_config(dict(config))
        shapes = cls._weight_shapes(config)
        params = sum(math.prod(s) + (s[0] if len(s) == 4 else s[1]) for s in shapes)
        per_image, largest = activation_values(tuple(config["input_dim"]),
                                               cls._convolutions(config), shapes)
        return params, per_image, largest

    @property
    def lastLayer(self) -> SoftmaxWithLoss:  # noqa: N802 - the book's chapter-5 name
        return self.last_layer

    @property
    def dtype(self) -> np.dtype:
        return self.params["W1"].dtype

    @property
    def input_size(self) -> int:
        """``C * H * W``: the length of a flat input row."""
        return math.prod(self.input_dim)

    def config(self) -> dict:
        """The architecture (JSON-able): see :meth:`from_config`."""
        return _json_copy(self._config)

    @classmethod
    def from_config(cls, config: Mapping, params: dict[str, np.ndarray],
                    buffers: Mapping[str, np.ndarray] | None = None, *, seed=None,
                    rng: np.random.Generator | None = None):
        """The network described by ``config`` (as from :meth:`config`) using ``params``
        by reference; ``rng``/``seed`` draw dropout masks. ``buffers`` must be empty."""
        if buffers:
            raise ValueError(f"{cls.__name__}: has no buffers, got {sorted(buffers)}")
        net = cls.__new__(cls)
        net._build(cls._checked_config(dict(config)), dict(params), make_rng(seed, rng))
        return net

    def astype(self, dtype):
        """A copy in ``dtype``: parameters, dropout masks and generator state."""
        net = type(self).from_config(self._config, {k: v.astype(dtype)
                                                    for k, v in self.params.items()},
                                     rng=copy_rng(self.rng))
        for mine, theirs in zip(self._layers, net._layers, strict=True):
            if isinstance(mine, Dropout):
                theirs.fix_mask = mine.fix_mask
                theirs.mask = None if mine.mask is None else mine.mask.copy()
        return net

    def buffers(self) -> dict[str, np.ndarray]:
        """Non-trained state to save with the parameters: none."""
        return {}

    def load_buffers(self, buffers: Mapping[str, np.ndarray]) -> None:
        if buffers:
            raise ValueError(f"{type(self).__name__}: has no buffers, got {sorted(buffers)}")

    # -------------------------------------------------------------- the book's methods

    def predict(self, x, train_flg: bool = False):
        """Scores before softmax; ``train_flg`` turns dropout on (DeepConvNet)."""
        x, single = self._as_images(x)
        for layer in _pooled_first(self._layers):
            x = layer.forward(x, train_flg) if isinstance(layer, Dropout) else layer.forward(x)
        return x[0] if single else x

    def loss(self, x, t, train_flg: bool = True) -> float:
        """Cross-entropy of ``predict(x, train_flg)`` against ``t`` (training mode, as in
        the book, unless told otherwise)."""
        return self.last_layer.forward(self.predict(x, train_flg), t)

    def accuracy(self, x, t, batch_size: int = 100) -> float:
        """Share of correct predictions, ``batch_size`` images at a time (all of them:
        the book's version skips a last, partial batch)."""
        return accuracy_of(predict_in_chunks(self.predict, x, batch_size), t)

    def numerical_gradient(self, x, t) -> dict[str, np.ndarray]:
        """Gradients of ``loss(x, t)`` by central differences (slow), inside
        :meth:`deterministic` (one dropout mask)."""
        with self.deterministic():
            loss_w = lambda _w: self.loss(x, t)  # noqa: E731 - the book's spelling
            return {k: numerical_gradient(loss_w, p) for k, p in self.params.items()}

    def gradient(self, x, t) -> dict[str, np.ndarray]:
        """Gradients of the training-mode ``loss(x, t)`` by backpropagation."""
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        first, *rest = _pooled_first(self._layers)
        for layer in reversed(rest):
            dout = layer.backward(dout)
        first.backward(dout, input_grad=False)  # its dx would be thrown away
        grads = {}
        for i, layer in enumerate(self._weighted(), 1):
            grads[f"W{i}"], grads[f"b{i}"] = layer.dW, layer.db
        return grads

    def save_params(self, file_name: str | os.PathLike = "params.npz") -> None:
        """Write ``params`` to ``file_name`` as an ``.npz`` archive (never pickle; the name
        is used as given, so the book's ``save_params("params.pkl")`` works too)."""
        write_npz(file_name, self.params)

    def load_params(self, file_name: str | os.PathLike = "params.npz") -> None:
        """Copy the arrays saved by :meth:`save_params` into ``params`` (in place, so the
        layers see them). Names and shapes must match; a pickle file is refused."""
        try:  # sizes checked before anything is read, as for every file from a stranger
            arrays = read_npz(file_name, accept=lambda key: True,
                              kind="archive of parameters")
        except NpzError as exc:
            raise ValueError(f"{exc}; chainrule never loads pickle files") from None
        name = type(self).__name__
        if set(arrays) != set(self.params):
            raise ValueError(f"{name}.load_params: {file_name} holds {sorted(arrays)}, "
                             f"expected {sorted(self.params)}")
        for k, p in self.params.items():
            if arrays[k].shape != p.shape or not np.issubdtype(arrays[k].dtype, np.number):
                raise ValueError(f"{name}.load_params: {k} in {file_name} is "
                                 f"{arrays[k].dtype} {arrays[k].shape}, expected {p.shape}")
        for k, p in self.params.items():
            np.copyto(p, arrays[k], casting="unsafe")

    # -------------------------------------------------------------- modes

    @contextlib.contextmanager
    def deterministic(self) -> Iterator:
        """Within the block every Dropout layer keeps the first mask it draws, so
        ``loss`` is a fixed function of the parameters (what a gradient check needs);
        afterwards the masks and the generator's state are as before."""
        saved_rng = self.rng.bit_generator.state
        dropouts = [layer for layer in self._layers if isinstance(layer, Dropout)]
        saved = [(d.fix_mask, d.mask) for d in dropouts]
        for d in dropouts:
            if not d.fix_mask:
                d.mask = None
            d.fix_mask = True
        try:
            yield self
        finally:
            self.rng.bit_generator.state = saved_rng
            for d, (fix, mask) in zip(dropouts, saved, strict=True):
                d.fix_mask, d.mask = fix, mask

    # -------------------------------------------------------------- helpers

    def _weighted(self) -> list:
        """The layers holding ``W{i}``, ``b{i}``, in order."""
        return [layer for layer in self._layers if isinstance(layer, (Convolution, Affine))]

    def _as_images(self, x) -> tuple[np.ndarray, bool]:
        """``x`` as ``(N, C, H, W)`` in a floating dtype, and whether it was one sample."""
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(self.dtype)
        c, h, w = dim = self.input_dim
        shape = x.shape
        if shape == dim or shape == (c * h * w,) or (c == 1 and shape == (h, w)):
            return x.reshape(1, *dim), True
        if x.ndim >= 2 and (shape[1:] in (dim, (c * h * w,)) or (c == 1 and shape[1:] == (h, w))):
            return x.reshape(len(x), *dim), False
        raise ValueError(f"{type(self).__name__}.predict: expected images of shape "
                         f"(N, {c}, {h}, {w}) or rows (N, {c * h * w}), got {shape}")


class SimpleConvNet(_ConvNet):
    """conv - relu - pool - affine - relu - affine - softmax, the book's chapter-7 network.

    ``Conv1`` has ``conv_param['filter_num']`` filters of ``filter_size`` squared (with
    ``pad`` and ``stride``), ``Pool1`` is 2x2 max pooling with stride 2, ``Affine1``
    has ``hidden_size`` outputs, ``Affine2`` ``output_size``. ``W1, W2, W3 ~ std *
    N(0, 1)`` (``weight_init_std`` 0.01 as in the book; ``"he"`` or ``"xavier"`` scale
    each by its fan-in), ``b = 0``; drawn from ``rng`` (or one made from ``seed``) in
    float64 and stored in ``dtype``.
    """

    def __init__(self, input_dim: Sequence[int] = (1, 28, 28),
                 conv_param: Mapping | None = None, hidden_size: int = 100,
                 output_size: int = 10, weight_init_std: float | str = 0.01, *,
                 dtype=np.float64, seed=None, rng: np.random.Generator | None = None):
        config = self._checked_config({
            "class": "SimpleConvNet", "input_dim": input_dim,
            "conv_param": dict(BOOK_CONV_PARAM if conv_param is None else conv_param),
            "hidden_size": hidden_size, "output_size": output_size})
        rng = make_rng(seed, rng)
        self._build(config, _drawn(self._weight_shapes(config), weight_init_std, rng, dtype), rng)

    @staticmethod
    def _weight_shapes(config: dict) -> list[tuple[int, ...]]:
        c, h, w = config["input_dim"]
        p = config["conv_param"]
        conv = conv_shape((c, h, w), p, "conv_param")
        pooled = pool_shape(conv)
        return [(p["filter_num"], c, p["filter_size"], p["filter_size"]),
                (math.prod(pooled), config["hidden_size"]),
                (config["hidden_size"], config["output_size"])]

    @staticmethod
    def _convolutions(config: dict) -> list[tuple[dict, bool]]:
        """Each convolution's parameters, and whether pooling follows it."""
        return [(config["conv_param"], True)]

    @classmethod
    def _checked_config(cls, config: dict) -> dict:
        expect_keys(config, ("class", "input_dim", "conv_param", "hidden_size", "output_size"),
                     "SimpleConvNet")
        out = {"class": "SimpleConvNet", "input_dim": input_dim_value(config["input_dim"]),
               "conv_param": conv_param_value(config["conv_param"], "conv_param"),
               "hidden_size": size_value(config["hidden_size"], "hidden_size"),
               "output_size": size_value(config["output_size"], "output_size")}
        cls._weight_shapes(out)  # the filter must fit the image
        return out

    def _make_layers(self, config: dict, params: dict[str, np.ndarray],
                     rng: np.random.Generator) -> None:
        p = config["conv_param"]
        self.layers = OrderedDict()
        self.layers["Conv1"] = Convolution(params["W1"], params["b1"], p["stride"], p["pad"])
        self.layers["Relu1"] = Relu()
        self.layers["Pool1"] = Pooling(pool_h=2, pool_w=2, stride=2)
        self.layers["Affine1"] = Affine(params["W2"], params["b2"])
        self.layers["Relu2"] = Relu()
        self.layers["Affine2"] = Affine(params["W3"], params["b3"])
        self._layers = list(self.layers.values())
        self.last_layer = SoftmaxWithLoss()


class DeepConvNet(_ConvNet):
    """The book's chapter-8 network, 99%+ on MNIST::

        conv - relu - conv - relu - pool -
        conv - relu - conv - relu - pool -
        conv - relu - conv - relu - pool -
        affine - relu - dropout - affine - dropout - softmax

    with the six convolutions ``conv_param_1`` .. ``conv_param_6`` (3x3; 16, 16, 32, 32,
    64, 64 filters) and 2x2 max pooling with stride 2. He initialisation:
    ``W ~ sqrt(2 / fan_in) * N(0, 1)``, ``b = 0``, drawn from ``rng`` (or one made from
    ``seed``) in float64 and stored in ``dtype``; the same generator then draws the
    dropout masks (``dropout_ratio``, 0.5 as in the book; the book's Dropout, not the
    inverted one: a prediction multiplies by ``1 - dropout_ratio`` where training drew a
    mask). ``layers`` is a list, as in the book.
    """

    def __init__(self, input_dim: Sequence[int] = (1, 28, 28),
                 conv_param_1: Mapping | None = None, conv_param_2: Mapping | None = None,
                 conv_param_3: Mapping | None = None, conv_param_4: Mapping | None = None,
                 conv_param_5: Mapping | None = None, conv_param_6: Mapping | None = None,
                 hidden_size: int = 50, output_size: int = 10, *,
                 dropout_ratio: float = 0.5, weight_init_std: float | str = "he",
                 dtype=np.float64, seed=None, rng: np.random.Generator | None = None):
        given = (conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5,
                 conv_param_6)
        config = self._checked_config({
            "class": "DeepConvNet", "input_dim": input_dim,
            "conv_params": [dict(book if p is None else p)
                            for p, book in zip(given, BOOK_DEEP_CONV_PARAMS, strict=True)],
            "hidden_size": hidden_size, "output_size": output_size,
            "dropout_ratio": dropout_ratio})
        rng = make_rng(seed, rng)
        self._build(config, _drawn(self._weight_shapes(config), weight_init_std, rng, dtype), rng)

    @staticmethod
    def _weight_shapes(config: dict) -> list[tuple[int, ...]]:
        shape = tuple(config["input_dim"])
        shapes = []
        for i, p in enumerate(config["conv_params"]):
            shapes.append((p["filter_num"], shape[0], p["filter_size"], p["filter_size"]))
            shape = conv_shape(shape, p, f"conv_param_{i + 1}")
            if i % 2 == 1:
                shape = pool_shape(shape)
        hidden, output = config["hidden_size"], config["output_size"]
        return [*shapes, (math.prod(shape), hidden), (hidden, output)]

    @staticmethod
    def _convolutions(config: dict) -> list[tuple[dict, bool]]:
        """Each convolution's parameters, and whether pooling follows it."""
        return [(p, i % 2 == 1) for i, p in enumerate(config["conv_params"])]

    @classmethod
    def _checked_config(cls, config: dict) -> dict:
        expect_keys(config, ("class", "input_dim", "conv_params", "hidden_size", "output_size",
                              "dropout_ratio"), "DeepConvNet")
        params = config["conv_params"]
        if not isinstance(params, (list, tuple)) or len(params) != 6:
            raise ValueError(f"DeepConvNet: conv_params must be a list of 6, got {params!r}")
        ratio = config["dropout_ratio"]
        if not (isinstance(ratio, (int, float, np.floating)) and not isinstance(ratio, bool)
                and 0 <= ratio < 1):
            raise ValueError(f"DeepConvNet: dropout_ratio must be in [0, 1), got {ratio!r}")
        out = {"class": "DeepConvNet", "input_dim": input_dim_value(config["input_dim"]),
               "conv_params": [conv_param_value(p, f"conv_param_{i}") for i, p in
                               enumerate(params, 1)],
               "hidden_size": size_value(config["hidden_size"], "hidden_size"),
               "output_size": size_value(config["output_size"], "output_size"),
               "dropout_ratio": float(ratio)}
        cls._weight_shapes(out)  # every window must fit
        return out

    def _make_layers(self, config: dict, params: dict[str, np.ndarray],
                     rng: np.random.Generator) -> None:
        self.dropout_ratio = config["dropout_ratio"]
        self.layers = []
        for i, p in enumerate(config["conv_params"], 1):
            self.layers += [Convolution(params[f"W{i}"], params[f"b{i}"], p["stride"], p["pad"]),
                            Relu()]
            if i % 2 == 0:
                self.layers.append(Pooling(pool_h=2, pool_w=2, stride=2))
        self.layers += [Affine(params["W7"], params["b7"]), Relu(),
                        Dropout(self.dropout_ratio, rng=rng),
                        Affine(params["W8"], params["b8"]),
                        Dropout(self.dropout_ratio, rng=rng)]
        self._layers = self.layers
        self.last_layer = SoftmaxWithLoss()


def _pooled_first(layers: Sequence) -> list:
    """``layers`` in the order they run: a ReLU followed by max pooling runs after it.

    ``pool(relu(x)) == relu(pool(x))`` bit for bit (max commutes with ``max(., 0)``),
    and the gradient reaching ``x`` is the same: ``dout`` at each window's first
    maximum, times ``x > 0`` there (where a window's maximum is not positive, ReLU's
    zeros make both orders pass nothing back). The ReLU then sees a quarter of the
    values, in both directions. (Only the layers' own records differ: the ReLU's
    ``mask`` has the pooled shape, and a window with no positive value keeps the
    position of its largest value, not of its first zero.)"""
    order = list(layers)
    for i in range(len(order) - 1):
        if type(order[i]) is Relu and type(order[i + 1]) is Pooling:
            order[i], order[i + 1] = order[i + 1], order[i]
    return order


# ---------------------------------------------------------------- weights


def _drawn(shapes: list[tuple[int, ...]], weight_init_std, rng, dtype) -> dict[str, np.ndarray]:
    """``W{i} ~ std * N(0, 1)`` (std from :func:`~chainrule.nn.init.init_std` and the fan-in)
    and ``b{i} = 0`` for the weight shapes in order, drawn in float64, stored in ``dtype``."""
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating type, got {dtype}")
    params = {}
    for i, shape in enumerate(shapes, 1):
        fan_in = math.prod(shape[1:]) if len(shape) == 4 else shape[0]
        params[f"W{i}"] = (init_std(weight_init_std, fan_in) * rng.standard_normal(shape)
                           ).astype(dtype)
        params[f"b{i}"] = np.zeros(shape[0] if len(shape) == 4 else shape[1], dtype=dtype)
    return params


def _json_copy(config: dict) -> dict:
    out = {}
    for k, v in config.items():
        if isinstance(v, list):
            v = [dict(x) if isinstance(x, dict) else x for x in v]
        elif isinstance(v, dict):
            v = dict(v)
        out[k] = v
    return out
