"""Chapter 6's networks of any depth: :class:`MultiLayerNet` and the book's
:class:`MultiLayerNetExtend` (batch norm, dropout, weight decay)."""

from __future__ import annotations

import contextlib
import math
import numbers
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from chainrule.core.gradient import numerical_gradient
from chainrule.core.layers import (
    Affine,
    BatchNormalization,
    Dropout,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
)
from chainrule.core.rng import copy_rng, make_rng
from chainrule.nn.init import init_std
from chainrule.nn.network import accuracy_of, predict_in_chunks

ACTIVATIONS = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}
"""The hidden-layer activations of :class:`MultiLayerNet`, by name."""

class MultiLayerNet:
    """A fully connected network of any depth, chapter 6's ``MultiLayerNet(Extend)``.

    Layers, for ``i = 1 .. n - 1`` (``n = len(hidden_size_list) + 1``)::

        Affine{i} -> [BatchNorm{i}] -> Activation_function{i} -> [Dropout{i}]

    then ``Affine{n}`` and ``lastLayer`` (SoftmaxWithLoss). Parameters ``W{i}``, ``b{i}``
    (and ``gamma{i}``, ``beta{i}`` with batch norm) live in ``params`` and are used by
    the layers by reference. ``W{i} ~ std * N(0, 1)`` with ``std`` from :func:`init_std`,
    ``b{i} = beta{i} = 0``, ``gamma{i} = 1``; drawn from ``rng`` (or a generator made
    from ``seed``; with neither, NumPy's global state: ``np.random.randn``, as the book)
    in float64 and stored in ``dtype``. The same source, kept as ``self.rng``, then
    draws the dropout masks.

    Dropout is inverted (``Dropout(inverted=True)``: scaled by ``1 / (1 - ratio)`` in
    training, nothing in eval) unless ``inverted_dropout=False``, which scales at test
    time as the book does (what :class:`MultiLayerNetExtend` uses).

    ``loss = cross_entropy + 0.5 * weight_decay_lambda * sum(W{i}**2)`` (biases, gamma
    and beta are not decayed), so ``gradient`` adds ``weight_decay_lambda * W{i}``.

    Modes: ``gradient`` always runs in training mode (batch statistics, fresh dropout
    masks) and ``accuracy`` in eval mode (running statistics, no dropout). ``predict``
    and ``loss`` take the book's ``train_flg``; left out it is ``self.train_flg``
    (False, eval, unless inside :meth:`deterministic`).

    Besides ``params``, a saved network needs its **buffers** (the batch-norm running
    statistics, :meth:`buffers`) to predict as it did; resuming its training exactly
    also needs the state of ``self.rng`` (``net.rng.bit_generator.state``).
    """

    _CLASS = "MultiLayerNet"  # the "class" of config()
    chunk_size = None  # predicts any number of rows at once
    input_dim = None  # flat rows

    def __init__(self, input_size: int, hidden_size_list: Sequence[int], output_size: int,
                 activation: str = "relu", weight_init_std: str | float = "he",
                 weight_decay_lambda: float = 0.0, dropout_ratio: float = 0.0,
                 use_batchnorm: bool = False, *, inverted_dropout: bool = True,
                 dtype=np.float64, seed=None, rng: np.random.Generator | None = None):
        config = _checked_config({
            "class": self._CLASS, "input_size": input_size,
            "hidden_size_list": hidden_size_list, "output_size": output_size,
            "activation": activation, "weight_decay_lambda": weight_decay_lambda,
            "dropout_ratio": dropout_ratio, "use_batchnorm": use_batchnorm,
            "inverted_dropout": inverted_dropout})
        rng = make_rng(seed, rng)
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise ValueError(f"MultiLayerNet: dtype must be a floating type, got {dtype}")
        sizes = _sizes(config)
        params = {}
        for i in range(1, len(sizes)):
            std = init_std(weight_init_std, sizes[i - 1])
            params[f"W{i}"] = (std * rng.standard_normal(sizes[i - 1:i + 1])).astype(dtype)
            params[f"b{i}"] = np.zeros(sizes[i], dtype=dtype)
            if use_batchnorm and i < len(sizes) - 1:
                params[f"gamma{i}"] = np.ones(sizes[i], dtype=dtype)
                params[f"beta{i}"] = np.zeros(sizes[i], dtype=dtype)
        self._build(config, params, None, rng)

    # -------------------------------------------------------------- building

    def _build(self, config: dict, params: dict[str, np.ndarray],
               buffers: Mapping[str, np.ndarray] | None, rng: np.random.Generator) -> None:
        _check_params(config, params)
        self._config = config
        self.params = params
        self.rng = rng
        self.input_size, self.output_size = config["input_size"], config["output_size"]
        self.hidden_size_list = list(config["hidden_size_list"])
        self.hidden_layer_num = len(self.hidden_size_list)
        self.activation = config["activation"]
        self.weight_decay_lambda = config["weight_decay_lambda"]
        self.dropout_ratio = config["dropout_ratio"]
        self.use_dropout = self.dropout_ratio > 0
        self.inverted_dropout = config.get("inverted_dropout", True)
        self.use_batchnorm = config["use_batchnorm"]
        self.train_flg = False
        dtype = params["W1"].dtype
        self._buffers: dict[str, np.ndarray] = {}
        self.layers = OrderedDict()
        n = self.hidden_layer_num + 1
        for i in range(1, n + 1):
            self.layers[f"Affine{i}"] = Affine(params[f"W{i}"], params[f"b{i}"])
            if i == n:
                break
            if self.use_batchnorm:
                d = self.hidden_size_list[i - 1]
                mean = self._buffers[f"running_mean{i}"] = np.zeros(d, dtype=dtype)
                var = self._buffers[f"running_var{i}"] = np.ones(d, dtype=dtype)
                self.layers[f"BatchNorm{i}"] = BatchNormalization(
                    params[f"gamma{i}"], params[f"beta{i}"], running_mean=mean, running_var=var)
            self.layers[f"Activation_function{i}"] = ACTIVATIONS[self.activation]()
            if self.use_dropout:
                self.layers[f"Dropout{i}"] = Dropout(self.dropout_ratio,
                                                       inverted=self.inverted_dropout, rng=rng)
        self.lastLayer = SoftmaxWithLoss()
        if buffers is not None:
            self.load_buffers(buffers)

    @classmethod
    def from_config(cls, config: Mapping, params: dict[str, np.ndarray],
                    buffers: Mapping[str, np.ndarray] | None = None, *, seed=None,
                    rng: np.random.Generator | None = None) -> MultiLayerNet:
        """The network described by ``config`` (as from :meth:`config`) using ``params``
        by reference; ``buffers`` (as from :meth:`buffers`) are copied in if given, else
        the running statistics start at 0 and 1. ``rng``/``seed`` draw dropout masks."""
        net = cls.__new__(cls)
        net._build(_checked_config(dict(config)), dict(params), buffers, make_rng(seed, rng))
        return net

    @classmethod
    def from_params(cls, params: dict[str, np.ndarray], *, activation: str = "relu",
                    weight_decay_lambda: float = 0.0, dropout_ratio: float = 0.0,
                    buffers: Mapping[str, np.ndarray] | None = None, seed=None,
                    rng: np.random.Generator | None = None,
                    inverted_dropout: bool = True) -> MultiLayerNet:
        """A network using ``params`` by reference; the sizes (and batch norm) are read
        from the arrays, the rest is given."""
        n = sum(1 for k in params if k.startswith("W"))
        if n == 0 or any(f"W{i}" not in params or np.ndim(params[f"W{i}"]) != 2
                         for i in range(1, n + 1)):
            raise ValueError(f"MultiLayerNet: expected 2-D weights W1..W{n}, got "
                             f"{sorted(k for k in params if k.startswith('W'))}")
        config = {"class": cls._CLASS, "input_size": int(params["W1"].shape[0]),
                  "hidden_size_list": [int(params[f"W{i}"].shape[1]) for i in range(1, n)],
                  "output_size": int(params[f"W{n}"].shape[1]),
                  "activation": activation, "weight_decay_lambda": weight_decay_lambda,
                  "dropout_ratio": dropout_ratio, "use_batchnorm": "gamma1" in params,
                  "inverted_dropout": inverted_dropout}
        return cls.from_config(config, params, buffers, seed=seed, rng=rng)

    def config(self) -> dict:
        """The architecture and the loss's settings (JSON-able): see :meth:`from_config`."""
        return {**self._config, "hidden_size_list": list(self._config["hidden_size_list"])}

    @property
    def dtype(self) -> np.dtype:
        return self.params["W1"].dtype

    @property
    def last_layer(self) -> SoftmaxWithLoss:
        """The book's chapter-6 name for ``lastLayer``."""
        return self.lastLayer

    def buffers(self) -> dict[str, np.ndarray]:
        """The batch-norm running statistics, ``running_mean{i}`` and ``running_var{i}``:
        the live arrays (copy them for a snapshot); empty without batch norm."""
        return dict(self._buffers)

    def load_buffers(self, buffers: Mapping[str, np.ndarray]) -> None:
        """Copy ``buffers`` (as from :meth:`buffers`, any float dtype) into this network's."""
        if set(buffers) != set(self._buffers):
            raise ValueError(f"MultiLayerNet: expected buffers {sorted(self._buffers)}, "
                             f"got {sorted(buffers)}")
        for k, b in self._buffers.items():
            given = np.asarray(buffers[k])
            _shape_ok(f"buffer {k}", b.shape, given)
            np.copyto(b, given, casting="same_kind")

    def astype(self, dtype) -> MultiLayerNet:
        """A copy in ``dtype``: parameters, buffers, mode, dropout masks and generator state."""
        net = type(self).from_config(
            self.config(), {k: v.astype(dtype) for k, v in self.params.items()},
            {k: v.astype(dtype) for k, v in self._buffers.items()}, rng=copy_rng(self.rng))
        net.train_flg = self.train_flg
        for name, layer in self.layers.items():
            if isinstance(layer, Dropout):
                copy = net.layers[name]
                copy.fix_mask = layer.fix_mask
                copy.mask = None if layer.mask is None else layer.mask.copy()
        return net

    # -------------------------------------------------------------- modes

    @contextlib.contextmanager
    def deterministic(self) -> Iterator[MultiLayerNet]:
        """Training-mode passes that are a fixed function of the parameters.

        Inside the block ``predict``/``loss`` default to training mode, as ``gradient``
        runs, and every Dropout layer keeps the first mask it draws. On exit the mode,
        the batch-norm running statistics and the generator's state are put back, so
        the block leaves no trace. This is what a gradient check needs::

            with net.deterministic():
                assert gradient_check(net, x, t).passed
        """
        saved_flag, saved_rng = self.train_flg, self.rng.bit_generator.state
        saved_buffers = {k: b.copy() for k, b in self._buffers.items()}
        dropouts = [layer for layer in self.layers.values() if isinstance(layer, Dropout)]
        saved_fix = [(d.fix_mask, d.mask) for d in dropouts]
        self.train_flg = True
        for d in dropouts:
            if not d.fix_mask:  # not already inside a block: draw a new mask
                d.mask = None
            d.fix_mask = True
        try:
            yield self
        finally:
            self.train_flg = saved_flag
            self.rng.bit_generator.state = saved_rng
            for k, b in self._buffers.items():
                np.copyto(b, saved_buffers[k])
            for d, (fix, mask) in zip(dropouts, saved_fix, strict=True):
                d.fix_mask, d.mask = fix, mask

    # -------------------------------------------------------------- the book's methods

    def predict(self, x, train_flg: bool | None = None):
        """Scores before softmax; ``train_flg`` picks the mode (None: ``self.train_flg``)."""
        if train_flg is None:
            train_flg = self.train_flg
        for layer in self.layers.values():
            if isinstance(layer, (Dropout, BatchNormalization)):
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    def loss(self, x, t, train_flg: bool | None = None) -> float:
        """``cross_entropy + 0.5 * weight_decay_lambda * sum(W**2)``."""
        loss = self.lastLayer.forward(self.predict(x, train_flg), t)
        lam = self.weight_decay_lambda
        if lam:
            n = self.hidden_layer_num + 1
            loss += 0.5 * lam * sum(float(np.sum(W * W)) for W in
                                    (self.params[f"W{i}"] for i in range(1, n + 1)))
        return loss

    def accuracy(self, x, t, *, batch_size: int | None = 10000) -> float:
        """Share of correct predictions in eval mode, ``batch_size`` rows at a time."""
        return accuracy_of(predict_in_chunks(lambda xs: self.predict(xs, False), x,
                                             batch_size), t)

    def numerical_gradient(self, x, t) -> dict[str, np.ndarray]:
        """Gradients of the training-mode ``loss(x, t)`` by central differences (slow),
        computed inside :meth:`deterministic` (so with one dropout mask)."""
        with self.deterministic():
            loss_w = lambda _w: self.loss(x, t, train_flg=True)  # noqa: E731 - the book's
            return {k: numerical_gradient(loss_w, p) for k, p in self.params.items()}

    def gradient(self, x, t) -> dict[str, np.ndarray]:
        """Gradients of the training-mode ``loss(x, t)`` by backpropagation;
        ``dW{i} += weight_decay_lambda * W{i}``."""
        self.loss(x, t, train_flg=True)
        dout = self.lastLayer.backward(1)
        first, *rest = self.layers.values()
        for layer in reversed(rest):
            dout = layer.backward(dout)
        first.backward(dout, input_grad=False)  # its dx would be thrown away
        lam = self.weight_decay_lambda
        grads = {}
        for i in range(1, self.hidden_layer_num + 2):
            affine = self.layers[f"Affine{i}"]
            grads[f"W{i}"] = affine.dW + lam * affine.W if lam else affine.dW
            grads[f"b{i}"] = affine.db
            if self.use_batchnorm and i <= self.hidden_layer_num:
                bn = self.layers[f"BatchNorm{i}"]
                grads[f"gamma{i}"], grads[f"beta{i}"] = bn.dgamma, bn.dbeta
        return grads


class MultiLayerNetExtend(MultiLayerNet):
    """The book's ``MultiLayerNetExtend``: its signature (the spelling ``dropout_ration``
    included) and its dropout, scaled at test time (``inverted_dropout=False``).

    Its batch-norm running variances start at 0, as the book's (``MultiLayerNet``'s at
    1): after ``n`` steps they hold ``1 - 0.9**n`` of the batches' variance, where 1
    would swamp the tiny variances of a network initialised with small weights and
    spoil its eval-mode accuracy for hundreds of steps (the book's figure 6-18).
    A :class:`MultiLayerNet` in every other respect; ``use_dropout=False`` (the
    default) means no Dropout layers, whatever ``dropout_ration`` says.
    """

    _CLASS = "MultiLayerNetExtend"

    def __init__(self, input_size: int, hidden_size_list: Sequence[int], output_size: int,
                 activation: str = "relu", weight_init_std: str | float = "relu",
                 weight_decay_lambda: float = 0.0, use_dropout: bool = False,
                 dropout_ration: float = 0.5, use_batchnorm: bool = False, *,
                 dtype=np.float64, seed=None, rng: np.random.Generator | None = None):
        super().__init__(input_size, hidden_size_list, output_size, activation,
                         weight_init_std, weight_decay_lambda,
                         dropout_ration if use_dropout else 0.0, use_batchnorm,
                         inverted_dropout=False, dtype=dtype, seed=seed, rng=rng)
        for name, buffer in self._buffers.items():
            if name.startswith("running_var"):
                buffer[...] = 0  # the book's start: eval mode tracks the batches from step 1


_CONFIG_KEYS = ("class", "input_size", "hidden_size_list", "output_size", "activation",
                "weight_decay_lambda", "dropout_ratio", "use_batchnorm")
_OPTIONAL_KEYS = {"inverted_dropout": True}  # left out of config() when at this default
_CLASSES = ("MultiLayerNet", "MultiLayerNetExtend")


def _is_size(n) -> bool:
    return isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0


def _checked_config(config: dict) -> dict:
    """``config`` validated and normalised to JSON types; raises ``ValueError``."""
    missing = [k for k in _CONFIG_KEYS if k not in config]
    extra = [k for k in config if k not in _CONFIG_KEYS and k not in _OPTIONAL_KEYS]
    if missing or extra or config["class"] not in _CLASSES:
        raise ValueError(f"MultiLayerNet: bad config (class {config.get('class')!r}, missing "
                         f"{missing}, unknown {extra})")
    hidden = config["hidden_size_list"]
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise ValueError(f"MultiLayerNet: hidden_size_list must be a list of sizes, got {hidden!r}")
    for what in ("input_size", "output_size"):
        if not _is_size(config[what]):
            raise ValueError(f"MultiLayerNet: {what} must be a positive integer, "
                             f"got {config[what]!r}")
    if not all(_is_size(n) for n in hidden):
        raise ValueError(f"MultiLayerNet: hidden sizes must be positive integers, got {hidden}")
    if config["activation"] not in ACTIVATIONS:
        raise ValueError(f"MultiLayerNet: activation must be one of {', '.join(ACTIVATIONS)}, "
                         f"got {config['activation']!r}")
    lam, ratio = config["weight_decay_lambda"], config["dropout_ratio"]
    if not (isinstance(lam, numbers.Real) and math.isfinite(lam) and lam >= 0):
        raise ValueError(f"MultiLayerNet: weight_decay_lambda must be >= 0, got {lam!r}")
    if not (isinstance(ratio, numbers.Real) and 0 <= ratio < 1):
        raise ValueError(f"MultiLayerNet: dropout_ratio must be in [0, 1), got {ratio!r}")
    if not isinstance(config["use_batchnorm"], (bool, np.bool_)):
        raise ValueError(f"MultiLayerNet: use_batchnorm must be true or false, "
                         f"got {config['use_batchnorm']!r}")
    inverted = config.get("inverted_dropout", True)
    if not isinstance(inverted, (bool, np.bool_)):
        raise ValueError(f"MultiLayerNet: inverted_dropout must be true or false, "
                         f"got {inverted!r}")
    return {"class": config["class"], "input_size": int(config["input_size"]),
            "hidden_size_list": [int(n) for n in hidden], "output_size": int(config["output_size"]),
            "activation": config["activation"], "weight_decay_lambda": float(lam),
            "dropout_ratio": float(ratio), "use_batchnorm": bool(config["use_batchnorm"]),
            **({} if inverted else {"inverted_dropout": False})}


def _sizes(config: dict) -> list[int]:
    return [config["input_size"], *config["hidden_size_list"], config["output_size"]]


def _shape_ok(what: str, expected: tuple, given: np.ndarray) -> None:
    if tuple(given.shape) != tuple(expected):
        raise ValueError(f"MultiLayerNet: {what}: expected shape {tuple(expected)}, "
                         f"got {tuple(given.shape)}")


def _check_params(config: dict, params: Mapping[str, np.ndarray]) -> None:
    sizes = _sizes(config)
    expected = {}
    for i in range(1, len(sizes)):
        expected[f"W{i}"], expected[f"b{i}"] = (sizes[i - 1], sizes[i]), (sizes[i],)
        if config["use_batchnorm"] and i < len(sizes) - 1:
            expected[f"gamma{i}"] = expected[f"beta{i}"] = (sizes[i],)
    if set(params) != set(expected):
        raise ValueError(f"MultiLayerNet: expected parameters {sorted(expected)}, "
                         f"got {sorted(params)}")
    dtypes = {np.asarray(p).dtype for p in params.values()}
    if len(dtypes) != 1 or not np.issubdtype(next(iter(dtypes)), np.floating):
        raise ValueError(f"MultiLayerNet: parameters must share one floating dtype, got "
                         f"{sorted(str(d) for d in dtypes)}")
    for k, shape in expected.items():
        if not isinstance(params[k], np.ndarray):
            raise ValueError(f"MultiLayerNet: parameter {k} must be a numpy array")
        _shape_ok(f"parameter {k}", shape, params[k])
