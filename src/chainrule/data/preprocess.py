"""A user's own picture of a digit, made to look like an MNIST image.

MNIST digits are white ink on black, size-normalized into a 20x20 box (keeping the
aspect ratio) and placed in a 28x28 field so that their centre of mass is in the
middle. :func:`prepare_image` does the same to any grayscale array; a picture that is
already the target size is only inverted (if needed) and scaled. Pillow is imported
only here, when a picture is read or resized.

A picture is a file from a stranger: :func:`read_image` reads only regular files, checks
the size its header declares (at most :data:`MAX_PIXELS`) before anything is decoded,
turns Pillow's own decompression-bomb warning into an error, and shrinks a large picture
to :data:`WORK_SIDE` pixels a side before it becomes a float array. Every mode Pillow
reads is read over its full range (a 16-bit PNG's 65535 is white, a floating-point
TIFF's 1.0 too) and a photo is turned upright as its EXIF orientation says.
"""

from __future__ import annotations

import os
import stat
import struct
import warnings
from typing import BinaryIO

import numpy as np

MAX_PIXELS = 40_000_000
"""The largest picture read (width times height): a 48-megapixel phone photo is refused,
a 12-megapixel one is read. Pillow's own bomb limit is 89 million (error at 179)."""
WORK_SIDE = 1024
"""A larger picture is shrunk (keeping its aspect ratio) to this many pixels a side before
it is turned into numbers: the digit ends up 20 pixels high anyway."""


class ImageError(ValueError):
    """A picture that cannot be read or holds no digit."""


def read_image(path: str | os.PathLike | BinaryIO, *,
               max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A PNG/JPEG/... (a file, or a binary file object) as a float64 grayscale array in
    0..255, upright as its EXIF orientation says, at most :data:`WORK_SIDE` pixels a
    side. Every mode is read over its full range (16-bit, floating point, palettes,
    alpha: see :func:`_gray`). Raises :class:`ImageError` naming the file for anything
    that is not a readable picture of at most ``max_pixels``."""
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - Pillow comes with matplotlib
        raise ImportError("reading pictures needs Pillow: pip install pillow") from exc
    if hasattr(path, "read"):
        where = getattr(path, "name", None) or "the picture"
    else:
        where = path
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            raise ImageError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        if not stat.S_ISREG(mode):
            what = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            raise ImageError(f"{path}: not a picture file ({what})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _decode(Image, path, where, max_pixels)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{where}: refused: {exc}") from None
    except MemoryError:
        raise ImageError(f"{where}: too large to decode in the memory available") from None
    except (OSError, ValueError, TypeError, IndexError, KeyError, EOFError, SyntaxError,
            ZeroDivisionError, OverflowError, struct.error) as exc:
        # what Pillow's decoders raise on damaged or crafted files
        raise ImageError(f"{where}: not a readable picture ({exc})") from None


_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
_ALPHA = ("LA", "La", "PA", "RGBA", "RGBa")
_ORIENTATION = 0x0112  # the EXIF tag: how a camera held the picture


def _decode(pil, path, where, max_pixels: int) -> np.ndarray:
    with pil.open(path) as img:  # reads the header only
        width, height = img.size
        if width * height > max_pixels:
            raise ImageError(f"{where}: {width}x{height} pixels, more than the "
                             f"{max_pixels} read here")
        orientation = _orientation(img)
        if img.mode in _SIXTEEN_BIT:
            img = img.convert("I")  # the same values, in a mode every Pillow resizes
        if max(width, height) > WORK_SIDE:
            img.draft(img.mode, (WORK_SIDE, WORK_SIDE))  # JPEG: decode at a smaller scale
            img.thumbnail((WORK_SIDE, WORK_SIDE))
        img.load()
        return _oriented(_gray(img, where), orientation)


def _gray(img, where) -> np.ndarray:
    """A loaded picture as grayscale 0..255 over its mode's full range: 16-bit (mode
    ``I``: 0..65535) divided by 257, floating point (mode ``F``) in 0..1 times 255 (or
    already in 0..255), alpha composited on the background its ink contrasts with,
    palettes through their colours, CIELAB by its lightness. A mode with no such reading
    is refused by name."""
    mode = img.mode
    if mode in ("I", "F"):
        a = np.asarray(img, dtype=np.float64)
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ImageError(f"{where}: a floating-point picture (mode F) holding NaN or "
                             "infinite values")
        if mode == "I" and 0 <= lo and hi <= 65535:
            return a / 257  # 16-bit: white 65535 is 255
        if mode == "F" and 0 <= lo and hi <= 1:
            return a * 255
        if mode == "F" and 0 <= lo and hi <= 255:
            return a
        kind = ("32-bit integer picture (mode I)" if mode == "I" else
                "floating-point picture (mode F)")
        scale = "0..65535" if mode == "I" else "0..1 or 0..255"
        raise ImageError(f"{where}: a {kind} with values from {lo:g} to {hi:g}; chainrule "
                         f"reads such pictures in {scale}")
    if mode == "LAB":  # its L is the lightness (its A is no alpha: a colour axis)
        return np.asarray(img.getchannel("L"), dtype=np.float64)
    if mode in _ALPHA or "transparency" in img.info:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float64)
        gray = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])
        alpha = rgba[..., 3] / 255
        ink = gray[alpha > 0.5]
        # put the ink on the background it contrasts with
        background = 0.0 if ink.size and ink.mean() > 127 else 255.0
        return gray * alpha + background * (1 - alpha)
    try:
        return np.asarray(img.convert("L"), dtype=np.float64)
    except ValueError:  # a mode Pillow has no grayscale for (LAB, HSV...)
        raise ImageError(f"{where}: mode {mode} pictures are not read here; save it as "
                         "grayscale or RGB") from None


def _orientation(img) -> int:
    """The EXIF orientation (1 to 8; 1 where there is none, or it cannot be read)."""
    try:
        with warnings.catch_warnings():  # Pillow warns of a damaged block: said below
            warnings.simplefilter("ignore")
            value = img.getexif().get(_ORIENTATION, 1)
    except (OSError, ValueError, TypeError, KeyError, IndexError, EOFError, SyntaxError,
            ZeroDivisionError, OverflowError, struct.error):
        return 1  # a damaged EXIF block: the picture as stored, as viewers show it
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _oriented(a: np.ndarray, orientation: int) -> np.ndarray:
    """``a`` turned as its EXIF ``orientation`` says it is shown (Pillow's
    ``ImageOps.exif_transpose``): 6, a phone held upright, turns it a quarter clockwise."""
    if orientation in (2, 4):
        a = a[:, ::-1] if orientation == 2 else a[::-1]
    elif orientation in (3, 6, 8):
        a = np.rot90(a, {3: 2, 6: -1, 8: 1}[orientation])
    elif orientation == 5:
        a = a.T
    elif orientation == 7:
        a = a[::-1, ::-1].T
    return np.ascontiguousarray(a)


def _resize(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32))  # mode "F"
    return np.asarray(img.resize((shape[1], shape[0]), Image.Resampling.LANCZOS),
                      dtype=np.float64)


def prepare_image(gray, shape: tuple[int, int] = (28, 28), *, box: int | None = None,
                  invert: bool | None = None) -> np.ndarray:
    """``gray`` (2-D, 0..255) as an MNIST-like float64 image of ``shape`` in [0, 1].

    ``invert=None`` inverts when the border is lighter than mid-gray (dark ink on
    light paper). The background level is subtracted and the brightest ink scaled to
    1. Unless ``gray`` already has ``shape``, the digit is cropped, fitted into a
    ``box`` (default 20/28 of the height) and centred by mass.
    """
    a = np.asarray(gray, dtype=np.float64)
    if a.ndim == 3:
        a = a[..., :3].mean(axis=-1)
    if a.ndim != 2 or min(a.shape) < 1:
        raise ImageError(f"expected a 2-D grayscale picture, got shape {a.shape}")
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if invert is None:
        invert = float(np.median(border)) > 127.5
    if invert:
        a, border = 255.0 - a, 255.0 - border
    a = np.clip(a - float(np.median(border)), 0, None)
    if a.max() <= 0:
        raise ImageError("the picture is blank: no digit found")
    a *= 1.0 / a.max()
    if a.shape == tuple(shape):
        return a
    return _fit_and_centre(a, tuple(shape), box)


INK = 0.1
"""A pixel of a prepared picture (0..1, ink bright) brighter than this is ink: the digit's
box, which :func:`prepare_image` fits to the target's 20/28, is where the ink is."""


def _fit_and_centre(a: np.ndarray, shape: tuple[int, int], box: int | None) -> np.ndarray:
    rows, cols = np.nonzero(a > INK)
    a = a[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    box = box or max(1, round(shape[0] * 20 / 28))
    scale = box / max(a.shape)
    fitted = np.clip(_resize(a, (max(1, round(a.shape[0] * scale)),
                                 max(1, round(a.shape[1] * scale)))), 0, 1)
    out = np.zeros(shape)
    h, w = fitted.shape
    total = fitted.sum()
    cy = (fitted.sum(axis=1) @ np.arange(h)) / total if total else (h - 1) / 2
    cx = (fitted.sum(axis=0) @ np.arange(w)) / total if total else (w - 1) / 2
    top = int(np.clip(round((shape[0] - 1) / 2 - cy), 0, shape[0] - h))
    left = int(np.clip(round((shape[1] - 1) / 2 - cx), 0, shape[1] - w))
    out[top:top + h, left:left + w] = fitted
    return out


def load_image(path: str | os.PathLike, shape: tuple[int, int] = (28, 28), **kwargs) -> np.ndarray:
    """:func:`read_image` then :func:`prepare_image`."""
    try:
        return prepare_image(read_image(path), shape, **kwargs)
    except ImageError as exc:
        if str(path) in str(exc):
            raise
        raise ImageError(f"{path}: {exc}") from exc


def ink_extent(gray, *, invert: bool | None = None) -> float:
    """How much of the picture the digit spans: the larger side of the box around the ink
    (as :func:`prepare_image` finds it) over the picture's larger side, 0 for a blank
    picture. :func:`prepare_image` scales every digit to the same size whatever this
    is, so a small drawing is blown up: at 0.08 (a dot on a drawing pad), the dot fills
    the digit's box as a disc."""
    a = np.asarray(gray, dtype=np.float64)
    if a.ndim == 3:
        a = a[..., :3].mean(axis=-1)
    if a.ndim != 2 or min(a.shape) < 1:
        raise ImageError(f"expected a 2-D grayscale picture, got shape {a.shape}")
    try:
        a = prepare_image(a, a.shape, invert=invert)  # the same size: only normalized
    except ImageError:  # blank
        return 0.0
    rows, cols = np.nonzero(a > INK)
    if not rows.size:
        return 0.0
    side = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
    return float(side / max(a.shape))
