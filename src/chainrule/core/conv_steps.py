"""The book's ``Convolution`` one row at a time: ``im2col`` and ``col2im`` as the lab shows them.

:func:`conv_steps` runs the convolution as the book's ``common/layers.py`` writes it,
with :mod:`chainrule.core.conv`'s own functions::

    col = im2col(x, FH, FW, stride, pad)           # (N * OH * OW, C * FH * FW)
    col_W = W.reshape(FN, -1).T                    # (C * FH * FW, FN)
    out = col @ col_W + b                          # row r: the output pixel of window r
    dout_rows = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
    dcol = dout_rows @ col_W.T                     # row r: what window r sends back
    dx = col2im(dcol, x.shape, FH, FW, stride, pad)

and checks it: ``out`` against the :class:`~chainrule.core.conv.Convolution` layer's
forward, ``dx`` against its backward and against the numerical derivative of
``L = sum(out * dout)`` (:func:`~chainrule.core.gradient.numerical_gradient`), with the
one "agree" rule (:func:`~chainrule.core.gradient.compare`).

Row ``r`` of ``col`` is the window of image ``n`` at output position ``(i, j)``, its
top-left corner at ``(i * stride, j * stride)`` of the padded image (:class:`Window`).
:func:`col2im_upto` is ``col2im`` of the first ``k`` rows only, summed into the padded
image before the padding is cut off: the sums after ``k`` steps, and how many windows
have added to each position so far. After every row, the count at a position is the
number of windows that cover it: where windows overlap, their contributions add up,
which is why ``col2im`` writes ``+=`` and not ``=``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chainrule.core.conv import Convolution, col2im, conv_output_size, im2col
from chainrule.core.gradient import ParamCheck, compare, numerical_gradient

RTOL, FLOOR = 1e-5, 1e-7
"""The gradient check's rule: ``|a - b| <= RTOL * max(|a|, |b|, FLOOR)`` (float64)."""


@dataclass
class Window:
    """Row ``row`` of ``col``: image ``n``, output position ``(i, j)``, the window's
    top-left corner ``(top, left)`` in the padded image."""

    row: int
    n: int
    i: int
    j: int
    top: int
    left: int


@dataclass
class ConvSteps:
    """What :func:`conv_steps` computed; arrays in float64."""

    x: np.ndarray  # (N, C, H, W)
    W: np.ndarray  # (FN, C, FH, FW)
    b: np.ndarray  # (FN,)
    stride: int
    pad: int
    padded: np.ndarray  # (N, C, H + 2 pad, W + 2 pad): what the windows slide over
    col: np.ndarray  # im2col(x): (N * OH * OW, C * FH * FW)
    col_W: np.ndarray  # W.reshape(FN, -1).T: (C * FH * FW, FN)
    product: np.ndarray  # col @ col_W + b: (N * OH * OW, FN)
    out: np.ndarray  # Convolution(W, b).forward(x): (N, FN, OH, OW)
    windows: list[Window]
    dout: np.ndarray  # (N, FN, OH, OW)
    dout_rows: np.ndarray  # dout as rows, one per window: (N * OH * OW, FN)
    dcol: np.ndarray  # dout_rows @ col_W.T: (N * OH * OW, C * FH * FW)
    coverage: np.ndarray  # (N, C, H + 2 pad, W + 2 pad): how many windows cover each
    dx: np.ndarray  # col2im(dcol): (N, C, H, W)
    dx_layer: np.ndarray  # Convolution(W, b).backward(dout)
    dx_numerical: np.ndarray  # central differences of sum(out * dout)
    forward_check: ParamCheck  # product (as out) against the layer's forward
    layer_check: ParamCheck  # dx against the layer's backward
    numerical_check: ParamCheck  # dx against the numerical derivative

    @property
    def out_shape(self) -> tuple[int, int]:
        return self.out.shape[2], self.out.shape[3]


def windows_of(x_shape, filter_h: int, filter_w: int, stride: int = 1,
               pad: int = 0) -> list[Window]:
    """The window of every row of ``im2col`` for images of ``x_shape``, in its row order
    (image, then output row, then output column)."""
    n, _, h, w = x_shape
    oh = conv_output_size(h, filter_h, stride, pad)
    ow = conv_output_size(w, filter_w, stride, pad)
    return [Window(r, r // (oh * ow), r // ow % oh, r % ow, r // ow % oh * stride,
                   r % ow * stride) for r in range(n * oh * ow)]


def conv_steps(x, W, b, dout=None, *, stride: int = 1, pad: int = 0,
               check: bool = True) -> ConvSteps:
    """Forward and backward of ``Convolution(W, b, stride, pad)`` on ``x`` the book's way
    (see the module's docstring). ``dout`` defaults to ones; ``check=False`` skips the
    numerical derivative (its ``dx_numerical`` is then NaN)."""
    x = np.array(x, dtype=np.float64)
    W = np.array(W, dtype=np.float64)
    b = np.broadcast_to(np.asarray(b, dtype=np.float64), (W.shape[0],)).copy()
    fn, _, fh, fw = W.shape
    col = im2col(x, fh, fw, stride, pad)
    col_W = W.reshape(fn, -1).T
    product = col @ col_W + b
    layer = Convolution(W, b, stride, pad)
    out = layer.forward(x)
    n, oh, ow = len(x), out.shape[2], out.shape[3]
    dout = np.ones_like(out) if dout is None else np.array(dout, dtype=np.float64)
    if dout.shape != out.shape:
        raise ValueError(f"conv_steps: expected dout of shape {out.shape}, got {dout.shape}")
    dout_rows = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
    dcol = dout_rows @ col_W.T
    dx = col2im(dcol, x.shape, fh, fw, stride, pad)
    dx_layer = layer.backward(dout)
    if check:
        probe = Convolution(W, b, stride, pad)
        dx_numerical = numerical_gradient(lambda _: float(np.sum(probe.forward(x) * dout)), x)
    else:
        dx_numerical = np.full_like(x, np.nan)
    _, counts = col2im_upto(dcol, x.shape, fh, fw, stride, pad, len(col))
    by_window = product.reshape(n, oh, ow, fn).transpose(0, 3, 1, 2)
    return ConvSteps(
        x, W, b, stride, pad, _pad(x, pad), col, col_W, product, out,
        windows_of(x.shape, fh, fw, stride, pad), dout, dout_rows, dcol, counts, dx,
        dx_layer, dx_numerical, compare("out", by_window, out, RTOL, FLOOR),
        compare("dx", dx, dx_layer, RTOL, FLOOR),
        compare("dx", dx, dx_numerical, RTOL, FLOOR))


def col2im_upto(dcol, x_shape, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0,
                upto: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``col2im`` of the first ``upto`` rows of ``dcol`` (all by default), into the
    padded image ``(N, C, H + 2 pad, W + 2 pad)`` before its padding is cut off; and
    ``col2im`` of as many rows of ones: how many windows have added to each position.
    (``col2im`` of an image padded by ``pad`` with ``pad=0`` is ``col2im`` before the
    cut: the same windows, the same sums.)"""
    dcol = np.asarray(dcol, dtype=np.float64)
    rows = len(dcol)
    upto = rows if upto is None else int(upto)
    if not 0 <= upto <= rows:
        raise ValueError(f"col2im_upto: upto must be in 0..{rows}, got {upto}")
    n, c, h, w = (int(v) for v in x_shape)
    padded = (n, c, h + 2 * pad, w + 2 * pad)
    taken = (np.arange(rows) < upto)[:, np.newaxis]
    sums = col2im(np.where(taken, dcol, 0.0), padded, filter_h, filter_w, stride, 0)
    counts = col2im(np.broadcast_to(taken, dcol.shape).astype(np.float64), padded,
                    filter_h, filter_w, stride, 0)
    return sums, counts.astype(np.int64)


def _pad(x: np.ndarray, pad: int) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x.copy()
