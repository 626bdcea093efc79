"""Chapter 7's convolution: ``im2col``, ``col2im``, and the ``Convolution`` and ``Pooling`` layers.

Shapes follow the book: images are ``(N, C, H, W)``, filters ``(FN, C, FH, FW)``; a
``FH x FW`` window moved by ``stride`` over an image padded by ``pad`` zeros gives
``OH x OW`` positions (:func:`conv_output_size`); ``im2col`` returns one row per
(image, position), ``(N * OH * OW, C * FH * FW)``, its columns in ``(C, FH, FW)`` order,
so that ``im2col(x) @ W.reshape(FN, -1).T`` is the convolution.

The layers compute the same products image by image instead, on patches laid out as
``(N, C * FH * FW, OH * OW)`` (:func:`patches`): the copy that makes them reads whole
rows of the image, and ``W.reshape(FN, -1) @ patches`` comes out as ``(N, FN, OH, OW)``
with no transpose. :func:`fold` is its adjoint (``col2im`` in that layout).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from chainrule.core import grid
from chainrule.core.base import Layer
from chainrule.core.parallel import split


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> int:
    """``(input_size + 2 * pad - filter_size) // stride + 1``, as in the book."""
    return (input_size + 2 * pad - filter_size) // stride + 1


def _output_shape(shape, filter_h: int, filter_w: int, stride: int, pad: int,
                  who: str = "im2col") -> tuple[int, int]:
    if len(shape) != 4:
        raise ValueError(f"{who}: expected input of shape (N, C, H, W), got {tuple(shape)}")
    _check_ints(who, filter_h=filter_h, filter_w=filter_w, stride=stride, pad=pad)
    _, _, h, w = shape
    oh = conv_output_size(h, filter_h, stride, pad)
    ow = conv_output_size(w, filter_w, stride, pad)
    if oh < 1 or ow < 1:
        raise ValueError(f"{who}: a {filter_h}x{filter_w} window does not fit a {h}x{w} "
                         f"input with pad {pad}")
    return oh, ow


def _check_ints(who: str, **values) -> None:
    for what, v in values.items():
        low = 0 if what == "pad" else 1
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < low:
            raise ValueError(f"{who}: {what} must be an integer >= {low}, got {v!r}")


def _windows(x: np.ndarray, filter_h: int, filter_w: int, stride: int, oh: int,
             ow: int) -> np.ndarray:
    """The ``(N, C, OH, OW, FH, FW)`` view of every window of the (already padded) ``x``."""
    windows = sliding_window_view(x, (filter_h, filter_w), axis=(2, 3))
    return windows[:, :, : (oh - 1) * stride + 1 : stride, : (ow - 1) * stride + 1 : stride]


def _padded(x: np.ndarray, pad: int, fill=0) -> np.ndarray:
    if not pad:
        return x
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill)


def im2col(input_data, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """``(N, C, H, W)`` images to ``(N * OH * OW, C * FH * FW)`` rows of patches."""
    x = np.asarray(input_data)
    oh, ow = _output_shape(x.shape, filter_h, filter_w, stride, pad)
    n, c = x.shape[:2]
    windows = _windows(_padded(x, pad), filter_h, filter_w, stride, oh, ow)
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
    patches6 = col.reshape(n, oh, ow, c, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    return _fold6(patches6, (n, c, h, w), stride, pad)


def patches(x: np.ndarray, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0,
            out: np.ndarray | None = None) -> np.ndarray:
    """``(N, C, H, W)`` images to ``(N, C * FH * FW, OH * OW)``: image ``n``'s patches as
    columns (``im2col``'s rows, transposed per image). ``out`` is filled if it has that
    shape and dtype (a buffer kept between calls), else a new array is made."""
    n, c = x.shape[:2]
    oh, ow = _output_shape(x.shape, filter_h, filter_w, stride, pad, "patches")
    shape = (n, c * filter_h * filter_w, oh * ow)
    if out is None or out.shape != shape or out.dtype != x.dtype:
        out = np.empty(shape, dtype=x.dtype)
    windows = _windows(_padded(x, pad), filter_h, filter_w, stride, oh, ow)
    np.copyto(out.reshape(n, c, filter_h, filter_w, oh, ow), windows.transpose(0, 1, 4, 5, 2, 3))
    return out


def fold(cols: np.ndarray, input_shape, filter_h: int, filter_w: int, stride: int = 1,
         pad: int = 0) -> np.ndarray:
    """The adjoint of :func:`patches`: ``(N, C * FH * FW, OH * OW)`` summed back into
    ``(N, C, H, W)`` images, padding cut off."""
    n, c, h, w = input_shape
    oh, ow = _output_shape(input_shape, filter_h, filter_w, stride, pad, "fold")
    return _fold6(cols.reshape(n, c, filter_h, filter_w, oh, ow), input_shape, stride, pad)


def _fold6(patches6: np.ndarray, input_shape, stride: int, pad: int) -> np.ndarray:
    """``(N, C, FH, FW, OH, OW)`` window values added up at the pixels they came from."""
    n, c, h, w = input_shape
    _, _, filter_h, filter_w, oh, ow = patches6.shape
    img = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=patches6.dtype)
    for y in range(filter_h):
        for x in range(filter_w):
            img[:, :, y : y + stride * oh : stride, x : x + stride * ow : stride] += \
                patches6[:, :, y, x]
    return img[:, :, pad : h + pad, pad : w + pad] if pad else img


def _as_batch(layer: Layer, x) -> tuple[np.ndarray, bool]:
    """``x`` as ``(N, C, H, W)``; a single ``(C, H, W)`` image gets ``N = 1`` (and True)."""
    x = np.asarray(x)
    if x.ndim == 3:
        return x[np.newaxis], True
    if x.ndim != 4:
        raise ValueError(f"{type(layer).__name__}.forward: expected images of shape "
                         f"(N, C, H, W) or one (C, H, W), got {x.shape}")
    return x, False


def _check_dout(layer: Layer, expected: tuple, dout) -> np.ndarray:
    dout = np.asarray(dout)
    if layer._single:
        expected = expected[1:]
    if dout.shape != tuple(expected):
        raise ValueError(f"{type(layer).__name__}.backward: expected shape {tuple(expected)}, "
                         f"got {dout.shape}")
    return dout[np.newaxis] if layer._single else dout


SMALL_K = 64
"""Below this many terms per output (a first layer's ``C * FH * FW + 1``: 10 for 3x3
filters on one channel), ``dW`` is made image by image and summed: a product of a few
rows by a few columns over thousands of terms ran at a third of the speed."""


class Convolution(Layer):
    """``out[n, f] = sum_c W[f, c] (x) x[n, c] + b[f]`` (cross-correlation, as in the book).

    With ``P[n]`` the ``(C * FH * FW, OH * OW)`` patches of image ``n`` (:func:`patches`)
    and ``Wm = W.reshape(FN, -1)``: ``out[n] = Wm @ P[n] + b``; backward
    ``dW = sum_n dout[n] @ P[n].T``, ``db = sum over n, y, x of dout``,
    ``dx = fold(Wm.T @ dout[n])`` (:func:`fold`, the adjoint of :func:`patches`).

    The bias rides along in the products: ``P[n]`` is kept with a last row of ones and
    ``Wm`` with a last column ``b``, so ``out`` comes out biased and ``db`` is the last
    column of ``dW``'s product (no separate pass over the large ``out`` and ``dout``).
    The patches are written into the same buffer at every forward of the same shape.
    Both directions work image by image, so the batch is split between the cores
    (:func:`chainrule.core.parallel.split`) with the same bits on any number of them; the
    ``dW`` terms are summed over the batch afterwards, in order.

    ``x`` is ``(N, C, H, W)``, or one ``(C, H, W)`` image. ``W`` ``(FN, C, FH, FW)`` and
    ``b`` ``(FN,)`` (or a number shared by every filter; ``db`` is ``(FN,)`` either way)
    are used by reference, so an in-place update reaches the layer.
    """

    def __init__(self, W, b, stride: int = 1, pad: int = 0):
        if np.ndim(W) != 4 or np.shape(b) not in ((np.shape(W)[0],), ()):
            raise ValueError(f"Convolution: expected W of shape (FN, C, FH, FW) and b of shape "
                             f"(FN,) (or one number for every filter, as the book's "
                             f"apply_filter.py passes), got W {np.shape(W)} and b {np.shape(b)}")
        _check_ints("Convolution", stride=stride, pad=pad)
        self.W, self.b = W, b
        self.stride, self.pad = int(stride), int(pad)
        self.x_shape = None
        self.cols = None  # stride > 1: the patches of the last forward, (N, C * FH * FW, OH * OW)
        self._ones = None  # the buffer cols lives in, with its row of ones
        self._grid = None  # stride 1: the last forward's geometry (chainrule.core.grid)
        self._flat = None  # and its images, padded, (N, C, Hp * Wp)
        self.dW = None
        self.db = None
        self._single = False

    def forward(self, x):
        x, self._single = _as_batch(self, x)
        fn, c, fh, fw = self.W.shape
        if x.shape[1] != c:
            raise ValueError(f"Convolution.forward: expected {c} input channel(s), got images "
                             f"of shape {x.shape}")
        oh, ow = _output_shape(x.shape, fh, fw, self.stride, self.pad, "Convolution.forward")
        n, k = len(x), c * fh * fw
        dtype = np.result_type(self.W, self.b, x)
        wb = np.empty((fn, k + 1), dtype=dtype)
        wb[:, :k] = self.W.reshape(fn, k)
        wb[:, k] = self.b
        out = np.empty((n, fn, oh, ow), dtype=dtype)
        self.x_shape = x.shape
        if self.stride == 1 and k + 1 >= SMALL_K:
            self._grid_forward(x, wb, out)
        else:
            self._grid = None
            self._image_forward(x, wb, out)
        return out[0] if self._single else out

    def _grid_forward(self, x: np.ndarray, wb: np.ndarray, out: np.ndarray) -> None:
        """Stride 1: on the padded grid (:mod:`chainrule.core.grid`), a few images at a
        time; the padded images are kept for ``backward``."""
        n, c, h, w = x.shape
        _, _, fh, fw = self.W.shape
        g = self._grid = grid.Grid(c, h, w, fh, fw, self.pad, self.pad)
        as_is = not g.padded and x.flags.c_contiguous and x.dtype == out.dtype
        if as_is:
            self._flat = x.reshape(n, c, h * w)  # read only
        else:
            shape = (n, c, g.hp * g.wp)
            if self._flat is None or self._flat.shape != shape or self._flat.dtype != out.dtype:
                self._flat = np.empty(shape, dtype=out.dtype)
        flat, rows = self._flat, g.k + 1

        def images(a: int, b: int) -> None:
            if not as_is:
                grid.pad_into(x[a:b], flat[a:b], g)
            cols = np.empty((rows, b - a, g.length), dtype=out.dtype)
            cols[g.k] = 1  # the bias's row
            grid.patches_into(flat[a:b], g, cols)
            grid.product(wb, cols, g, out[a:b])

        split(n, images, size=(rows + len(wb)) * g.length,
              piece=g.per_piece(rows, len(wb), out.itemsize))

    def _image_forward(self, x: np.ndarray, wb: np.ndarray, out: np.ndarray) -> None:
        """Strides above 1, and few terms per output (a first layer): patches image by
        image (:func:`patches`), kept for ``backward``."""
        fn, c, fh, fw = self.W.shape
        n, k = len(x), c * fh * fw
        oh, ow = out.shape[2:]
        shape = (n, k + 1, oh * ow)
        if self._ones is None or self._ones.shape != shape or self._ones.dtype != x.dtype:
            self._ones = np.empty(shape, dtype=x.dtype)
            self._ones[:, k] = 1
        cols, s, p = self._ones[:, :k], self.stride, self.pad
        flat_out = out.reshape(n, fn, oh * ow)

        def images(a: int, b: int) -> None:  # images a..b-1: their patches, their product
            patches(x[a:b], fh, fw, s, p, out=cols[a:b])
            np.matmul(wb, self._ones[a:b], out=flat_out[a:b])

        split(n, images, size=(k + fn) * oh * ow)
        self.cols = cols

    def backward(self, dout, *, input_grad: bool = True):
        """Sets ``dW`` and ``db``; returns ``dx``, or None with ``input_grad=False``
        (a network's first layer: nothing uses its ``dx``)."""
        n = self.x_shape[0]
        fn, _, fh, fw = self.W.shape
        oh, ow = _output_shape(self.x_shape, fh, fw, self.stride, self.pad)
        d = _check_dout(self, (n, fn, oh, ow), dout)
        dwb = self._grid_dw(d) if self._grid is not None else self._image_dw(d)
        dx = None
        if input_grad:
            dx = self._grid_dx(d) if self.stride == 1 else self._image_dx(d)
        self.dW = np.ascontiguousarray(dwb[:, :-1]).reshape(self.W.shape)
        self.db = dwb[:, -1].copy()
        if dx is None:
            return None
        return dx[0] if self._single else dx

    def _grid_dw(self, d: np.ndarray) -> np.ndarray:
        """``[dW | db]`` as ``(FN, C * FH * FW + 1)``: per piece of images, the patches
        (again, from the kept padded images) times ``d``; the pieces' sums added up in
        order afterwards."""
        g, flat, n, fn = self._grid, self._flat, len(d), self.W.shape[0]
        rows = g.k + 1
        dtype = np.result_type(flat, d)
        step = g.per_piece(rows, fn, dtype.itemsize)
        parts = np.empty((-(-n // step), rows, fn), dtype=dtype)

        def images(a: int, b: int) -> None:
            m = b - a
            cols = np.empty((rows, m, g.length), dtype=flat.dtype)
            cols[g.k] = 1
            grid.patches_into(flat[a:b], g, cols)
            dg = grid.on_grid(d[a:b], g)
            if rows >= SMALL_K:
                np.matmul(cols.reshape(rows, -1), dg.T, out=parts[a // step])
            else:  # a long sum into a few numbers: image by image is faster
                per_image = np.matmul(cols.transpose(1, 0, 2),
                                      dg.reshape(fn, m, -1).transpose(1, 2, 0))
                np.sum(per_image, axis=0, out=parts[a // step])

        split(n, images, size=(rows + fn) * g.length, piece=step)
        return parts.sum(axis=0).T

    def _grid_dx(self, d: np.ndarray) -> np.ndarray:
        """``dx`` as a stride-1 convolution itself: ``d`` padded by ``FH - 1 - pad`` rows and
        ``FW - 1 - pad`` columns, correlated with the filters turned by 180 degrees and
        their two channel axes swapped (a larger pad: the padded input's gradient, cut)."""
        n, c, h, w = self.x_shape
        fn, _, fh, fw = self.W.shape
        p = self.pad
        cut = p > min(fh, fw) - 1
        qh, qw = (fh - 1, fw - 1) if cut else (fh - 1 - p, fw - 1 - p)
        g = grid.Grid(fn, *d.shape[2:], fh, fw, qh, qw)
        dtype = np.result_type(self.W, d)
        turned = self.W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(c, g.k).astype(dtype)
        dx = np.empty((n, c, g.oh, g.ow), dtype=dtype)

        def images(a: int, b: int) -> None:
            flat = np.empty((b - a, fn, g.hp * g.wp), dtype=dtype)
            grid.pad_into(d[a:b], flat, g)
            cols = np.empty((g.k, b - a, g.length), dtype=dtype)
            grid.patches_into(flat, g, cols)
            grid.product(turned, cols, g, dx[a:b])

        split(n, images, size=(g.k + c) * g.length, piece=g.per_piece(g.k, c, dtype.itemsize))
        return dx[:, :, p:p + h, p:p + w] if cut else dx

    def _image_dw(self, d: np.ndarray) -> np.ndarray:
        """``[dW | db]`` after :meth:`_image_forward`: image by image, summed in order."""
        n, p = self.x_shape[0], self.cols.shape[2]
        fn = self.W.shape[0]
        d = d.reshape(n, fn, p)
        per_image = np.empty((n, fn, self._ones.shape[1]), dtype=np.result_type(d, self._ones))

        def images(a: int, b: int) -> None:
            np.matmul(d[a:b], self._ones[a:b].transpose(0, 2, 1), out=per_image[a:b])

        split(n, images, size=fn * self._ones.shape[1] * p)
        return per_image.sum(axis=0)  # over the batch in order, on one thread

    def _image_dx(self, d: np.ndarray) -> np.ndarray:
        """``dx`` for strides above 1: ``fold(Wm.T @ dout[n])`` image by image."""
        n, c, _, _ = self.x_shape
        fn, _, fh, fw = self.W.shape
        d = d.reshape(n, fn, -1)
        dx = np.empty(self.x_shape, dtype=np.result_type(self.W, d))

        def images(a: int, b: int) -> None:
            dcols = np.matmul(self.W.reshape(fn, -1).T, d[a:b])
            dx[a:b] = fold(dcols, (b - a, *self.x_shape[1:]), fh, fw, self.stride, self.pad)

        split(n, images, size=fn * c * fh * fw * d.shape[2], blocks=True)
        return dx


class Pooling(Layer):
    """Max pooling: ``out[n, c, i, j] = max`` of the ``pool_h x pool_w`` window at
    ``(i * stride, j * stride)``; ``dx`` gets ``dout[n, c, i, j]`` at that window's
    maximum and 0 elsewhere (summed where windows overlap).

    A window's maximum is its first in row-major order when several are equal, as the
    book's ``argmax`` picks. Padding counts as ``-inf`` (never a maximum, as in
    PyTorch; the book pads with zeros, which a window of negative numbers would pick),
    so ``pad`` must be smaller than the window. ``stride`` defaults to 2, as in the
    book's repository (``common/layers.py``); its scripts pass it explicitly.

    ``x`` is ``(N, C, H, W)``, or one ``(C, H, W)`` image; the output has ``x``'s dtype.
    Both directions go a few images at a time (what stays in cache), split between the
    cores (:func:`chainrule.core.parallel.split`).
    """

    def __init__(self, pool_h: int, pool_w: int, stride: int = 2, pad: int = 0):
        _check_ints("Pooling", pool_h=pool_h, pool_w=pool_w, stride=stride, pad=pad)
        if pad >= pool_h or pad >= pool_w:
            raise ValueError(f"Pooling: pad must be smaller than the {pool_h}x{pool_w} "
                             f"window, got {pad}")
        self.pool_h, self.pool_w = int(pool_h), int(pool_w)
        self.stride, self.pad = int(stride), int(pad)
        self.x_shape = None
        self.arg_max = None  # for each output, its window's maximum (row-major index)
        self._single = False

    def _offsets(self, oh: int, ow: int):
        """For each window position ``(a, b)``: the slices of the padded input it reads."""
        s = self.stride
        for a in range(self.pool_h):
            for b in range(self.pool_w):
                yield (slice(None), slice(None), slice(a, a + s * oh, s), slice(b, b + s * ow, s))

    def forward(self, x):
        x, self._single = _as_batch(self, x)
        oh, ow = _output_shape(x.shape, self.pool_h, self.pool_w, self.stride, self.pad,
                               "Pooling.forward")
        n, c = x.shape[:2]
        size = self.pool_h * self.pool_w
        out = np.empty((n, c, oh, ow), dtype=x.dtype)
        arg = np.empty(out.shape, dtype=np.uint8 if size <= 256 else np.intp)
        split(n, lambda a, b: self._max(x[a:b], out[a:b], arg[a:b]), size=c * oh * ow * size,
              blocks=True)
        self.x_shape, self.arg_max = x.shape, arg
        return out[0] if self._single else out

    def _max(self, x: np.ndarray, result: np.ndarray, arg: np.ndarray) -> None:
        """``result`` and ``arg``: each window's maximum in ``x`` and its position."""
        xp = _padded(x, self.pad, _lowest(x.dtype))
        windows = self._offsets(*result.shape[2:])
        # out and new swap after every window but the first: the last maximum lands in result
        out, new = result, np.empty_like(result)
        if self.pool_h * self.pool_w % 2 == 0:
            out, new = new, out
        np.copyto(out, xp[next(windows)])
        arg[...] = 0
        larger, code = np.empty(out.shape, dtype=bool), np.empty_like(arg)
        # Each window position's strided slice is read once: new = max(out, v), and v was
        # strictly larger exactly where new > out (compared in contiguous arrays). Branch-
        # free (np.where on random masks mispredicts a branch per element): positions come
        # in increasing order, so the one that took over last is arg = max(arg, k * larger).
        for k, window in enumerate(windows, 1):
            np.maximum(out, xp[window], out=new)
            np.greater(new, out, out=larger)
            out, new = new, out
            np.multiply(larger, arg.dtype.type(k), out=code)
            np.maximum(arg, code, out=arg)

    def backward(self, dout):
        n, c, h, w = self.x_shape
        oh, ow = self.arg_max.shape[2:]
        d = _check_dout(self, (n, c, oh, ow), dout)
        if not np.issubdtype(d.dtype, np.floating):
            d = d.astype(np.float64)
        p, s = self.pad, self.stride
        # windows that do not overlap write each input pixel once; tiling ones all of them
        disjoint = s >= self.pool_h and s >= self.pool_w
        tiled = disjoint and p == 0 and (h, w) == (oh * s, ow * s) and s == self.pool_h == \
            self.pool_w
        shape = (n, c, h + 2 * p, w + 2 * p)
        dx = np.empty(shape, dtype=d.dtype) if tiled else np.zeros(shape, dtype=d.dtype)
        finite = bool(np.isfinite(d).all())  # d * mask would turn an inf into NaNs

        def images(a: int, b: int) -> None:  # images a..b-1
            arg, dxp, da = self.arg_max[a:b], dx[a:b], d[a:b]
            picked = np.empty(arg.shape, dtype=bool)
            for k, window in enumerate(self._offsets(oh, ow)):
                np.equal(arg, k, out=picked)
                if disjoint and finite:
                    np.multiply(da, picked, out=dxp[window])
                    continue
                part = da * picked if finite else np.where(picked, da, da.dtype.type(0))
                if disjoint:
                    dxp[window] = part
                else:
                    dxp[window] += part

        split(n, images, size=c * h * w, blocks=True)
        dx = dx[:, :, p : h + p, p : w + p] if p else dx
        return dx[0] if self._single else dx


def _lowest(dtype: np.dtype):
    """The value padding takes in max pooling: below every value of ``dtype``."""
    if np.issubdtype(dtype, np.floating):
        return -np.inf
    if np.issubdtype(dtype, np.integer):
        return np.iinfo(dtype).min
    return 0
