"""Chapter 6 as the lab's pages take it: optimizer paths, the activation histograms with
their gradients, the experiments stepped by hand, and the jobs that run them live.

The book's own scripts are run through ``chainrule book run`` where they are compared:
``optimizer_compare_naive.py`` and ``weight_init_activation_histogram.py`` from a
checkout of the book's repository (``$CHAINRULE_BOOK``, else ``/tmp/dlfs``) when there
is one, else a script written here in the book's words (the same loop, the same calls).
A ``sitecustomize`` beside them records what the script plots.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from chainrule.book import experiments as ex
from chainrule.book.activation_histograms import activation_histograms, around
from chainrule.book.optimizer_paths import (
    BOOK_RATES,
    OPTIMIZER_NAMES,
    SURFACES,
    contour_lines,
    optimizer_path,
)
from chainrule.cli import main
from chainrule.nn.optim import Adam
from chainrule.training.jobs import Job, JobBusy, Jobs

RECORDER = """\
import atexit, json, os
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

np.random.seed(int(os.environ["BOOK_SEED"]))
_plots, _hists = [], []
_plot, _hist = plt.plot, plt.hist

def plot(*args, **kwargs):
    arrays = [np.asarray(a, dtype=float).ravel().tolist() for a in args if not isinstance(a, str)]
    _plots.append(arrays)
    return _plot(*args, **kwargs)

def hist(x, bins=10, range=None, **kwargs):
    counts, _ = np.histogram(np.asarray(x), bins, range=range)
    _hists.append(counts.tolist())
    return _hist(x, bins, range=range, **kwargs)

plt.plot, plt.hist = plot, hist
plt.show = lambda *a, **k: None
atexit.register(lambda: print("RECORDED " + json.dumps({"plots": _plots, "hists": _hists})))
"""

NAIVE = """\
# The loop of the book's ch06/optimizer_compare_naive.py, in its words.
import sys, os
sys.path.append(os.pardir)
import numpy as np
import matplotlib.pyplot as plt
from collections import OrderedDict
from common.optimizer import *

def df(x, y):
    return x / 10.0, 2.0*y

init_pos = (-7.0, 2.0)
params = {}
grads = {}
optimizers = OrderedDict()
optimizers["SGD"] = SGD(lr=0.95)
optimizers["Momentum"] = Momentum(lr=0.1)
optimizers["AdaGrad"] = AdaGrad(lr=1.5)
optimizers["Adam"] = Adam(lr=0.3)
for key in optimizers:
    optimizer = optimizers[key]
    x_history, y_history = [], []
    params['x'], params['y'] = init_pos[0], init_pos[1]
    for i in range(30):
        x_history.append(params['x'])
        y_history.append(params['y'])
        grads['x'], grads['y'] = df(params['x'], params['y'])
        optimizer.update(params, grads)
    plt.plot(x_history, y_history, 'o-', color="red")
plt.show()
"""

HISTOGRAMS = """\
# The book's ch06/weight_init_activation_histogram.py, in its words.
import numpy as np
import matplotlib.pyplot as plt

def sigmoid(x):
    return 1 / (1 + np.exp(-x))

input_data = np.random.randn(1000, 100)
activations = {}
x = input_data
for i in range(5):
    if i != 0:
        x = activations[i-1]
    w = np.random.randn(100, 100) * 1
    a = np.dot(x, w)
    z = sigmoid(a)
    activations[i] = z
for i, a in activations.items():
    plt.subplot(1, len(activations), i+1)
    plt.hist(a.flatten(), 30, range=(0,1))
plt.show()
"""


def book_script(tmp_path: Path, name: str, stand_in: str) -> Path:
    """The book's ``ch06/<name>`` from its repository if there is a checkout, else the
    stand-in written into a folder laid out like it."""
    root = Path(os.environ.get("CHAINRULE_BOOK", "/tmp/dlfs"))
    script = root / "ch06" / name
    if script.is_file():
        return script
    chapter = tmp_path / "book" / "ch06"
    chapter.mkdir(parents=True)
    (chapter / name).write_text(stand_in)
    return chapter / name


def run_book(script: Path, tmp_path: Path, capfd, monkeypatch, seed: int = 0) -> dict:
    """``chainrule book run SCRIPT`` with the recorder; what the script plotted."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(RECORDER)
    monkeypatch.setenv("PYTHONPATH", str(hook))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("BOOK_SEED", str(seed))
    capfd.readouterr()
    assert main(["book", "run", str(script)]) == 0
    out = capfd.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("RECORDED "))
    return json.loads(line.removeprefix("RECORDED "))


# ---------------------------------------------------------------- optimizer paths


def test_the_preset_paths_end_where_the_books_script_ends(tmp_path, capfd, monkeypatch):
    script = book_script(tmp_path, "optimizer_compare_naive.py", NAIVE)
    recorded = run_book(script, tmp_path, capfd, monkeypatch)
    paths = [p for p in recorded["plots"] if len(p) == 2 and len(p[0]) == 30]
    assert len(paths) == 4  # SGD, Momentum, AdaGrad, Adam, in the script's order
    for name, (xs, ys) in zip(["sgd", "momentum", "adagrad", "adam"], paths, strict=True):
        ours = optimizer_path("book", name)
        assert ours.settings["lr"] == BOOK_RATES[name]
        assert len(ours.points) == 30
        assert ours.points[-1] == (xs[-1], ys[-1]), name  # the same floats
        assert ours.points == list(zip(xs, ys, strict=True)), name


def test_each_update_keeps_its_numbers():
    momentum = optimizer_path("book", "momentum", (-7.0, 2.0), 5)
    g = momentum.grads[0]
    assert g == (-0.7, 4.0)
    assert momentum.states[0]["v"] == (-0.1 * g[0], -0.1 * g[1])
    v1 = momentum.states[1]["v"]
    assert v1[0] == 0.9 * momentum.states[0]["v"][0] - 0.1 * momentum.grads[1][0]
    assert momentum.points[2][0] == momentum.points[1][0] + v1[0]
    adam = optimizer_path("book", "adam", iters=4)
    assert [s["t"] for s in adam.states] == [1, 2, 3]
    assert adam.rates == [Adam(0.3).lr_t(t) for t in (1, 2, 3)]
    assert adam.rates[0] == pytest.approx(0.3 * math.sqrt(1 - 0.999) / (1 - 0.9))
    adagrad = optimizer_path("book", "adagrad", iters=3)
    assert adagrad.states[1]["h"][1] == adagrad.grads[0][1] ** 2 + adagrad.grads[1][1] ** 2
    assert set(optimizer_path("book", "sgd", iters=3).states[0]) == set()


def test_a_path_that_leaves_the_plane_stops():
    path = optimizer_path("book", "sgd", iters=300, lr=5.0)  # |1 - 2 * 5| = 9 per step in y
    assert path.escaped is not None and len(path.points) == path.escaped + 2
    assert len(path.grads) == len(path.states) == len(path.points) - 1
    fine = optimizer_path("book", "sgd", iters=300)
    assert fine.escaped is None and len(fine.points) == 300


@pytest.mark.parametrize("name", list(SURFACES))
def test_every_surface_has_its_gradient(name):
    s = SURFACES[name]
    rng = np.random.default_rng(0)
    x0, x1, y0, y1 = s.view
    for x, y in zip(rng.uniform(x0, x1, 20), rng.uniform(y0, y1, 20), strict=True):
        h = 1e-6
        numeric = ((s.f(x + h, y) - s.f(x - h, y)) / (2 * h), (s.f(x, y + h) - s.f(x, y - h)) / (2 * h))
        np.testing.assert_allclose(s.grad(x, y), numeric, rtol=1e-5, atol=1e-5)
    if s.minimum is not None:
        assert s.grad(*s.minimum) == (0.0, 0.0)
    for opt in OPTIMIZER_NAMES:  # every preset moves every optimizer towards lower ground
        path = optimizer_path(name, opt)
        assert path.escaped is None and path.heights[-1] < path.heights[0], (name, opt)


def test_contour_lines_lie_on_their_level():
    for c in contour_lines("book"):
        points = np.array([p for line in c["lines"] for p in line])
        assert len(points)
        f = points[:, 0] ** 2 / 20 + points[:, 1] ** 2
        np.testing.assert_allclose(f, c["level"], rtol=0.02, atol=0.01)


def test_bad_paths_are_refused():
    with pytest.raises(ValueError, match="unknown function"):
        optimizer_path("moon", "sgd")
    with pytest.raises(ValueError, match="unknown optimizer"):
        optimizer_path("book", "lion")
    with pytest.raises(ValueError, match="has no setting 'beta1'"):
        optimizer_path("book", "sgd", beta1=0.9)
    with pytest.raises(ValueError, match="iters must be at least 1"):
        optimizer_path("book", "sgd", iters=0)
    with pytest.raises(ValueError, match="momentum"):
        optimizer_path("book", "momentum", momentum=1.0)


# ---------------------------------------------------------------- activation histograms


def test_same_seed_same_histograms_as_the_books_script(tmp_path, capfd, monkeypatch):
    script = book_script(tmp_path, "weight_init_activation_histogram.py", HISTOGRAMS)
    recorded = run_book(script, tmp_path, capfd, monkeypatch, seed=7)
    ours = activation_histograms("sigmoid", 1.0, seed=7)
    assert [h.counts for h in ours.values] == recorded["hists"]


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("scale", [1.0, 0.01, "xavier", "he"])
def test_the_books_draws_give_the_books_activations(activation, scale):
    """What the book's script computes after np.random.seed(3), for every activation and
    std it lists (its commented-out lines), with chainrule's layers: the same numbers."""
    funcs = {"sigmoid": lambda a: 1 / (1 + np.exp(-a)), "tanh": np.tanh,
             "relu": lambda a: np.maximum(0, a)}
    std = {"xavier": np.sqrt(1.0 / 100), "he": np.sqrt(2.0 / 100)}.get(scale, scale)
    saved = np.random.get_state()
    try:
        np.random.seed(3)
        x = np.random.randn(1000, 100)
        book = []
        for _ in range(5):
            x = funcs[activation](np.dot(x, np.random.randn(100, 100) * std))
            book.append(x)
    finally:
        np.random.set_state(saved)
    ours = activation_histograms(activation, scale, seed=3)
    assert ours.scale == std
    for mine, theirs, h in zip(ours.activations, book, ours.values, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-13, atol=1e-15)
        lo, hi = h.edges[0], h.edges[-1]
        assert h.counts == np.histogram(theirs.ravel(), 30, range=(lo, hi))[0].tolist()
        assert sum(h.counts) + h.below + h.above == theirs.size


def test_gradients_vanish_and_explode_as_the_chapter_says():
    tiny = activation_histograms("relu", 0.01)
    big = activation_histograms("relu", 1.0)
    he = activation_histograms("relu", "he")
    tiny_std = [g.std for g in tiny.gradients]
    big_std = [g.std for g in big.gradients]
    assert tiny_std[0] < tiny_std[-1] / 10  # shrinking on the way back: vanishing
    assert big_std[0] > 100 * big_std[-1]  # growing on the way back: exploding
    he_std = [g.std for g in he.gradients]
    assert max(he_std) < 5 * min(he_std)  # He keeps them alike
    assert [len(g.counts) for g in he.gradients] == [30] * 5
    top = he.gradients[0].edges[-1]
    assert all(g.edges[0] == -top and g.edges[-1] == top for g in he.gradients)
    assert top == max(float(np.max(np.abs(g))) for g in he.grads)


def test_histogram_ranges():
    assert around(np.array([1.0, 3.0])) == (-2.0, 6.0)
    assert around(np.zeros(4)) == (-1.0, 1.0)
    assert around(np.array([np.nan, np.inf])) == (-1.0, 1.0)
    with pytest.raises(ValueError, match="activation must be one of"):
        activation_histograms("gelu")
    with pytest.raises(ValueError, match="weight_init_std"):
        activation_histograms("relu", -1.0)


# ---------------------------------------------------------------- the experiments stepped


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 12)) * 2
    t = rng.integers(0, 3, 400)
    x = (centers[t] + rng.standard_normal((400, 12))).astype(np.float32)
    return x[:300], t[:300], x[300:], t[300:]


def test_a_batchnorm_pair_stepped_by_hand_is_the_figures_curve(data):
    x, t, _, _ = data
    result = ex.compare_batchnorm(x, t, weight_scales=(0.01,), train_size=200,
                                  hidden_size_list=(8, 8), epochs=4, batch_size=50)
    init, rng = ex.streams(0)
    pair = ex.BatchNormPair(x[:200], t[:200], 0.01, hidden_size_list=(8, 8), batch_size=50,
                            init=init, rng=rng)
    points = [pair.next_point() for _ in range(4)]
    assert pair.training.iteration == 1 + 3 * pair.per_epoch
    for j, label in enumerate(ex.BATCHNORM_LABELS):
        np.testing.assert_array_equal(result.curve(label, "W: 0.01").y, [p[j] for p in points])
    before = {k: v.copy() for k, v in pair.nets[0].buffers().items()}
    found = pair.pre_activations(x[:200])
    assert len(found) == 2 and set(found[0]) == {"affine", "bn_affine", "bn_normalized"}
    normalized = found[1]["bn_normalized"].astype(np.float64)
    bn = pair.nets[0]
    np.testing.assert_allclose(normalized.mean(axis=0), bn.params["beta2"], atol=1e-4)
    np.testing.assert_allclose(normalized.std(axis=0), np.abs(bn.params["gamma2"]), rtol=0.01)
    for k, v in bn.buffers().items():  # looking changed nothing
        np.testing.assert_array_equal(v, before[k])
    assert pair.diverged() == [False, False]


def test_regularized_stepped_by_hand_is_the_figures_curves(data):
    x, t, xt, tt = data
    variants = {"plain": {}, "decay": {"weight_decay_lambda": 0.1}}
    result = ex.compare_regularization(x, t, xt, tt, variants=variants, train_size=100,
                                       test_size=50, hidden_size_list=(8,), epochs=3,
                                       batch_size=50)
    init, rng = ex.streams(0)
    race = ex.Regularized(x[:100], t[:100], xt[:50], tt[:50], variants, hidden_size_list=(8,),
                          batch_size=50, init=init, rng=rng)
    measured = [race.next_epoch() for _ in range(3)]
    again = ex.regularization_result(list(variants), measured, result.settings)
    assert again.to_csv() == result.to_csv()
    assert race.epochs == 3 and race.training.iteration == 6


# ---------------------------------------------------------------- jobs


def wait_done(job: Job, timeout: float = 10) -> None:
    assert job.join(timeout), "the job did not end"


def test_a_job_tells_its_events_and_stops():
    seen, gate = [], threading.Event()

    def work(job):
        job.emit({"type": "start"})
        for i in range(1000):
            if job.stopping:
                return
            job.emit({"type": "point", "i": i})
            gate.wait(5)

    jobs = Jobs()
    job = jobs.start("demo", work, {"n": 1})
    past, unsubscribe = job.subscribe(seen.append)
    with pytest.raises(JobBusy) as busy:
        jobs.start("demo", work)
    assert busy.value.code == "job.busy" and busy.value.params == {"run": job.id}
    other = jobs.start("other", lambda j: None)  # another kind may run beside it
    wait_done(other)
    job.stop()
    gate.set()
    wait_done(job)
    events = past + seen
    assert events[0]["type"] == "start" and events[-1] == {
        "type": "end", "status": "stopped", "message": "", "seq": len(events) - 1,
        "run": job.id}
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert jobs.latest("demo") is job and jobs.active("demo") is None
    unsubscribe()


def test_a_failing_job_ends_with_its_reason():
    def work(job):
        raise OSError("the disk is full\nmore lines")

    job = Jobs().start("demo", work)
    wait_done(job)
    end = job.events[-1]
    assert end["status"] == "failed" and end["message"] == "the disk is full"
    assert end["message_code"] == "job.failed"


def test_jobs_keep_only_the_last_few():
    jobs = Jobs(keep=2)
    started = []
    for _ in range(4):
        job = jobs.start("demo", lambda j: None)
        wait_done(job)
        started.append(job.id)
        time.sleep(0.01)
    assert jobs.get(started[0]) is None and jobs.get(started[-1]) is not None
