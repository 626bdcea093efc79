"""From a config to a network: :func:`build_net`, after :func:`check_memory` (a fully
connected network) or :func:`check_conv_memory` (a convolutional one) says it fits."""

from __future__ import annotations

import contextlib
import math
import os

import numpy as np

from chainrule.nn.convnets import (
    BOOK_CONV_PARAM,
    BOOK_DEEP_CONV_PARAMS,
    DeepConvNet,
    SimpleConvNet,
)
from chainrule.nn.multilayer import MultiLayerNet
from chainrule.nn.optim import optimizer_class
from chainrule.nn.two_layer import TwoLayerNet
from chainrule.training.config import MAX_ITERS, TrainConfig


def build_net(config: TrainConfig, input_size: int, output_size: int, *,
              rng: np.random.Generator, input_dim: tuple[int, int, int] | None = None):
    """The network of a resolved ``config``: the book's ``TwoLayerNet`` when
    ``config.two_layer``, a ``MultiLayerNet`` for other MLPs, a ``SimpleConvNet`` or
    ``DeepConvNet`` for ``network`` simple-conv or deep-conv (on ``input_dim`` images,
    ``(C, H, W)``; by default one channel of square images of ``input_size`` pixels);
    weights (and later dropout masks) drawn from ``rng``."""
    if config.network != "mlp":
        input_dim = conv_input_dim(config, input_size, input_dim)
        kwargs = {"hidden_size": config.hidden_sizes[0], "output_size": output_size,
                  "weight_init_std": config.weight_init_std, "dtype": config.dtype, "rng": rng}
        if config.network == "simple-conv":
            return SimpleConvNet(input_dim, **kwargs)
        return DeepConvNet(input_dim, dropout_ratio=config.dropout, **kwargs)
    if config.two_layer:
        return TwoLayerNet(input_size, config.hidden_sizes[0], output_size, config.weight_init_std,
                           dtype=config.dtype, rng=rng)
    return MultiLayerNet(input_size, config.hidden_sizes, output_size,
                         activation=config.activation, weight_init_std=config.weight_init_std,
                         weight_decay_lambda=config.weight_decay, dropout_ratio=config.dropout,
                         use_batchnorm=config.batchnorm, dtype=config.dtype, rng=rng)


def check_fits(config: TrainConfig, shape: tuple[int, ...], output_size: int, *,
               iters_per_epoch: int, eval_batch: int) -> None:
    """A ``ValueError`` naming what is too large in a resolved ``config`` for inputs of
    ``shape`` (flat rows, or ``(C, H, W)`` images), before anything is made: the run's
    length in iterations (at most :data:`~chainrule.training.config.MAX_ITERS`), then
    the memory of the network, its optimizer and its activations (:func:`check_memory`
    for a fully connected one, :func:`check_conv_memory` for a convnet)."""
    if config.epochs is not None and config.epochs * iters_per_epoch > MAX_ITERS:
        raise ValueError(f"epochs {config.epochs:g} is {config.epochs * iters_per_epoch:.3g} "
                         f"iterations ({iters_per_epoch} per epoch), more than the "
                         f"{MAX_ITERS:,} a run may have")
    slots = len(optimizer_class(config.optimizer).slots)
    if config.network == "mlp":
        sizes = [math.prod(shape), *config.hidden_sizes, output_size]
        check_memory(sizes, config.dtype, batch=max(config.batch_size, eval_batch),
                     slots=slots, batchnorm=config.batchnorm)
    else:  # a convnet's activations follow from its config (evaluated 100 at a time)
        dim = conv_input_dim(config, math.prod(shape), shape if len(shape) == 3 else None)
        check_conv_memory(conv_net_config(config, dim, output_size), config.dtype,
                          batch=max(config.batch_size, 100), slots=slots)


def check_first_scores(net, x, config: TrainConfig) -> None:
    """A ``ValueError`` naming the initial scale when ``net``, as drawn with a numeric
    ``weight_init_std``, overflows on ``x`` (the first batch's images: its scores are not
    finite): such a run could only "diverge" at its first step. A network with
    ``deterministic()`` predicts in training mode inside it (batch norm on the batch's
    statistics, as the first step will), which leaves no trace: its buffers and
    generator are put back."""
    if isinstance(config.weight_init_std, str):
        return  # he and xavier scale by the fan-in
    mode = net.deterministic() if callable(getattr(net, "deterministic", None)) else \
        contextlib.nullcontext()
    with mode, np.errstate(all="ignore"):
        scores = np.asarray(net.predict(x))
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"weight_init_std {config.weight_init_std:g} overflows the first "
                         f"forward pass (the network's scores are not finite in "
                         f"{config.dtype}); use he, xavier or a smaller standard deviation")


def conv_input_dim(config: TrainConfig, input_size: int,
                   input_dim: tuple[int, int, int] | None) -> tuple[int, int, int]:
    """``input_dim``, or by default one channel of square images of ``input_size`` pixels."""
    if input_dim is not None:
        return tuple(input_dim)
    side = math.isqrt(input_size)
    if side * side != input_size:
        raise ValueError(f"network {config.network} needs images: {input_size} inputs "
                         "are not a square picture")
    return (1, side, side)


def memory_needed(sizes: list[int], dtype, *, batch: int, slots: int = 0,
                  batchnorm: bool = False) -> tuple[int, int]:
    """``(parameters, bytes)`` that a fully connected network of layer ``sizes`` needs:
    its weights drawn in float64 and stored in ``dtype``, a gradient, ``slots``
    optimizer arrays and an evaluation copy of each, plus the activations of ``batch``
    rows (a rough upper estimate, for refusing a network before allocating it)."""
    n = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    if batchnorm:
        n += 2 * sum(sizes[1:-1])
    itemsize = np.dtype(dtype).itemsize
    activations = 4 * batch * sum(sizes) * itemsize
    return n, n * (8 + itemsize * (3 + slots)) + activations


def physical_memory() -> int | None:
    """This machine's memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(sizes: list[int], dtype, *, batch: int, slots: int = 0,
                 batchnorm: bool = False, available: int | None = None) -> None:
    """Raise ``ValueError`` (parameter count and bytes) if the network of layer ``sizes``
    needs more than ``available`` bytes (default: this machine's memory)."""
    n, needed = memory_needed(sizes, dtype, batch=batch, slots=slots, batchnorm=batchnorm)
    available = physical_memory() if available is None else available
    if available is not None and needed > available:
        size = "-".join(map(str, sizes))
        raise ValueError(f"the network {size} has {n:,} parameters "
                         f"({format_bytes(n * np.dtype(dtype).itemsize)} in {np.dtype(dtype)}); "
                         f"training it needs about {format_bytes(needed)}, more than this "
                         f"machine's {format_bytes(available)} of memory")


CONVNETS = {"SimpleConvNet": SimpleConvNet, "DeepConvNet": DeepConvNet}


def conv_net_config(config: TrainConfig, input_dim: tuple[int, int, int],
                    output_size: int) -> dict:
    """The architecture (``net.config()``) that :func:`build_net` gives a convnet
    ``config`` on ``input_dim`` images, without building it."""
    hidden = config.hidden_sizes[0]
    if config.network == "simple-conv":
        return {"class": "SimpleConvNet", "input_dim": list(input_dim),
                "conv_param": dict(BOOK_CONV_PARAM), "hidden_size": hidden,
                "output_size": output_size}
    return {"class": "DeepConvNet", "input_dim": list(input_dim),
            "conv_params": [dict(p) for p in BOOK_DEEP_CONV_PARAMS], "hidden_size": hidden,
            "output_size": output_size, "dropout_ratio": config.dropout}


def conv_memory_needed(net_config: dict, dtype, *, batch: int,
                       slots: int = 0) -> tuple[int, int, int, str]:
    """``(parameters, bytes for them, bytes for activations, largest layer)`` that the
    convnet ``net_config`` (its ``config()``; a ``ValueError`` if it is not one) needs:
    its weights drawn in float64 and stored in ``dtype``, a gradient, ``slots``
    optimizer arrays and an evaluation copy of each; and the activations of ``batch``
    images forward and backward (a rough upper estimate, computed from the config
    before anything is allocated)."""
    cls = CONVNETS.get(net_config.get("class")) if isinstance(net_config, dict) else None
    if cls is None:
        raise ValueError(f"not a convolutional network: {net_config!r}")
    n, per_image, largest = cls.sizes(net_config)
    itemsize = np.dtype(dtype).itemsize
    return n, n * (8 + itemsize * (3 + slots)), batch * per_image * itemsize, largest


def check_conv_memory(net_config: dict, dtype, *, batch: int, slots: int = 0,
                      available: int | None = None) -> None:
    """Raise ``ValueError`` naming what is too large (the parameters, or the layer whose
    activations are the largest) if the convnet ``net_config`` needs more than
    ``available`` bytes (default: this machine's memory) for ``batch`` images at a time."""
    n, weights, activations, largest = conv_memory_needed(net_config, dtype, batch=batch,
                                                          slots=slots)
    available = physical_memory() if available is None else available
    needed = weights + activations
    if available is None or needed <= available:
        return
    name = net_config["class"]
    what = (f"the network {name} has {n:,} parameters "
            f"({format_bytes(n * np.dtype(dtype).itemsize)} in {np.dtype(dtype)})"
            if weights >= activations else f"the network {name}'s {largest}")
    raise ValueError(f"{what}: with {batch} image{'s' if batch != 1 else ''} at a time it "
                     f"needs about {format_bytes(needed)}, more than this machine's "
                     f"{format_bytes(available)} of memory")


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover
