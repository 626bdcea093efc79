"""The convolution page's answers: what :func:`chainrule.nn.conv_probe.conv_probe` saw, and a
network's filters, as JSON.

Maps are sent one list per filter, flat (row-major), with their shapes beside them.
A map's numbers are rounded to :data:`DIGITS` significant digits of its largest
magnitude (a 24x24 map to within 1e-5 of its largest value): what the page can show,
at half the bytes of the float32 values written out in full.
"""

from __future__ import annotations

import math

import numpy as np

from chainrule.nn.conv_probe import conv_probe
from chainrule.web.netlab_state import LabModel

DIGITS = 5


def rounded(a, digits: int = DIGITS) -> list:
    """``a`` as lists of numbers, one per first-axis entry (a map, a filter), each
    rounded to ``digits`` significant digits of its own largest magnitude; a 1-D ``a``
    is one list. Non-finite numbers become null."""
    a = np.asarray(a, dtype=np.float64)
    rows = a.reshape(len(a), -1) if a.ndim > 1 else a.reshape(1, -1)
    top = np.abs(np.where(np.isfinite(rows), rows, 0)).max(axis=1, initial=0)
    places = np.where(top > 0, digits - 1 - np.floor(np.log10(np.where(top > 0, top, 1))), 0)
    scale = 10.0 ** np.clip(places, -300, 300)[:, np.newaxis]
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.round(rows * scale) / scale
    out = np.where(np.isfinite(out), out, rows)
    lists = out.tolist()
    if not np.all(np.isfinite(rows)):
        lists = [[v if math.isfinite(v) else None for v in row] for row in lists]
    return lists if a.ndim > 1 else lists[0]


def filters_of(net) -> dict:
    """A convnet's first-layer filters ``W1`` (one flat list per filter) and biases; what a
    live run of a SimpleConvNet sends as it trains (``LiveRun(snapshot=...)``)."""
    w, b = net.params["W1"], net.params["b1"]
    return {"filters": rounded(w), "filter_shape": list(w.shape[1:]), "bias": rounded(b)}


def probe_answer(model: LabModel, x: np.ndarray, label: int | None, blank: bool) -> dict:
    """One picture through the model's first layers and back (see
    :func:`~chainrule.nn.conv_probe.conv_probe`)."""
    with model.lock:
        p = conv_probe(model.net, x, label)
    response = p.response
    return {
        "model": model.id, "class_names": model.class_names, "blank": blank,
        "input": rounded(np.asarray(x).reshape(-1)), "input_shape": list(p.input_grad.shape),
        "predicted": p.predicted, "probabilities": rounded(p.probabilities),
        "target": p.target, "loss": p.loss if math.isfinite(p.loss) else None,
        "filters": rounded(p.filters), "filter_shape": list(p.filters.shape[1:]),
        "bias": rounded(p.bias), "map_shape": list(p.conv.shape[1:]),
        "pooled_shape": list(p.pooled.shape[1:]), "pool": list(p.pool),
        "conv": rounded(p.conv), "relu": rounded(p.relu), "pooled": rounded(p.pooled),
        "pool_arg": p.pool_arg.reshape(len(p.pool_arg), -1).tolist(),
        "grad_pooled": rounded(p.grad_pooled), "grad_relu": rounded(p.grad_relu),
        "grad_conv": rounded(p.grad_conv), "input_grad": rounded(p.input_grad.reshape(-1)),
        "response": rounded(response),
        "grad_norm": rounded(np.linalg.norm(p.grad_conv.reshape(len(p.grad_conv), -1), axis=1)),
        "order": np.argsort(-response, kind="stable").tolist(),
    }
