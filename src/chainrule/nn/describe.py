"""A network's architecture in one line of words, from its ``config()``."""

from __future__ import annotations

from typing import Any

from chainrule.core.checks import is_finite


def describe_net(net_config: dict[str, Any], init: float | str | None = None) -> str:
    """A network's architecture in words, from ``net.config()``: ``TwoLayerNet 784-50-10``,
    ``MultiLayerNet 784-256-128-10 relu he, batchnorm, dropout 0.2, weight decay 0.0001``
    (``init`` is shown for a MultiLayerNet when given)."""
    c = net_config
    if c.get("class") in ("SimpleConvNet", "DeepConvNet"):
        return _describe_convnet(c, init)
    hidden = c.get("hidden_size_list", [c.get("hidden_size")])
    sizes = "-".join(str(n) for n in (c.get("input_size"), *hidden, c.get("output_size")))
    text = f"{c.get('class')} {sizes}"
    if c.get("class") != "MultiLayerNet":
        return text
    text += f" {c['activation']}" + ("" if init is None else f" {init:g}" if is_finite(init)
                                     else f" {init}")
    if c.get("use_batchnorm"):
        text += ", batchnorm"
    if c.get("dropout_ratio"):
        text += f", dropout {c['dropout_ratio']:g}"
    if c.get("weight_decay_lambda"):
        text += f", weight decay {c['weight_decay_lambda']:g}"
    return text


def _describe_convnet(c: dict[str, Any], init) -> str:
    """``SimpleConvNet 1x28x28: conv 30 5x5, pool 2x2, affine 100, affine 10``."""
    convs = c.get("conv_params") or [c.get("conv_param") or {}]
    nums = "-".join(str(p.get("filter_num")) for p in convs)
    sizes = {f"{p.get('filter_size')}x{p.get('filter_size')}" for p in convs}
    pads = {p.get("pad") for p in convs}
    strides = {p.get("stride") for p in convs}
    conv = f"conv {nums} {'/'.join(sorted(sizes))}"
    if pads != {0}:
        conv += f" pad {'/'.join(str(p) for p in sorted(pads))}"
    if strides != {1}:
        conv += f" stride {'/'.join(str(s) for s in sorted(strides))}"
    pool = "pool 2x2 after every 2nd conv" if len(convs) > 1 else "pool 2x2"
    text = (f"{c.get('class')} {'x'.join(str(d) for d in c.get('input_dim', []))}: {conv}, "
            f"{pool}, affine {c.get('hidden_size')}, affine {c.get('output_size')}")
    if c.get("dropout_ratio"):
        text += f", dropout {c['dropout_ratio']:g}"
    if init is not None:
        text += f", init {init:g}" if is_finite(init) else f", init {init}"
    return text
