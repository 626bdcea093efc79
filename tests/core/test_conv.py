"""Chapter 7's convolution arithmetic and layers against direct loops and numerical gradients."""

import contextlib

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chainrule.core import conv, grid
from chainrule.core.conv import (
    Convolution,
    Pooling,
    col2im,
    conv_output_size,
    fold,
    im2col,
    patches,
)
from chainrule.core.gradient import numerical_gradient

# ---------------------------------------------------------------- references: plain loops


def conv_loop(x, W, b, stride, pad):
    """The convolution as its definition: one output at a time."""
    n, c, h, w = x.shape
    fn, _, fh, fw = W.shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    xp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=x.dtype)
    xp[:, :, pad:pad + h, pad:pad + w] = x
    out = np.zeros((n, fn, oh, ow))
    for i in range(n):
        for f in range(fn):
            for y in range(oh):
                for z in range(ow):
                    window = xp[i, :, y * stride:y * stride + fh, z * stride:z * stride + fw]
                    out[i, f, y, z] = np.sum(window * W[f]) + b[f]
    return out


def pool_loop(x, ph, pw, stride, pad, dout=None):
    """Max pooling as its definition: each window scanned in row-major order, the first
    largest value wins (padding never does); with ``dout``, also the input gradient."""
    n, c, h, w = x.shape
    oh, ow = (h + 2 * pad - ph) // stride + 1, (w + 2 * pad - pw) // stride + 1
    out = np.zeros((n, c, oh, ow), dtype=x.dtype)
    dx = np.zeros(x.shape)
    for i in range(n):
        for k in range(c):
            for y in range(oh):
                for z in range(ow):
                    best = None
                    for a in range(ph):
                        for bb in range(pw):
                            r, s = y * stride + a - pad, z * stride + bb - pad
                            if 0 <= r < h and 0 <= s < w and (best is None or x[i, k, r, s] > x[i, k, best[0], best[1]]):
                                best = (r, s)
                    out[i, k, y, z] = x[i, k, best[0], best[1]]
                    if dout is not None:
                        dx[i, k, best[0], best[1]] += dout[i, k, y, z]
    return out, dx


def im2col_loop(x, fh, fw, stride, pad):
    n, c, h, w = x.shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    rows = [xp[i, :, y * stride:y * stride + fh, z * stride:z * stride + fw].ravel()
            for i in range(n) for y in range(oh) for z in range(ow)]
    return np.array(rows)


# ---------------------------------------------------------------- shapes to try

geometry = st.fixed_dictionaries({
    "n": st.integers(1, 3), "c": st.integers(1, 3), "h": st.integers(1, 7),
    "w": st.integers(1, 7), "fh": st.integers(1, 4), "fw": st.integers(1, 4),
    "stride": st.integers(1, 3), "pad": st.integers(0, 2), "fn": st.integers(1, 3),
    "seed": st.integers(0, 2**32 - 1)})


def fits(g) -> bool:
    return all(conv_output_size(s, f, g["stride"], g["pad"]) >= 1
               for s, f in ((g["h"], g["fh"]), (g["w"], g["fw"])))


# ---------------------------------------------------------------- im2col, col2im


def test_im2col_book_shapes():
    x = np.random.default_rng(0).random((10, 3, 7, 7))
    assert im2col(x, 5, 5, stride=1, pad=0).shape == (90, 75)
    assert im2col(x[:1], 5, 5).shape == (9, 75)


@settings(max_examples=40, deadline=None)
@given(geometry)
def test_im2col_matches_loop_and_col2im_is_its_adjoint(g):
    assume(fits(g))
    rng = np.random.default_rng(g["seed"])
    x = rng.standard_normal((g["n"], g["c"], g["h"], g["w"]))
    args = (g["fh"], g["fw"], g["stride"], g["pad"])
    col = im2col(x, *args)
    np.testing.assert_array_equal(col, im2col_loop(x, *args))
    r = rng.standard_normal(col.shape)  # <im2col(x), r> == <x, col2im(r)>
    assert np.sum(col * r) == pytest.approx(np.sum(x * col2im(r, x.shape, *args)))
    p = patches(x, *args)  # the layers' layout: im2col's rows, per image, as columns
    np.testing.assert_array_equal(p, col.reshape(g["n"], -1, col.shape[1]).transpose(0, 2, 1))
    q = rng.standard_normal(p.shape)
    assert np.sum(p * q) == pytest.approx(np.sum(x * fold(q, x.shape, *args)))


# ---------------------------------------------------------------- Convolution


@settings(max_examples=40, deadline=None)
@given(geometry)
def test_convolution_matches_loop_and_numerical_gradient(g):
    assume(fits(g))
    rng = np.random.default_rng(g["seed"])
    x = rng.standard_normal((g["n"], g["c"], g["h"], g["w"]))
    W = rng.standard_normal((g["fn"], g["c"], g["fh"], g["fw"]))
    b = rng.standard_normal(g["fn"])
    layer = Convolution(W, b, g["stride"], g["pad"])
    out = layer.forward(x)
    np.testing.assert_allclose(out, conv_loop(x, W, b, g["stride"], g["pad"]), atol=1e-12)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)

    def f(_):
        return float(np.sum(Convolution(W, b, g["stride"], g["pad"]).forward(x) * dout))

    for got, wrt in ((dx, x), (layer.dW, W), (layer.db, b)):
        np.testing.assert_allclose(got, numerical_gradient(f, wrt), rtol=1e-6, atol=1e-8)


@contextlib.contextmanager
def on_the_grid(piece_bytes: int = 1):
    """Every stride-1 convolution on the padded grid (whatever its size), in pieces of
    one image (``piece_bytes`` of cache): the path DeepConvNet's layers take."""
    saved = conv.SMALL_K, grid.CACHE_BYTES
    conv.SMALL_K, grid.CACHE_BYTES = 0, piece_bytes
    try:
        yield
    finally:
        conv.SMALL_K, grid.CACHE_BYTES = saved


@settings(max_examples=40, deadline=None)
@given(geometry, st.sampled_from([1, 4096]))
def test_convolution_on_the_grid_matches_loop_and_numerical_gradient(g, piece_bytes):
    g = {**g, "stride": 1, "pad": g["pad"] + 2 * (g["seed"] % 2)}  # pads 0..4: some cut
    assume(fits(g))
    rng = np.random.default_rng(g["seed"])
    x = rng.standard_normal((g["n"], g["c"], g["h"], g["w"]))
    W = rng.standard_normal((g["fn"], g["c"], g["fh"], g["fw"]))
    b = rng.standard_normal(g["fn"])
    with on_the_grid(piece_bytes):
        layer = Convolution(W, b, 1, g["pad"])
        out = layer.forward(x)
        assert layer._grid is not None
        np.testing.assert_allclose(out, conv_loop(x, W, b, 1, g["pad"]), atol=1e-12)
        dout = rng.standard_normal(out.shape)
        dx = layer.backward(dout)

        def f(_):
            return float(np.sum(Convolution(W, b, 1, g["pad"]).forward(x) * dout))

        for got, wrt in ((dx, x), (layer.dW, W), (layer.db, b)):
            np.testing.assert_allclose(got, numerical_gradient(f, wrt), rtol=1e-6, atol=1e-8)


def test_grid_patches_are_the_layers_patches_with_the_wrapped_positions_added():
    """Row (c, dy, dx) of the grid's patches at position y * Wp + x is patch (y, x)'s
    value where x < OW: the patches of :func:`patches`, one position apart per column."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    g = grid.Grid(3, 6, 5, 3, 2, 1, 2)
    flat = np.empty((2, 3, g.hp * g.wp), np.float32)
    grid.pad_into(x, flat, g)
    cols = np.empty((g.k, 2, g.length), np.float32)
    grid.patches_into(flat, g, cols)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2)))
    for n in range(2):
        for y in range(g.oh):
            for z in range(g.ow):
                window = xp[n, :, y:y + 3, z:z + 2].ravel()
                np.testing.assert_array_equal(cols[:, n, y * g.wp + z], window)
    assert (g.oh, g.ow, g.length) == (6, 8, 5 * 9 + 8)


def test_convolution_without_input_gradient_and_single_image():
    rng = np.random.default_rng(1)
    W, b = rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(4)
    x, dout = rng.standard_normal((3, 2, 6, 5)), rng.standard_normal((3, 4, 4, 3))
    full, lean = Convolution(W, b), Convolution(W, b)
    full.forward(x)
    lean.forward(x)
    assert full.backward(dout) is not None
    assert lean.backward(dout, input_grad=False) is None
    np.testing.assert_array_equal(full.dW, lean.dW)
    np.testing.assert_array_equal(full.db, lean.db)
    one = Convolution(W, b)
    np.testing.assert_allclose(one.forward(x[1]), full.forward(x)[1])
    assert one.backward(dout[1]).shape == (2, 6, 5)


def test_convolution_in_place_update_reaches_layer():
    W, b = np.ones((1, 1, 2, 2)), np.zeros(1)
    layer = Convolution(W, b)
    W *= 2
    np.testing.assert_array_equal(layer.forward(np.ones((1, 1, 2, 2))), [[[[8.0]]]])


# ---------------------------------------------------------------- Pooling


@settings(max_examples=40, deadline=None)
@given(geometry)
def test_pooling_matches_loop(g):
    assume(fits(g) and g["pad"] < min(g["fh"], g["fw"]))
    rng = np.random.default_rng(g["seed"])
    # few distinct values: many ties, so the first-maximum rule is exercised
    x = rng.integers(-2, 3, (g["n"], g["c"], g["h"], g["w"])).astype(np.float64)
    layer = Pooling(g["fh"], g["fw"], g["stride"], g["pad"])
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    ref_out, ref_dx = pool_loop(x, g["fh"], g["fw"], g["stride"], g["pad"], dout)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_allclose(layer.backward(dout), ref_dx, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(geometry)
def test_pooling_numerical_gradient(g):
    assume(fits(g) and g["pad"] < min(g["fh"], g["fw"]))
    rng = np.random.default_rng(g["seed"])
    x = rng.permutation(g["n"] * g["c"] * g["h"] * g["w"]).reshape(
        g["n"], g["c"], g["h"], g["w"]) * 0.01  # distinct values: no ties, a gradient exists
    layer = Pooling(g["fh"], g["fw"], g["stride"], g["pad"])
    dout = rng.standard_normal(layer.forward(x).shape)
    dx = layer.backward(dout)

    def f(_):
        return float(np.sum(Pooling(g["fh"], g["fw"], g["stride"], g["pad"]).forward(x) * dout))

    np.testing.assert_allclose(dx, numerical_gradient(f, x), rtol=1e-6, atol=1e-8)


def test_pooling_ties_go_to_the_first_of_each_window():
    x = np.zeros((1, 1, 4, 4))
    layer = Pooling(2, 2, stride=2)
    layer.forward(x)
    dx = layer.backward(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(dx[0, 0], [[1, 0, 1, 0], [0, 0, 0, 0],
                                             [1, 0, 1, 0], [0, 0, 0, 0]])
    x = np.array([[[[1.0, 3.0], [3.0, 2.0]]]])  # two maxima: row-major order picks (0, 1)
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 1, 1))),
                                  [[[[0.0, 1.0], [0.0, 0.0]]]])


@pytest.mark.parametrize("pool", [(2, 2, 2), (2, 2, 1), (3, 3, 3)])
def test_pooling_passes_an_infinite_gradient_to_its_maximum_only(pool):
    x = np.arange(36.0).reshape(1, 1, 6, 6)
    layer = Pooling(*pool)
    out = layer.forward(x)
    dout = np.ones(out.shape)
    dout[0, 0, 0, 0] = np.inf
    dx = layer.backward(dout)
    _, ref = pool_loop(x, *pool, 0, dout)
    np.testing.assert_array_equal(dx, ref)  # inf where it belongs, no NaN from inf * 0


def test_pooling_padding_never_wins():
    x = -np.ones((1, 1, 2, 2))
    layer = Pooling(2, 2, stride=2, pad=1)
    np.testing.assert_array_equal(layer.forward(x), -np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 2, 2))), np.ones((1, 1, 2, 2)))


# ---------------------------------------------------------------- contract


def test_dtype_kept_and_inputs_untouched():
    rng = np.random.default_rng(2)
    f32 = np.float32
    W, b = rng.standard_normal((3, 2, 3, 3)).astype(f32), np.zeros(3, f32)
    x = rng.standard_normal((2, 2, 6, 6)).astype(f32)
    for layer in (Convolution(W, b, 1, 1), Pooling(2, 2, 2), Pooling(3, 3, 1, 1)):
        copies = [a.copy() for a in (x, W, b)]
        out = layer.forward(x)
        assert out.dtype == f32
        dout = rng.standard_normal(out.shape).astype(f32)
        dout_copy = dout.copy()
        assert layer.backward(dout).dtype == f32
        if isinstance(layer, Convolution):
            assert layer.dW.dtype == f32 and layer.db.dtype == f32
        for a, c in zip((x, W, b, dout), (*copies, dout_copy), strict=True):
            np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("call, message", [
    (lambda: Convolution(np.ones((2, 1, 3)), np.zeros(2)), r"Convolution: expected W of shape"),
    (lambda: Convolution(np.ones((2, 1, 3, 3)), np.zeros(3)), r"b \(3,\)"),
    (lambda: Convolution(np.ones((2, 1, 3, 3)), np.zeros(2), stride=0), r"stride must be"),
    (lambda: Convolution(np.ones((2, 1, 3, 3)), np.zeros(2)).forward(np.ones((1, 2, 5, 5))),
     r"expected 1 input channel"),
    (lambda: Convolution(np.ones((2, 1, 3, 3)), np.zeros(2)).forward(np.ones((1, 1, 2, 5))),
     r"3x3 window does not fit a 2x5 input"),
    (lambda: Convolution(np.ones((2, 1, 3, 3)), np.zeros(2)).forward(np.ones((5, 5))),
     r"Convolution.forward: expected images of shape \(N, C, H, W\)"),
    (lambda: Pooling(2, 2, pad=2), r"pad must be smaller"),
    (lambda: Pooling(2, 0), r"pool_w must be an integer >= 1"),
])
def test_bad_arguments_say_what_is_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_backward_checks_the_gradient_shape():
    conv = Convolution(np.ones((2, 1, 3, 3)), np.zeros(2))
    conv.forward(np.ones((4, 1, 5, 5)))
    with pytest.raises(ValueError, match=r"Convolution.backward: expected shape \(4, 2, 3, 3\)"):
        conv.backward(np.ones((4, 2, 3, 2)))
    pool = Pooling(2, 2, 2)
    pool.forward(np.ones((4, 1, 5, 5)))
    with pytest.raises(ValueError, match=r"Pooling.backward: expected shape \(4, 1, 2, 2\)"):
        pool.backward(np.ones((4, 1, 3, 3)))



def test_the_book_calls_of_chapter_7_work():
    """apply_filter.py builds ``Convolution(w, 0)`` with one bias for every filter;
    ``Pooling(2, 2)`` strides by 2 as the book's ``common/layers.py`` does."""
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 1, 2, 2))
    x = rng.standard_normal((2, 1, 5, 5))
    shared = Convolution(W, 0.5).forward(x)
    explicit = Convolution(W, np.full(3, 0.5)).forward(x)
    np.testing.assert_allclose(shared, explicit)
    layer = Convolution(W, 0)
    layer.forward(x)
    layer.backward(np.ones((2, 3, 4, 4)))
    assert layer.db.shape == (3,)
    np.testing.assert_allclose(layer.db, [32, 32, 32])
    assert Pooling(2, 2).forward(np.zeros((1, 1, 6, 6))).shape == (1, 1, 3, 3)
