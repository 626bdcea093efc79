"""The book's chapter-5 network: :class:`TwoLayerNet`, Affine -> ReLU -> Affine -> Softmax."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from chainrule.core.gradient import numerical_gradient
from chainrule.core.layers import Affine, Relu, SoftmaxWithLoss
from chainrule.core.rng import make_rng
from chainrule.nn.network import accuracy_of, predict_in_chunks


class TwoLayerNet:
    """Affine -> ReLU -> Affine -> SoftmaxWithLoss, as in the book's chapter 5.

    ``W1, W2 ~ weight_init_std * N(0, 1)`` and ``b1, b2 = 0``, drawn from ``rng`` (or a
    generator made from ``seed``) in float64 and stored in ``dtype``.
    """

    chunk_size = None  # predicts any number of rows at once
    input_dim = None  # flat rows
    rng = None  # draws nothing after it is made

    def __init__(self, input_size: int, hidden_size: int, output_size: int,
                 weight_init_std: float = 0.01, *, dtype=np.float64, seed=None,
                 rng: np.random.Generator | None = None):
        rng = make_rng(seed, rng)
        dtype = np.dtype(dtype)
        params = {
            "W1": weight_init_std * rng.standard_normal((input_size, hidden_size)),
            "b1": np.zeros(hidden_size),
            "W2": weight_init_std * rng.standard_normal((hidden_size, output_size)),
            "b2": np.zeros(output_size),
        }
        self._build({k: v.astype(dtype) for k, v in params.items()})

    def _build(self, params: dict[str, np.ndarray]) -> None:
        self.params = params
        self.layers = OrderedDict()
        self.layers["Affine1"] = Affine(params["W1"], params["b1"])
        self.layers["Relu1"] = Relu()
        self.layers["Affine2"] = Affine(params["W2"], params["b2"])
        self.lastLayer = SoftmaxWithLoss()

    @classmethod
    def from_params(cls, params: dict[str, np.ndarray]) -> TwoLayerNet:
        """A network using the given arrays (by reference) as its parameters."""
        net = cls.__new__(cls)
        net._build(dict(params))
        return net

    def config(self) -> dict:
        """What rebuilds this architecture (JSON-able): see :meth:`from_config`."""
        input_size, hidden_size, output_size = self.sizes
        return {"class": type(self).__name__, "input_size": input_size,
                "hidden_size": hidden_size, "output_size": output_size}

    @classmethod
    def from_config(cls, config: dict, params: dict[str, np.ndarray]) -> TwoLayerNet:
        """The network described by ``config`` with the given trained ``params``."""
        net = cls.from_params(params)
        if net.config() != config:
            raise ValueError(f"{cls.__name__}: parameters do not match the config {config}")
        return net

    @property
    def dtype(self) -> np.dtype:
        return self.params["W1"].dtype

    @property
    def sizes(self) -> tuple[int, int, int]:
        """``(input_size, hidden_size, output_size)``."""
        return (*self.params["W1"].shape, self.params["W2"].shape[1])

    def astype(self, dtype) -> TwoLayerNet:
        """A copy of this network with parameters in ``dtype``."""
        return type(self).from_params({k: v.astype(dtype) for k, v in self.params.items()})

    def buffers(self) -> dict[str, np.ndarray]:
        """Non-trained state to save with the parameters: none (see ``MultiLayerNet``)."""
        return {}

    def load_buffers(self, buffers: Mapping[str, np.ndarray]) -> None:
        if buffers:
            raise ValueError(f"TwoLayerNet: has no buffers, got {sorted(buffers)}")

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t) -> float:
        return self.lastLayer.forward(self.predict(x), t)

    def accuracy(self, x, t, *, batch_size: int | None = 10000) -> float:
        """Share of correct predictions; ``x`` is predicted ``batch_size`` rows at a time."""
        return accuracy_of(predict_in_chunks(self.predict, x, batch_size), t)

    def numerical_gradient(self, x, t) -> dict[str, np.ndarray]:
        """Gradients of ``loss(x, t)`` by central differences (slow; for checking)."""
        loss_w = lambda _w: self.loss(x, t)  # noqa: E731 - the book's spelling
        return {k: numerical_gradient(loss_w, p) for k, p in self.params.items()}

    def gradient(self, x, t) -> dict[str, np.ndarray]:
        """Gradients of ``loss(x, t)`` by backpropagation."""
        self.loss(x, t)
        dout = self.lastLayer.backward(1)
        first, *rest = self.layers.values()
        for layer in reversed(rest):
            dout = layer.backward(dout)
        first.backward(dout, input_grad=False)  # its dx would be thrown away
        a1, a2 = self.layers["Affine1"], self.layers["Affine2"]
        return {"W1": a1.dW, "b1": a1.db, "W2": a2.dW, "b2": a2.db}
