"""What the network lab accepts: JSON bodies, pixels, pictures and training forms, checked.

Every check raises :class:`~chainrule.web.kit.RequestError` with one line and an HTTP
status (400 unless said otherwise), before anything large is allocated or decoded.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math

import numpy as np
from starlette.requests import Request

from chainrule.data.catalog import DATASET_NAMES, DATASETS
from chainrule.data.preprocess import ImageError, ink_extent, prepare_image, read_image
from chainrule.nn.optim import OPTIMIZERS
from chainrule.training.config import TrainConfig
from chainrule.web.kit import RequestError, read_json
from chainrule.web.netlab_state import LabModel

MAX_BODY = 1 << 20  # predict / learn: a canvas PNG as a data URL, or 784 numbers (= app.MAX_BODY)
MAX_FORM = 16 << 10  # everything else
MAX_IMAGE_SIDE = 1024
MAX_IMAGE_PIXELS = 1 << 20
IMAGE_TYPES = {"data:image/png;base64,": "PNG", "data:image/jpeg;base64,": "JPEG"}
MAX_LR = 100.0
MAX_AMONG = 999  # a step's batch: the digit and at most this many training images
SMALL_INK = 0.25
"""A picture whose digit spans less than this of its larger side is too small to read:
the preprocessing blows every digit up to the same 20-pixel box, so the strokes of a
small drawing become blobs (a dot on the pad becomes a disc)."""
TRAIN_LIMITS = {"hidden_layers": 5, "hidden_size": 1024, "batch_size": 1000, "iters": 50_000,
                "epochs": 100, "evaluations": 100, "work": 2e12}
"""Caps on a training request: so that one request cannot exhaust memory or run for
hours. ``work`` bounds steps x batch x weights (the book's default run is 4e10)."""

async def read_object(request: Request, max_bytes: int) -> dict:
    """The request's JSON body (:func:`chainrule.web.kit.read_json`: type, size, strict
    JSON), which must be an object; :class:`RequestError` otherwise."""
    data = await read_json(request, max_bytes)
    if not isinstance(data, dict):
        raise RequestError("net.not_object")
    return data


def check_keys(data: dict, allowed: tuple[str, ...]) -> None:
    unknown = sorted(str(k)[:40] for k in data if k not in allowed)
    if unknown:
        raise RequestError("net.unknown_option", names=unknown, allowed=list(allowed))


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def int_field(data: dict, key: str, lo: int, hi: int, default=None) -> int | None:
    v = data.get(key)
    v = default if v is None else v  # null: the default, as a field left out
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise RequestError("net.whole_number", field=key, min=lo, max=hi, got=got(v))
    return v


def float_field(data: dict, key: str, lo: float, hi: float, *, open_lo: bool = False,
           default=None) -> float | None:
    v = data.get(key)
    v = default if v is None else v  # null: the default, as a field left out
    if v is None:
        return None
    # the range first: math.isfinite cannot take an integer too large for a float (10**400)
    ok = _is_number(v) and (v > lo if open_lo else v >= lo) and v <= hi and math.isfinite(v)
    if not ok:
        raise RequestError("net.number_above" if open_lo else "net.number_range", field=key,
                           min=lo, max=hi, got=got(v))
    return float(v)


def shown(v) -> str:
    return json.dumps(v)[:40] if isinstance(v, (str, list, dict)) else str(v)[:40]


def got(v):
    """What a refusal says it got: a finite number as itself (the page writes it in its
    language), anything else as :func:`shown` writes it."""
    return v if _is_number(v) and abs(v) < 1e300 and math.isfinite(v) else shown(v)


def label_field(data: dict, model: LabModel, *, required: bool) -> int | None:
    if required and data.get("label") is None:
        raise RequestError("net.label_required", field="label")
    return int_field(data, "label", 0, len(model.class_names) - 1)


def input_pixels(data: dict, model: LabModel) -> tuple[np.ndarray, dict]:
    """The model's input from ``pixels`` or ``image``, and what the page should know of
    the picture: ``blank`` (nothing drawn), ``ink_extent`` (how much of the picture the
    digit spans, :func:`~chainrule.data.preprocess.ink_extent`; None for pixels, which
    are the input as it is) and ``too_small`` (below :data:`SMALL_INK`)."""
    has_pixels, has_image = data.get("pixels") is not None, data.get("image") is not None
    if has_pixels == has_image:
        raise RequestError("net.pixels_or_image")
    if has_pixels:
        x = _pixels(data["pixels"], model.input_size)
        return x, {"blank": not x.any(), "ink_extent": None, "too_small": False}
    return _image(data["image"], model)


def _pixels(pixels, n: int) -> np.ndarray:
    if not isinstance(pixels, list) or len(pixels) != n:
        if isinstance(pixels, list):
            raise RequestError("net.pixels_count", field="pixels", n=n, got=len(pixels))
        raise RequestError("net.pixels_not_list", field="pixels", n=n,
                           kind=type(pixels).__name__)
    if not all(_is_number(v) for v in pixels):
        raise RequestError("net.pixels_numbers", field="pixels")
    try:
        a = np.array(pixels, dtype=np.float64)
    except OverflowError:
        raise RequestError("net.pixels_range", field="pixels") from None
    if not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 1:
        raise RequestError("net.pixels_range", field="pixels")
    return a


def _image(url, model: LabModel) -> tuple[np.ndarray, dict]:
    from PIL import Image, UnidentifiedImageError  # the lab's extra, loaded on first use

    if not isinstance(url, str):
        raise RequestError("net.image_not_string", field="image")
    prefix = next((p for p in IMAGE_TYPES if url.startswith(p)), None)
    if prefix is None:
        raise RequestError("net.image_type", field="image")
    try:
        raw = base64.b64decode(url[len(prefix):], validate=True)
    except (binascii.Error, ValueError):
        raise RequestError("net.image_base64", field="image") from None
    try:
        with Image.open(io.BytesIO(raw)) as img:  # reads the header only
            fmt, (w, h) = img.format, img.size
    except Image.DecompressionBombError:
        raise RequestError("net.image_too_large", field="image", max=MAX_IMAGE_SIDE) from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise RequestError("net.image_unreadable", field="image") from None
    if fmt != IMAGE_TYPES[prefix]:
        raise RequestError("net.image_format", field="image", format=str(fmt),
                           expected=IMAGE_TYPES[prefix])
    if max(w, h) > MAX_IMAGE_SIDE or w * h > MAX_IMAGE_PIXELS or min(w, h) < 1:
        raise RequestError("net.image_size", field="image", width=w, height=h,
                           max=MAX_IMAGE_SIDE)
    try:
        gray = read_image(io.BytesIO(raw))
    except (ImageError, OSError, ValueError, Image.DecompressionBombError):
        raise RequestError("net.image_damaged", field="image") from None
    box = model.image_shape[0] if model.dataset == "digits" else None  # digits fill 8x8
    try:
        x = prepare_image(gray, model.image_shape, box=box).reshape(-1)
    except ImageError:  # nothing drawn: a valid, empty input
        return np.zeros(model.input_size), {"blank": True, "ink_extent": 0.0,
                                            "too_small": False}
    extent = ink_extent(gray)
    return x, {"blank": False, "ink_extent": extent, "too_small": extent < SMALL_INK}


TRAIN_KEYS = ("dataset", "hidden", "activation", "optimizer", "lr", "batch_size", "iters",
              "epochs", "eval_every", "batchnorm", "dropout", "weight_decay", "seed")


def train_config(data: dict) -> TrainConfig:
    """The :class:`TrainConfig` of a training form, within :data:`TRAIN_LIMITS`."""
    check_keys(data, TRAIN_KEYS)
    lim = TRAIN_LIMITS
    dataset = data.get("dataset", "mnist")
    if dataset not in DATASET_NAMES:
        raise RequestError("net.dataset", field="dataset", choices=list(DATASET_NAMES),
                           got=shown(dataset))
    hidden = data.get("hidden", 50)
    hidden = [hidden] if not isinstance(hidden, list) else hidden
    if not 1 <= len(hidden) <= lim["hidden_layers"] or not all(
            isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= lim["hidden_size"]
            for n in hidden):
        raise RequestError("net.hidden", field="hidden", layers=lim["hidden_layers"],
                           size=lim["hidden_size"], got=shown(data.get("hidden")))
    activation = data.get("activation", "relu")
    if activation not in ("relu", "sigmoid", "tanh"):
        raise RequestError("net.activation", field="activation", got=shown(activation))
    optimizer = data.get("optimizer", "sgd")
    if optimizer not in OPTIMIZERS:
        raise RequestError("net.optimizer", field="optimizer", choices=list(OPTIMIZERS),
                           got=shown(optimizer))
    batchnorm = data.get("batchnorm", False)
    if not isinstance(batchnorm, bool):
        raise RequestError("net.batchnorm", field="batchnorm", got=shown(batchnorm))
    if data.get("iters") is not None and data.get("epochs") is not None:
        raise RequestError("net.iters_or_epochs", field="epochs")
    train_size = DATASETS[dataset].train_size
    batch = int_field(data, "batch_size", 1, min(lim["batch_size"], train_size), 100)
    config = TrainConfig(
        dataset=dataset, hidden=hidden[0] if len(hidden) == 1 else hidden,
        activation=activation, optimizer=optimizer,
        lr=float_field(data, "lr", 0, MAX_LR, open_lo=True), batch_size=batch,
        iters=int_field(data, "iters", 1, lim["iters"], 1000),
        epochs=float_field(data, "epochs", 0, lim["epochs"], open_lo=True), batchnorm=batchnorm,
        dropout=float_field(data, "dropout", 0, 0.9, default=0.0),
        weight_decay=float_field(data, "weight_decay", 0, 10, default=0.0),
        seed=int_field(data, "seed", 0, 2**31 - 1, 0))
    steps = config.iters if config.epochs is None else round(
        config.epochs * max(train_size // batch, 1))
    if steps > lim["iters"]:
        raise RequestError("net.too_many_iters", steps=steps, max=lim["iters"])
    every = int_field(data, "eval_every", 1, lim["iters"])
    if every is not None and steps // every > lim["evaluations"]:
        raise RequestError("net.too_many_evals", field="eval_every", every=every,
                           evaluations=steps // every, max=lim["evaluations"],
                           least=-(-steps // lim["evaluations"]))
    config.eval_every = every
    info = DATASETS[dataset]
    sizes = [info.input_size, *hidden, len(info.class_names)]
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    if steps * batch * weights > lim["work"]:
        raise RequestError("net.too_big", steps=steps, batch=batch, weights=weights)
    try:
        return config.resolved()
    except ValueError as exc:
        raise RequestError("net.config", reason=str(exc)) from None
