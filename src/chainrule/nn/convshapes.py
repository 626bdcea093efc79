"""A convolutional network's config checked, and the shapes and sizes that follow from
it: what :mod:`chainrule.nn.convnets` builds from, computed with no array allocated (so a
file's config can be refused before its network exists)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from chainrule.core.conv import conv_output_size

CONV_KEYS = ("filter_num", "filter_size", "pad", "stride")
"""The keys of one convolution's parameters (the book's ``conv_param``)."""


def expect_keys(config: dict, keys: tuple[str, ...], name: str) -> None:
    missing = [k for k in keys if k not in config]
    extra = [k for k in config if k not in keys]
    if missing or extra or config["class"] != name:
        raise ValueError(f"{name}: bad config (class {config.get('class')!r}, missing "
                         f"{missing}, unknown {extra})")


def is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def size_value(v, what: str, low: int = 1) -> int:
    if not is_int(v) or v < low:
        raise ValueError(f"{what} must be an integer >= {low}, got {v!r}")
    return int(v)


def input_dim_value(dim) -> list[int]:
    if isinstance(dim, (str, bytes)) or not isinstance(dim, Sequence) or len(dim) != 3:
        raise ValueError(f"input_dim must be (channels, height, width), got {dim!r}")
    return [size_value(v, "input_dim") for v in dim]


def conv_param_value(p, what: str) -> dict:
    if not isinstance(p, Mapping) or set(p) != set(CONV_KEYS):
        raise ValueError(f"{what} must have the keys {', '.join(CONV_KEYS)}, got {p!r}")
    return {"filter_num": size_value(p["filter_num"], f"{what}['filter_num']"),
            "filter_size": size_value(p["filter_size"], f"{what}['filter_size']"),
            "pad": size_value(p["pad"], f"{what}['pad']", 0),
            "stride": size_value(p["stride"], f"{what}['stride']")}


def conv_shape(shape: tuple[int, ...], p: dict, what: str) -> tuple[int, int, int]:
    """``(C, H, W)`` after the convolution ``p``; a ValueError if the filter does not fit."""
    _, h, w = shape
    oh, ow = (conv_output_size(s, p["filter_size"], p["stride"], p["pad"])
              for s in (h, w))
    if oh < 1 or ow < 1:
        raise ValueError(f"{what}: a {p['filter_size']}x{p['filter_size']} filter with pad "
                         f"{p['pad']} does not fit a {h}x{w} input")
    return p["filter_num"], oh, ow


def pool_shape(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    c, h, w = shape
    if h < 2 or w < 2:
        raise ValueError(f"2x2 pooling does not fit a {h}x{w} input")
    return c, h // 2, w // 2


def check_params(name: str, params: Mapping[str, np.ndarray],
                  shapes: list[tuple[int, ...]]) -> None:
    expected = {}
    for i, shape in enumerate(shapes, 1):
        expected[f"W{i}"] = shape
        expected[f"b{i}"] = (shape[0] if len(shape) == 4 else shape[1],)
    if set(params) != set(expected):
        raise ValueError(f"{name}: expected parameters {sorted(expected)}, got {sorted(params)}")
    for k, shape in expected.items():
        p = params[k]
        if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
            raise ValueError(f"{name}: parameter {k} must be a floating numpy array")
        if p.shape != shape:
            raise ValueError(f"{name}: parameter {k}: expected shape {shape}, got {p.shape}")
    if len({p.dtype for p in params.values()}) != 1:
        raise ValueError(f"{name}: parameters must share one dtype, got "
                         f"{sorted({str(p.dtype) for p in params.values()})}")


def activation_values(input_dim: tuple[int, int, int],
                      convolutions: list[tuple[dict, bool]],
                      shapes: list[tuple[int, ...]]) -> tuple[int, str]:
    """A rough upper count of the values one image's forward and backward passes keep or
    make (padded inputs, patches, outputs, ReLU masks, pooled maps, their gradients),
    for ``convolutions`` (each one's parameters, and whether 2x2 pooling follows it) on
    ``input_dim`` images, then the affine layers among the weight ``shapes``; and the
    layer that makes the most, described for a message."""
    shape, total, largest = input_dim, 0, (0, "")
    for i, (p, pooled) in enumerate(convolutions, 1):
        c, h, w = shape
        out = conv_shape(shape, p, f"conv {i}")
        padded = c * (h + 2 * p["pad"]) * (w + 2 * p["pad"])
        cols = (c * p["filter_size"] ** 2 + 1) * out[1] * out[2]
        values = 2 * padded + 2 * cols + 4 * math.prod(out)
        total += values
        n, k, pad = p["filter_num"], p["filter_size"], p["pad"]
        largest = max(largest, (values, (
            f"convolution {i} ({n} filter{'s' if n != 1 else ''} {k}x{k}, pad {pad}, "
            f"stride {p['stride']}) on {c}x{h}x{w} inputs"
            + (f" pads them to {c}x{h + 2 * pad}x{w + 2 * pad} and" if pad else "")
            + f" makes {out[0]}x{out[1]}x{out[2]} outputs")))
        shape = pool_shape(out) if pooled else out
    total += 4 * sum(s[0] + s[1] for s in shapes if len(s) == 2)  # the affine layers
    return total, largest[1]
