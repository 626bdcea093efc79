"""A network's inference graph, read from its layers: what every exporter writes.

:func:`inference_steps` walks ``net.layers`` in order (a mapping of names, or the
book's list in DeepConvNet, named ``Conv1``, ``Relu1``, ... here) and says, for each
layer, what it computes at prediction time (the book's ``train_flg=False``):

- ``Affine``: ``x @ W + b`` with ``W`` of shape ``(in, out)`` (a ``flatten`` step comes
  first where the input is an image, as ``Affine`` reshapes it);
- ``Convolution``: cross-correlation with ``W (FN, C, FH, FW)``, ``stride``, ``pad``;
- ``Pooling``: max pooling (padding never a maximum);
- ``Relu``, ``Sigmoid``, ``Tanh``;
- ``Dropout``: the book's scales by ``1 - ratio`` at test time; the inverted one is the
  identity;
- ``BatchNormalization``: ``(x - running_mean) / sqrt(running_var + eps) * gamma + beta``
  per activation: an image's ``C*H*W`` values each have their own statistics (not per
  channel, as PyTorch's ``BatchNorm2d``), ``eps`` 1e-6, ``momentum`` as the book's
  (``running = momentum * running + (1 - momentum) * batch``).

The steps keep the layers' own order. SimpleConvNet and DeepConvNet run each ReLU
after the max pooling that follows it (:mod:`chainrule.nn.convnets`); the two orders
give the same bits, and the exported graph shows the book's. A layer chainrule's
exporters do not know is refused by :class:`ExportError`, in one line naming it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from chainrule.core.conv import Convolution, Pooling, conv_output_size
from chainrule.core.layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, Tanh
from chainrule.nn.network import buffers_of, input_shape

EXTRA = "pip install 'chainrule[export]'"
"""What to type when an exporter's library is missing."""


class ExportError(ValueError):
    """A network (or a file) that cannot be exported or read back; one line."""


class MissingExtra(ImportError):
    """An exporter's library (onnx, onnxruntime, safetensors, torch) is not installed;
    ``package`` names it."""

    def __init__(self, message: str, package: str):
        super().__init__(message)
        self.package = package


def need(module: str, what: str):
    """``import module``, or :class:`MissingExtra` naming the extra that brings it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise MissingExtra(f"{what} needs the {top} package: {EXTRA}", top) from None


@dataclass
class Step:
    """One operation of the inference graph.

    ``op``: ``linear``, ``conv``, ``maxpool``, ``relu``, ``sigmoid``, ``tanh``,
    ``dropout``, ``batchnorm`` or ``flatten``; ``name``: the layer's; ``shape_in`` and
    ``shape_out``: one sample's; ``arrays``: the layer's arrays by role (``weight``,
    ``bias``, ``mean``, ``var``), the network's own (by reference); ``names``: the
    network's name of each (``W1``, ``running_mean1``; None for an array the network
    does not list); ``attrs``: numbers (``stride``, ``pad``, ``kernel``, ``ratio``,
    ``inverted``, ``eps``, ``momentum``)."""

    op: str
    name: str
    shape_in: tuple[int, ...]
    shape_out: tuple[int, ...]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    names: dict[str, str | None] = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)


_PREFIX = {Convolution: "Conv", Pooling: "Pool", Affine: "Affine", Relu: "Relu",
           Sigmoid: "Sigmoid", Tanh: "Tanh", Dropout: "Dropout",
           BatchNormalization: "BatchNorm"}


def named_layers(net) -> list[tuple[str, object]]:
    """``net.layers`` as ``(name, layer)`` pairs: a mapping's names, or for a list (the
    book's DeepConvNet) ``Conv1``, ``Relu1``, ``Pool1``, ... counted per kind."""
    layers = getattr(net, "layers", None)
    if isinstance(layers, Mapping):
        return [(str(k), v) for k, v in layers.items()]
    if not isinstance(layers, (list, tuple)):
        raise ExportError(f"cannot export {type(net).__name__}: it has no layers to read "
                          "(a mapping or a list, as the book's networks have)")
    counts: dict[str, int] = {}
    out = []
    for layer in layers:
        prefix = _PREFIX.get(type(layer), type(layer).__name__)
        counts[prefix] = counts.get(prefix, 0) + 1
        out.append((f"{prefix}{counts[prefix]}", layer))
    return out


def inference_steps(net) -> list[Step]:
    """The steps ``net.predict`` takes in eval mode, from the input to the scores
    (logits); :class:`ExportError` for a layer that has no counterpart."""
    dtype = np.dtype(getattr(net, "dtype", np.float64))
    if not np.issubdtype(dtype, np.floating):
        raise ExportError(f"cannot export {type(net).__name__}: its parameters are {dtype}, "
                          "not floating point")
    known = {id(a): k for k, a in {**net.params, **buffers_of(net)}.items()}
    shape = tuple(input_shape(net))
    steps: list[Step] = []
    for name, layer in named_layers(net):
        maker = _MAKERS.get(type(layer))
        if maker is None:
            raise ExportError(f"cannot export layer {name!r} ({type(layer).__name__}): ONNX "
                              f"and PyTorch export know {', '.join(c.__name__ for c in _MAKERS)}")
        made = maker(name, layer, shape, dtype)
        for step in made:
            step.names = {role: known.get(id(a)) for role, a in step.arrays.items()}
        steps += made
        shape = steps[-1].shape_out
    if not any(s.op in ("linear", "conv") for s in steps):
        raise ExportError(f"cannot export {type(net).__name__}: no Affine or Convolution layer")
    return steps


def output_size(steps: list[Step]) -> int:
    """How many scores (classes) the steps end with."""
    return math.prod(steps[-1].shape_out)


# ---------------------------------------------------------------- one layer each


def _refuse(name: str, layer, why: str) -> ExportError:
    return ExportError(f"cannot export layer {name!r} ({type(layer).__name__}): {why}")


def _affine(name: str, layer: Affine, shape: tuple, dtype) -> list[Step]:
    n_in, n_out = layer.W.shape
    if math.prod(shape) != n_in:
        raise _refuse(name, layer, f"takes {n_in} inputs, the layer before gives "
                      f"{'x'.join(map(str, shape))}")
    steps = []
    if len(shape) > 1:
        steps.append(Step("flatten", f"{name}_flatten", shape, (n_in,)))
    steps.append(Step("linear", name, (n_in,), (n_out,),
                      {"weight": layer.W, "bias": layer.b}))
    return steps


def _conv(name: str, layer: Convolution, shape: tuple, dtype) -> list[Step]:
    fn, c, fh, fw = layer.W.shape
    if len(shape) != 3 or shape[0] != c:
        raise _refuse(name, layer, f"needs images of {c} channel(s), the layer before gives "
                      f"{'x'.join(map(str, shape))}")
    s, p = layer.stride, layer.pad
    out = (fn, conv_output_size(shape[1], fh, s, p), conv_output_size(shape[2], fw, s, p))
    if min(out) < 1:
        raise _refuse(name, layer, f"its {fh}x{fw} filter does not fit a "
                      f"{shape[1]}x{shape[2]} input")
    bias = layer.b if np.ndim(layer.b) else np.full(fn, layer.b, dtype=layer.W.dtype)
    return [Step("conv", name, shape, out, {"weight": layer.W, "bias": bias},
                 attrs={"kernel": (fh, fw), "stride": s, "pad": p})]


def _pool(name: str, layer: Pooling, shape: tuple, dtype) -> list[Step]:
    if len(shape) != 3:
        raise _refuse(name, layer, f"needs images, the layer before gives {shape[0]} values")
    ph, pw, s, p = layer.pool_h, layer.pool_w, layer.stride, layer.pad
    out = (shape[0], conv_output_size(shape[1], ph, s, p), conv_output_size(shape[2], pw, s, p))
    if min(out) < 1:
        raise _refuse(name, layer, f"its {ph}x{pw} window does not fit a "
                      f"{shape[1]}x{shape[2]} input")
    return [Step("maxpool", name, shape, out, attrs={"kernel": (ph, pw), "stride": s, "pad": p})]


def _elementwise(op: str):
    def make(name: str, layer, shape: tuple, dtype) -> list[Step]:
        return [Step(op, name, shape, shape)]
    return make


def _dropout(name: str, layer: Dropout, shape: tuple, dtype) -> list[Step]:
    return [Step("dropout", name, shape, shape,
                 attrs={"ratio": float(layer.dropout_ratio), "inverted": bool(layer.inverted)})]


def _batchnorm(name: str, layer: BatchNormalization, shape: tuple, dtype) -> list[Step]:
    d = layer.gamma.shape[0]
    if math.prod(shape) != d:
        raise _refuse(name, layer, f"normalizes {d} activations, the layer before gives "
                      f"{'x'.join(map(str, shape))}")
    mean, var = layer.running_mean, layer.running_var
    if mean is None:  # never run: chainrule's eval starts the statistics at 0 and 1 too
        mean, var = np.zeros(d, dtype), np.ones(d, dtype)
    return [Step("batchnorm", name, shape, shape,
                 {"weight": layer.gamma, "bias": layer.beta, "mean": mean, "var": var},
                 attrs={"eps": float(layer.eps), "momentum": float(layer.momentum)})]


_MAKERS = {Affine: _affine, Convolution: _conv, Pooling: _pool, Relu: _elementwise("relu"),
           Sigmoid: _elementwise("sigmoid"), Tanh: _elementwise("tanh"), Dropout: _dropout,
           BatchNormalization: _batchnorm}
