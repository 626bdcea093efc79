"""chainrule.core.conv_steps: the book's convolution one row at a time (the im2col page's
numbers), against loops written from the definitions and the numerical derivative."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chainrule.core.conv_steps import col2im_upto, conv_steps, windows_of


def coverage_loop(shape, fh, fw, stride, pad):
    """How many windows cover each position of the padded image, counted one by one."""
    n, c, h, w = shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    out = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=int)
    for i in range(oh):
        for j in range(ow):
            out[:, :, i * stride:i * stride + fh, j * stride:j * stride + fw] += 1
    return out


def test_the_learners_first_example_four_contributions_in_the_centre_one_at_the_corners():
    x = np.arange(16, dtype=float).reshape(1, 1, 4, 4)
    s = conv_steps(x, np.ones((1, 1, 2, 2)), 0)
    assert s.col.shape == (9, 4) and s.out.shape == (1, 1, 3, 3)
    assert s.coverage[0, 0].tolist() == [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]]
    # with dout = 1 and W = 1, dx counts the windows: col2im adds, it does not overwrite
    assert s.dx[0, 0].tolist() == s.coverage[0, 0].tolist()
    assert [(w.n, w.i, w.j, w.top, w.left) for w in s.windows[:4]] == [
        (0, 0, 0, 0, 0), (0, 0, 1, 0, 1), (0, 0, 2, 0, 2), (0, 1, 0, 1, 0)]
    assert s.col[4].tolist() == [5, 6, 9, 10]  # the centre window, row by row
    assert s.product[:, 0].tolist() == s.out.ravel().tolist()
    assert s.forward_check.passed and s.layer_check.passed and s.numerical_check.passed


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 6), w=st.integers(1, 6),
       fn=st.integers(1, 3), fh=st.integers(1, 4), fw=st.integers(1, 4),
       stride=st.integers(1, 3), pad=st.integers(0, 2), seed=st.integers(0, 99))
def test_every_row_is_its_window_and_every_sum_checks(n, c, h, w, fn, fh, fw, stride, pad, seed):
    assume(fh <= h + 2 * pad and fw <= w + 2 * pad)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c, h, w))
    W, b = rng.normal(size=(fn, c, fh, fw)), rng.normal(size=fn)
    s = conv_steps(x, W, b, rng.normal(size=(n, fn, (h + 2 * pad - fh) // stride + 1,
                                             (w + 2 * pad - fw) // stride + 1)),
                   stride=stride, pad=pad)
    for r, win in enumerate(s.windows):  # row r is the window at (top, left), (C, FH, FW) order
        assert np.array_equal(s.col[r], s.padded[win.n, :, win.top:win.top + fh,
                                                 win.left:win.left + fw].ravel())
    assert s.forward_check.passed and s.layer_check.passed and s.numerical_check.passed
    assert np.array_equal(s.coverage, coverage_loop(x.shape, fh, fw, stride, pad))
    sums, counts = col2im_upto(s.dcol, x.shape, fh, fw, stride, pad)
    assert np.allclose(sums[:, :, pad:pad + h, pad:pad + w], s.dx)
    assert np.array_equal(counts, s.coverage)


def test_col2im_row_by_row_adds_each_row_where_its_window_was():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 2, 5, 5))
    s = conv_steps(x, rng.normal(size=(3, 2, 3, 3)), 0, rng.normal(size=(2, 3, 3, 3)),
                   stride=2, pad=1)
    expected = np.zeros((2, 2, 7, 7))
    count = np.zeros((2, 2, 7, 7), dtype=int)
    for k in range(len(s.dcol) + 1):
        sums, counts = col2im_upto(s.dcol, x.shape, 3, 3, 2, 1, k)
        assert np.allclose(sums, expected) and np.array_equal(counts, count)
        if k < len(s.dcol):  # the next row goes into its window, added to what is there
            win = s.windows[k]
            expected[win.n, :, win.top:win.top + 3, win.left:win.left + 3] += \
                s.dcol[k].reshape(2, 3, 3)
            count[win.n, :, win.top:win.top + 3, win.left:win.left + 3] += 1
    assert not np.any(col2im_upto(s.dcol, x.shape, 3, 3, 2, 1, 0)[0])


def test_windows_in_the_books_row_order():
    wins = windows_of((2, 1, 3, 4), 2, 2, stride=1, pad=0)
    assert len(wins) == 2 * 2 * 3
    assert [(w.n, w.i, w.j) for w in wins[5:8]] == [(0, 1, 2), (1, 0, 0), (1, 0, 1)]


def test_bad_input_says_what():
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match="dout of shape"):
        conv_steps(x, np.ones((1, 1, 2, 2)), 0, np.ones((1, 1, 2, 2)))
    s = conv_steps(x, np.ones((1, 1, 2, 2)), 0, check=False)
    assert np.all(np.isnan(s.dx_numerical)) and not s.numerical_check.passed
    with pytest.raises(ValueError, match="upto must be in 0..9"):
        col2im_upto(s.dcol, x.shape, 2, 2, 1, 0, 10)
