"""Chapter 7's convolution arithmetic: ``im2col`` unrolls image patches into rows.

Shapes follow the book: images are ``(N, C, H, W)``, filters ``(FN, C, FH, FW)``; a
``FH x FW`` window moved by ``stride`` over an image padded by ``pad`` zeros gives
``OH x OW`` positions (:func:`conv_output_size`); ``im2col`` returns one row per
(image, position), ``(N * OH * OW, C * FH * FW)``, its columns in ``(C, FH, FW)`` order,
so that ``im2col(x) @ W.reshape(FN, -1).T`` is the convolution.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> int:
    """``(input_size + 2 * pad - filter_size) // stride + 1``, as in the book."""
    return (input_size + 2 * pad - filter_size) // stride + 1


def _output_shape(shape, filter_h: int, filter_w: int, stride: int, pad: int) -> tuple[int, int]:
    if len(shape) != 4:
        raise ValueError(f"im2col: expected input of shape (N, C, H, W), got {tuple(shape)}")
    for what, v, low in (("filter_h", filter_h, 1), ("filter_w", filter_w, 1),
                         ("stride", stride, 1), ("pad", pad, 0)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < low:
            raise ValueError(f"im2col: {what} must be an integer >= {low}, got {v!r}")
    _, _, h, w = shape
    oh = conv_output_size(h, filter_h, stride, pad)
    ow = conv_output_size(w, filter_w, stride, pad)
    if oh < 1 or ow < 1:
        raise ValueError(f"im2col: a {filter_h}x{filter_w} filter does not fit a {h}x{w} "
                         f"input with pad {pad}")
    return oh, ow


def im2col(input_data, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """``(N, C, H, W)`` images to ``(N * OH * OW, C * FH * FW)`` rows of patches."""
    x = np.asarray(input_data)
    oh, ow = _output_shape(x.shape, filter_h, filter_w, stride, pad)
    n, c = x.shape[:2]
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    # windows: (N, C, H', W', FH, FW) views, then every stride-th position
    windows = sliding_window_view(x, (filter_h, filter_w), axis=(2, 3))
    windows = windows[:, :, : (oh - 1) * stride + 1 : stride, : (ow - 1) * stride + 1 : stride]
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * filter_h * filter_w)


def col2im(col, input_shape, filter_h: int, filter_w: int, stride: int = 1,
           pad: int = 0) -> np.ndarray:
    """The adjoint of :func:`im2col`: rows of patches summed back into ``input_shape``
    images (overlapping windows add up), padding cut off."""
    col = np.asarray(col)
    n, c, h, w = (int(v) for v in input_shape)
    oh, ow = _output_shape((n, c, h, w), filter_h, filter_w, stride, pad)
    expected = (n * oh * ow, c * filter_h * filter_w)
    if col.shape != expected:
        raise ValueError(f"col2im: expected col of shape {expected}, got {col.shape}")
    patches = col.reshape(n, oh, ow, c, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1), dtype=col.dtype)
    for y in range(filter_h):
        y_end = y + stride * oh
        for x in range(filter_w):
            x_end = x + stride * ow
            img[:, :, y:y_end:stride, x:x_end:stride] += patches[:, :, y, x]
    return img[:, :, pad:h + pad, pad:w + pad]
