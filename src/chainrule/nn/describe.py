"""A network's architecture from its ``config()``: as fields (:func:`architecture`, for a
page that words it in the learner's language) and as one line of English
(:func:`describe_net`, for the command line), the line made from the fields."""

from __future__ import annotations

from typing import Any

from chainrule.core.checks import is_finite

CONVNETS = ("SimpleConvNet", "DeepConvNet")


def architecture(net_config: dict[str, Any], init: float | str | None = None) -> dict[str, Any]:
    """A network's architecture as JSON-able fields, from ``net.config()``.

    Every network: ``class`` and ``dropout`` (0 for none). A network of Affine layers:
    ``sizes`` (input, hidden..., output); a ``MultiLayerNet`` adds ``activation``,
    ``batchnorm``, ``weight_decay`` and ``init`` (when given). A convnet: ``input_dim``,
    ``convs`` (``[{"filters", "size", "pad", "stride"}]``), ``pool`` (2: a 2x2 pooling after
    every conv, or after every second one when there are several: ``pool_every``),
    ``hidden`` and ``output`` (the two Affine layers) and ``init`` (when given)."""
    c = net_config
    out: dict[str, Any] = {"class": c.get("class"), "dropout": float(c.get("dropout_ratio") or 0)}
    shown_init = None if init is None else float(init) if is_finite(init) else str(init)
    if c.get("class") in CONVNETS:
        convs = c.get("conv_params") or [c.get("conv_param") or {}]
        out.update(input_dim=list(c.get("input_dim", [])),
                   convs=[{"filters": p.get("filter_num"), "size": p.get("filter_size"),
                           "pad": p.get("pad"), "stride": p.get("stride")} for p in convs],
                   pool=2, pool_every=2 if len(convs) > 1 else 1,
                   hidden=c.get("hidden_size"), output=c.get("output_size"))
        if shown_init is not None:
            out["init"] = shown_init
        return out
    hidden = c.get("hidden_size_list", [c.get("hidden_size")])
    out["sizes"] = [c.get("input_size"), *hidden, c.get("output_size")]
    if c.get("class") == "MultiLayerNet":
        out.update(activation=c.get("activation"), batchnorm=bool(c.get("use_batchnorm")),
                   weight_decay=float(c.get("weight_decay_lambda") or 0))
        if shown_init is not None:
            out["init"] = shown_init
    return out


def describe_net(net_config: dict[str, Any], init: float | str | None = None) -> str:
    """A network's architecture in words, from ``net.config()``: ``TwoLayerNet 784-50-10``,
    ``MultiLayerNet 784-256-128-10 relu he, batchnorm, dropout 0.2, weight decay 0.0001``
    (``init`` is shown for a MultiLayerNet when given)."""
    a = architecture(net_config, init)
    if a["class"] in CONVNETS:
        return _describe_convnet(a)
    text = f"{a['class']} {'-'.join(str(n) for n in a['sizes'])}"
    if a["class"] != "MultiLayerNet":
        return text
    text += f" {a['activation']}" + ("" if "init" not in a else f" {_init(a['init'])}")
    if a["batchnorm"]:
        text += ", batchnorm"
    if a["dropout"]:
        text += f", dropout {a['dropout']:g}"
    if a["weight_decay"]:
        text += f", weight decay {a['weight_decay']:g}"
    return text


def _init(init: float | str) -> str:
    return f"{init:g}" if is_finite(init) else str(init)


def _describe_convnet(a: dict[str, Any]) -> str:
    """``SimpleConvNet 1x28x28: conv 30 5x5, pool 2x2, affine 100, affine 10``."""
    convs = a["convs"]
    nums = "-".join(str(p["filters"]) for p in convs)
    sizes = {f"{p['size']}x{p['size']}" for p in convs}
    pads = {p["pad"] for p in convs}
    strides = {p["stride"] for p in convs}
    conv = f"conv {nums} {'/'.join(sorted(sizes))}"
    if pads != {0}:
        conv += f" pad {'/'.join(str(p) for p in sorted(pads))}"
    if strides != {1}:
        conv += f" stride {'/'.join(str(s) for s in sorted(strides))}"
    pool = "pool 2x2 after every 2nd conv" if a["pool_every"] > 1 else "pool 2x2"
    text = (f"{a['class']} {'x'.join(str(d) for d in a['input_dim'])}: {conv}, "
            f"{pool}, affine {a['hidden']}, affine {a['output']}")
    if a["dropout"]:
        text += f", dropout {a['dropout']:g}"
    if "init" in a:
        text += f", init {_init(a['init'])}"
    return text
