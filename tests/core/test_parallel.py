"""A batch split across threads gives the same bits as on one thread: the splitter itself,
the layers that use it, Adam's in-place update, the networks' layer order, a training run."""

import threading
import time

import numpy as np
import pytest

from chainrule.core import parallel
from chainrule.core.conv import Convolution, Pooling
from chainrule.core.layers import Dropout, Relu
from chainrule.nn.convnets import DeepConvNet, SimpleConvNet, _pooled_first
from chainrule.nn.optim import Adam
from chainrule.training.loop import TrainingLoop


@pytest.fixture
def tiny_parts(monkeypatch):
    """Split even tiny batches, in blocks of a few elements: every code path runs split."""
    monkeypatch.setattr(parallel, "MIN_PART", 1)
    monkeypatch.setattr(parallel, "BLOCK", 40)


def same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# ---------------------------------------------------------------- the splitter


def test_split_covers_the_range_once_in_consecutive_pieces(tiny_parts):
    seen, lock = [], threading.Lock()

    def work(a, b):
        with lock:
            seen.append((a, b))

    with parallel.threads(3):
        assert parallel.current() == 3
        parallel.split(25, work)
    pieces = sorted(seen)
    assert pieces[0][0] == 0 and pieces[-1][1] == 25 and len(pieces) >= 3
    assert all(b == c for (_, b), (c, _) in zip(pieces, pieces[1:], strict=False))
    assert parallel.current() == 1  # outside the block: the caller alone
    seen.clear()
    parallel.split(25, work)
    assert seen == [(0, 25)]


def test_pieces_run_at_the_same_time_on_two_threads(tiny_parts):
    ran_on = set()

    def work(a, b):
        me = threading.get_ident()
        if a == 0:  # the first piece waits until another thread has run a piece
            deadline = time.monotonic() + 10
            while not ran_on - {me} and time.monotonic() < deadline:
                time.sleep(0.001)
        ran_on.add(me)

    with parallel.threads(2):
        parallel.split(20, work)
    assert len(ran_on) == 2


def test_a_helper_that_does_not_come_costs_nothing(tiny_parts):
    """While the helper is held up (another process has its core), the caller does
    every piece itself and returns without waiting for it."""
    with parallel.threads(2):
        parallel.split(4, lambda a, b: None)  # the helper exists
    release, held = threading.Event(), threading.Event()

    class Stuck:
        def run_pieces(self):
            held.set()
            release.wait(10)

    parallel._helpers[0].jobs.put(Stuck())
    assert held.wait(10)
    out = np.zeros(50)
    try:
        with parallel.threads(2):
            parallel.split(50, lambda a, b: out.__setitem__(slice(a, b), np.arange(a, b)))
        assert out.tolist() == list(range(50))
    finally:
        release.set()


def test_blocks_and_small_work_stay_in_order_on_the_caller(monkeypatch):
    monkeypatch.setattr(parallel, "BLOCK", 6)
    calls = []
    with parallel.threads(2):  # 10 items of 3 elements: under MIN_PART, one thread
        parallel.split(10, lambda a, b: calls.append((a, b)), size=3, blocks=True)
    assert calls == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]


def test_an_error_in_any_piece_is_raised_once_none_is_running(tiny_parts):
    running, lock = [0], threading.Lock()

    def work(a, b):
        with lock:
            running[0] += 1
        try:
            if a == 6:
                raise ValueError(f"piece {a}")
        finally:
            with lock:
                running[0] -= 1

    with parallel.threads(2), pytest.raises(ValueError, match="piece 6"):
        parallel.split(12, work)
    assert running[0] == 0
    with parallel.threads(2):  # the helper is still there and works
        out = np.zeros(4)
        parallel.split(4, lambda a, b: out.__setitem__(slice(a, b), 1))
    assert out.tolist() == [1, 1, 1, 1]


def test_a_reserved_core_leaves_one_thread_fewer():
    with parallel.threads(2):
        assert parallel.current() == 2
        with parallel.reserve():
            assert parallel.current() == 1
        assert parallel.current() == 2
    with pytest.raises(ValueError, match="at least 1"):
        with parallel.threads(0):
            pass


# ---------------------------------------------------------------- layers: same bits


@pytest.mark.parametrize("stride, pad, dx", [(1, 1, True), (2, 1, True), (1, 0, False),
                                             (2, 2, True)])
def test_convolution_same_bits_on_any_number_of_threads(tiny_parts, stride, pad, dx):
    rng = np.random.default_rng(stride + pad)
    x = rng.standard_normal((5, 2, 7, 6)).astype(np.float32)
    W = rng.standard_normal((3, 2, 3, 2)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    results = []
    for k in (1, 2, 3):
        layer = Convolution(W, b, stride, pad)
        with parallel.threads(k):
            out = layer.forward(x)
            d = np.random.default_rng(9).standard_normal(out.shape).astype(np.float32)
            results.append((out, layer.backward(d, input_grad=dx), layer.dW, layer.db))
    for other in results[1:]:
        for a, b_ in zip(results[0], other, strict=True):
            assert (a is None and b_ is None) or same_bits(a, b_)


@pytest.mark.parametrize("pad, dx", [(1, True), (0, False), (2, True), (3, True)])
def test_convolution_on_the_grid_same_bits_on_any_number_of_threads(monkeypatch, pad, dx):
    """DeepConvNet's path (8 channels of 3x3: 73 terms an output): the products and the
    pieces of dW are fixed by the shapes, so 1, 2 and 3 threads give the same bits."""
    from chainrule.core import grid

    monkeypatch.setattr(parallel, "MIN_PART", 1)
    monkeypatch.setattr(grid, "CACHE_BYTES", 20000)  # pieces of 2 or 3 images
    rng = np.random.default_rng(pad)
    x = rng.standard_normal((7, 8, 6, 5)).astype(np.float32)
    W = rng.standard_normal((4, 8, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    results = []
    for k in (1, 2, 3):
        layer = Convolution(W, b, 1, pad)
        with parallel.threads(k):
            out = layer.forward(x)
            assert layer._grid is not None
            d = np.random.default_rng(9).standard_normal(out.shape).astype(np.float32)
            results.append((out, layer.backward(d, input_grad=dx), layer.dW, layer.db))
    for other in results[1:]:
        for a, b_ in zip(results[0], other, strict=True):
            assert (a is None and b_ is None) or same_bits(a, b_)


def test_split_in_fixed_pieces_whatever_the_threads(tiny_parts):
    seen, lock = [], threading.Lock()

    def work(a, b):
        with lock:
            seen.append((a, b))

    for k in (1, 2, 3):
        seen.clear()
        with parallel.threads(k):
            parallel.split(10, work, piece=3)
        assert sorted(seen) == [(0, 3), (3, 6), (6, 9), (9, 10)]


@pytest.mark.parametrize("pool", [(2, 2, 2, 0), (3, 3, 2, 1), (2, 3, 1, 0)])
def test_pooling_same_bits_on_any_number_of_threads(tiny_parts, pool):
    ph, pw, stride, pad = pool
    rng = np.random.default_rng(ph * pw)
    x = rng.integers(-3, 3, (5, 2, 8, 7)).astype(np.float32)  # many ties
    results = []
    for k in (1, 2, 3):
        layer = Pooling(ph, pw, stride, pad)
        with parallel.threads(k):
            out = layer.forward(x)
            d = np.random.default_rng(1).standard_normal(out.shape)
            results.append((out, layer.arg_max, layer.backward(d)))
    for other in results[1:]:
        assert all(same_bits(a, b) for a, b in zip(results[0], other, strict=True))


# ---------------------------------------------------------------- Adam in place


def adam_formulas(params, grads, m, v, t, lr=0.001, b1=0.9, b2=0.999):
    """The book's Adam as written (new arrays at every operation)."""
    lr_t = float(lr * np.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t))
    for k in params:
        m[k] += (1 - b1) * (grads[k] - m[k])
        v[k] += (1 - b2) * (grads[k] ** 2 - v[k])
        params[k] -= lr_t * m[k] / (np.sqrt(v[k]) + 1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_in_place_gives_the_formulas_bits(tiny_parts, dtype):
    rng = np.random.default_rng(3)
    shapes = {"W1": (7, 3, 5), "b1": (7,), "W2": (70000,), "s": ()}
    params = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    ref = {k: p.copy() for k, p in params.items()}
    m = {k: np.zeros_like(p) for k, p in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    opt = Adam()
    for t in range(1, 4):
        grads = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
        grads["W1"] = np.asfortranarray(grads["W1"])  # not contiguous: the formulas' path
        with parallel.threads(2):
            opt.update(params, grads)
        adam_formulas(ref, grads, m, v, t)
        assert all(same_bits(params[k], ref[k]) for k in params)
        assert all(same_bits(opt.m[k], m[k]) and same_bits(opt.v[k], v[k]) for k in params)


def test_adam_mixed_dtypes_and_plain_floats_still_update():
    params = {"w": np.ones(3, np.float32), "x": 1.5}
    Adam(lr=0.1).update(params, {"w": np.ones(3, np.float64), "x": 2.0})
    assert params["w"].dtype == np.float32 and np.all(params["w"] < 1)
    assert isinstance(params["x"], float) and params["x"] < 1.5


# ---------------------------------------------------------------- networks


def book_order_gradient(net, x, t):
    """The gradient with the layers run in the book's order (ReLU before pooling)."""
    with net.deterministic():
        h = net._as_images(x)[0]
        for layer in net._layers:
            h = layer.forward(h, True) if isinstance(layer, Dropout) else layer.forward(h)
        loss = net.last_layer.forward(h, t)
        d = net.last_layer.backward(1)
        for layer in reversed(net._layers):
            d = layer.backward(d)
        book = {}
        for i, layer in enumerate(net._weighted(), 1):
            book[f"W{i}"], book[f"b{i}"] = layer.dW.copy(), layer.db.copy()
        assert net.loss(x, t) == loss
        return book, net.gradient(x, t)


@pytest.mark.parametrize("make", [
    lambda: SimpleConvNet((1, 10, 10), {"filter_num": 4, "filter_size": 3, "pad": 0,
                                        "stride": 1}, 6, 3, seed=2),
    lambda: DeepConvNet((1, 8, 8), *[{"filter_num": 2, "filter_size": 3, "pad": 1,
                                      "stride": 1}] * 6, hidden_size=5, output_size=3, seed=2)])
def test_pooling_before_relu_changes_no_number(make):
    net = make()
    assert [type(a) for a in _pooled_first(net._layers)[1:3]] == (
        [Pooling, Relu] if isinstance(net, SimpleConvNet) else [Relu, Convolution])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 1, *net.input_dim[1:]))
    x[0] = -1  # a window of negative values only
    t = rng.integers(0, 3, 6)
    book, ours = book_order_gradient(net, x, t)
    for k in book:
        np.testing.assert_array_equal(ours[k], book[k])


def test_training_same_numbers_on_one_and_two_threads(tiny_parts):
    rng = np.random.default_rng(0)
    x = rng.random((40, 1, 8, 8)).astype(np.float32)
    t = rng.integers(0, 3, 40)
    runs = []
    for threads in (1, 2):
        net = SimpleConvNet((1, 8, 8), {"filter_num": 3, "filter_size": 3, "pad": 1,
                                        "stride": 1}, 5, 3, dtype=np.float32, seed=1)
        trainer = TrainingLoop(net, Adam(0.01), x[:30], t[:30], x[30:], t[30:], batch_size=10,
                          iters=12, eval_every=4, seed=3, threads=threads)
        history = trainer.run(handle_sigint=False)
        runs.append((history.step_loss, history.rows(), net.params))
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1]
    assert all(same_bits(runs[0][2][k], runs[1][2][k]) for k in runs[0][2])
    with pytest.raises(ValueError, match="threads"):
        TrainingLoop(net, Adam(), x, t, batch_size=10, threads=0)


def test_affine_backward_same_bits_with_its_products_on_two_threads(monkeypatch):
    """A large Affine makes dW and dx on two threads at once (a convnet's Affine1): the
    same bits as one after the other; a small one (chapter 5's) does not hand over."""
    from chainrule.core import layers
    from chainrule.core.layers import Affine

    calls = []
    real = layers.together
    monkeypatch.setattr(layers, "together", lambda *a: (calls.append(len(a)), real(*a))[1])
    rng = np.random.default_rng(0)
    for n, d_in, d_out, handed in ((100, 4320, 100, True), (100, 50, 10, False)):
        x = rng.standard_normal((n, d_in)).astype(np.float32)
        w = rng.standard_normal((d_in, d_out)).astype(np.float32)
        dout = rng.standard_normal((n, d_out)).astype(np.float32)
        results = []
        for k in (1, 2):
            layer = Affine(w, np.zeros(d_out, np.float32))
            with parallel.threads(k):
                layer.forward(x)
                dx = layer.backward(dout)
            results.append((dx, layer.dW, layer.db))
        for a, b in zip(*results, strict=True):
            assert same_bits(a, b)
        assert same_bits(results[0][1], x.T @ dout) and same_bits(results[0][0], dout @ w.T)
        assert (len(calls) == 2) == handed
        calls.clear()


def test_adam_flushes_subnormal_m_and_keeps_every_weight():
    """A weight whose gradient stops (a dead ReLU unit) has its m decay through the
    subnormal floats, which are slow: they are set to 0, and no weight changes for it."""
    rng = np.random.default_rng(3)
    p0 = (rng.standard_normal(5000) * 0.01).astype(np.float32)
    fast, ref = {"W": p0.copy()}, {"W": p0.copy()}
    m = np.zeros_like(p0)
    v = np.zeros_like(p0)
    opt = Adam(0.001)
    b1, b2 = 0.9, 0.999
    subnormal_seen = False
    for t in range(1, 1101):
        g = (rng.standard_normal(5000) * 1e-3).astype(np.float32)
        if t > 50:
            g[:2500] = 0  # half the units die after 50 steps
        opt.update(fast, {"W": g})
        m += (1 - b1) * (g - m)  # the formulas, subnormals and all
        v += (1 - b2) * (g * g - v)
        lr_t = float(0.001 * np.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t))
        ref["W"] -= lr_t * m / (np.sqrt(v) + 1e-7)
        tiny = np.finfo(np.float32).tiny
        subnormal = (m != 0) & (np.abs(m) < tiny)
        subnormal_seen |= bool(subnormal.any())
        got_m = opt.m["W"]
        assert not ((got_m != 0) & (np.abs(got_m) < tiny)).any()
        assert same_bits(np.where(subnormal, np.float32(0), m), got_m)
        assert same_bits(fast["W"], ref["W"])
    assert subnormal_seen
