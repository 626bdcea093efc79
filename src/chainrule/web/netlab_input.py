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
from chainrule.data.preprocess import ImageError, prepare_image, read_image
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
TRAIN_LIMITS = {"hidden_layers": 5, "hidden_size": 1024, "batch_size": 1000, "iters": 50_000,
                "epochs": 100, "evaluations": 100, "work": 2e12}
"""Caps on a training request: so that one request cannot exhaust memory or run for
hours. ``work`` bounds steps x batch x weights (the book's default run is 4e10)."""

async def read_object(request: Request, max_bytes: int) -> dict:
    """The request's JSON body (:func:`chainrule.web.kit.read_json`: type, size, strict
    JSON), which must be an object; :class:`RequestError` otherwise."""
    data = await read_json(request, max_bytes)
    if not isinstance(data, dict):
        raise RequestError("the body must be a JSON object")
    return data


def check_keys(data: dict, allowed: tuple[str, ...]) -> None:
    unknown = sorted(str(k)[:40] for k in data if k not in allowed)
    if unknown:
        raise RequestError(f"unknown option {', '.join(unknown)}; allowed: {', '.join(allowed)}")


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
        raise RequestError(f"{key} must be a whole number from {lo} to {hi}, got {shown(v)}")
    return v


def float_field(data: dict, key: str, lo: float, hi: float, *, open_lo: bool = False,
           default=None) -> float | None:
    v = data.get(key)
    v = default if v is None else v  # null: the default, as a field left out
    if v is None:
        return None
    ok = _is_number(v) and math.isfinite(v) and (v > lo if open_lo else v >= lo) and v <= hi
    if not ok:
        low = f"above {lo:g} and at most" if open_lo else f"from {lo:g} to"
        raise RequestError(f"{key} must be a number {low} {hi:g}, got {shown(v)}")
    return float(v)


def shown(v) -> str:
    return json.dumps(v)[:40] if isinstance(v, (str, list, dict)) else str(v)[:40]


def label_field(data: dict, model: LabModel, *, required: bool) -> int | None:
    if required and data.get("label") is None:
        raise RequestError("label is required: the true class of the digit")
    return int_field(data, "label", 0, len(model.class_names) - 1)


def input_pixels(data: dict, model: LabModel) -> tuple[np.ndarray, bool]:
    """The model's input from ``pixels`` or ``image``, and whether the picture was blank."""
    has_pixels, has_image = data.get("pixels") is not None, data.get("image") is not None
    if has_pixels == has_image:
        raise RequestError("give either pixels (a list of numbers in 0..1) or image (a PNG "
                         "data URL), not both or neither")
    if has_pixels:
        return _pixels(data["pixels"], model.input_size), False
    return _image(data["image"], model)


def _pixels(pixels, n: int) -> np.ndarray:
    if not isinstance(pixels, list) or len(pixels) != n:
        got = f"{len(pixels)} values" if isinstance(pixels, list) else type(pixels).__name__
        raise RequestError(f"pixels must be a list of {n} numbers, got {got}")
    if not all(_is_number(v) for v in pixels):
        raise RequestError("pixels must hold only numbers")
    try:
        a = np.array(pixels, dtype=np.float64)
    except OverflowError:
        raise RequestError("pixels must be numbers in 0..1") from None
    if not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 1:
        raise RequestError("pixels must be numbers in 0..1")
    return a


def _image(url, model: LabModel) -> tuple[np.ndarray, bool]:
    from PIL import Image, UnidentifiedImageError  # the lab's extra, loaded on first use

    if not isinstance(url, str):
        raise RequestError("image must be a data URL string (data:image/png;base64,...)")
    prefix = next((p for p in IMAGE_TYPES if url.startswith(p)), None)
    if prefix is None:
        raise RequestError("image must be a PNG or JPEG data URL (data:image/png;base64,...)")
    try:
        raw = base64.b64decode(url[len(prefix):], validate=True)
    except (binascii.Error, ValueError):
        raise RequestError("image: the base64 data is corrupt") from None
    try:
        with Image.open(io.BytesIO(raw)) as img:  # reads the header only
            fmt, (w, h) = img.format, img.size
    except Image.DecompressionBombError:
        raise RequestError(f"image: too large (at most {MAX_IMAGE_SIDE} a side)") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise RequestError("image: not a picture Pillow can read") from None
    if fmt != IMAGE_TYPES[prefix]:
        raise RequestError(f"image: the data is {fmt}, not {IMAGE_TYPES[prefix]}")
    if max(w, h) > MAX_IMAGE_SIDE or w * h > MAX_IMAGE_PIXELS or min(w, h) < 1:
        raise RequestError(f"image: {w}x{h} is too large (at most {MAX_IMAGE_SIDE} a side)")
    try:
        gray = read_image(io.BytesIO(raw))
    except (ImageError, OSError, ValueError, Image.DecompressionBombError):
        raise RequestError("image: the picture is damaged") from None
    box = model.image_shape[0] if model.dataset == "digits" else None  # digits fill 8x8
    try:
        return prepare_image(gray, model.image_shape, box=box).reshape(-1), False
    except ImageError:  # nothing drawn: a valid, empty input
        return np.zeros(model.input_size), True


TRAIN_KEYS = ("dataset", "hidden", "activation", "optimizer", "lr", "batch_size", "iters",
              "epochs", "eval_every", "batchnorm", "dropout", "weight_decay", "seed")


def train_config(data: dict) -> TrainConfig:
    """The :class:`TrainConfig` of a training form, within :data:`TRAIN_LIMITS`."""
    check_keys(data, TRAIN_KEYS)
    lim = TRAIN_LIMITS
    dataset = data.get("dataset", "mnist")
    if dataset not in DATASET_NAMES:
        raise RequestError(f"dataset must be one of {', '.join(DATASET_NAMES)}, "
                           f"got {shown(dataset)}")
    hidden = data.get("hidden", 50)
    hidden = [hidden] if not isinstance(hidden, list) else hidden
    if not 1 <= len(hidden) <= lim["hidden_layers"] or not all(
            isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= lim["hidden_size"]
            for n in hidden):
        raise RequestError(f"hidden must be 1 to {lim['hidden_layers']} layer sizes, each from "
                         f"1 to {lim['hidden_size']}, got {shown(data.get('hidden'))}")
    activation = data.get("activation", "relu")
    if activation not in ("relu", "sigmoid", "tanh"):
        raise RequestError(f"activation must be relu, sigmoid or tanh, got {shown(activation)}")
    optimizer = data.get("optimizer", "sgd")
    if optimizer not in OPTIMIZERS:
        raise RequestError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, "
                         f"got {shown(optimizer)}")
    batchnorm = data.get("batchnorm", False)
    if not isinstance(batchnorm, bool):
        raise RequestError(f"batchnorm must be true or false, got {shown(batchnorm)}")
    if data.get("iters") is not None and data.get("epochs") is not None:
        raise RequestError("give iters or epochs, not both")
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
        raise RequestError(f"{steps} iterations is more than the lab runs (at most "
                         f"{lim['iters']}); use chainrule train for longer runs")
    every = int_field(data, "eval_every", 1, lim["iters"])
    if every is not None and steps // every > lim["evaluations"]:
        raise RequestError(f"eval_every {every} gives {steps // every} evaluations; the lab "
                         f"makes at most {lim['evaluations']} (at least every "
                         f"{-(-steps // lim['evaluations'])} iterations)")
    config.eval_every = every
    info = DATASETS[dataset]
    sizes = [info.input_size, *hidden, len(info.class_names)]
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    if steps * batch * weights > lim["work"]:
        raise RequestError(f"this run is too big for the lab ({steps} steps x batch {batch} x "
                         f"{weights} weights); make it smaller or use chainrule train")
    try:
        return config.resolved()
    except ValueError as exc:
        raise RequestError(str(exc)) from None
