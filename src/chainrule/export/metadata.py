"""What an exported file says about its network: dataset, classes, input and preprocessing.

The same string map goes into an ONNX model's ``metadata_props`` and a ``.safetensors``
file's header, so that a program that only has the file knows what to feed it and
how to read its outputs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from chainrule.data.catalog import DATASETS, image_shape
from chainrule.export.plan import Step, output_size
from chainrule.nn.describe import describe_net
from chainrule.store.version import VERSION


def file_metadata(net, steps: list[Step], meta: Mapping | None = None) -> dict[str, str]:
    """The string map an exported file carries, from ``net`` and the run's ``meta`` (what a
    model file records: ``dataset``, ``class_names``, ``image_shape``, ``input_range``)."""
    meta = dict(meta or {})
    config = net.config() if callable(getattr(net, "config", None)) else None
    shape = steps[0].shape_in
    info = DATASETS.get(meta.get("dataset"))
    names = meta.get("class_names") or (info.class_names if info else None)
    n_out = output_size(steps)
    if not names or len(names) != n_out:
        names = [str(c) for c in range(n_out)]
    image = meta.get("image_shape") or (list(shape[1:]) if len(shape) == 3 else
                                        image_shape(str(meta.get("dataset")), shape[0]))
    low, high = meta.get("input_range") or (0.0, 1.0)
    out = {
        "chainrule.version": VERSION,
        "network": describe_net(config) if config else type(net).__name__,
        "dataset": str(meta.get("dataset") or "unknown"),
        "class_names": json.dumps(list(names), ensure_ascii=False),
        "input_layout": input_layout(shape, image),
        "input_range": json.dumps([float(low), float(high)]),
        "preprocessing": preprocessing(info, float(low), float(high)),
        "outputs": "logits: the scores before softmax (chainrule's predict); probabilities: "
                   "their softmax",
    }
    if image:
        out["image_shape"] = json.dumps([int(v) for v in image])
    if config:
        out["chainrule.config"] = json.dumps(config)
    return out


def input_layout(shape: tuple[int, ...], image) -> str:
    """In words: what one input holds, ``N`` being the batch."""
    if len(shape) == 3:
        c, h, w = shape
        return (f"(N, {c}, {h}, {w}) float: N pictures of {c} channel(s), {h} rows, {w} "
                "columns (NCHW)")
    if image and len(image) == 2 and image[0] * image[1] == shape[0]:
        h, w = image
        return f"(N, {shape[0]}) float: each row one {h}x{w} picture, its pixels row by row"
    return f"(N, {shape[0]}) float"


def preprocessing(info, low: float, high: float) -> str:
    """How a raw picture becomes an input, in words."""
    if info is None:
        return f"values in [{low:g}, {high:g}] as the network was trained on"
    return (f"{info.title}'s pixels divided by {info.pixel_max:g}, their largest value "
            f"(values in [{low:g}, {high:g}]: 0 the background, 1 the strongest ink, as "
            "load_mnist(normalize=True) gives them)")
