"""Tiny versions of chapter 6's experiments run, are reproducible and save their figures."""

import csv
import io

import numpy as np
import pytest

from chainrule.book import experiments as ex
from chainrule.book.figures import plot_experiment, save_csv, smooth_curve
from chainrule.cli import main


@pytest.fixture(scope="module")
def data():
    """A separable 3-class problem with 12 features: learnable in a few dozen steps."""
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 12)) * 2
    t = rng.integers(0, 3, 400)
    x = (centers[t] + rng.standard_normal((400, 12))).astype(np.float32)
    return x[:300], t[:300], x[300:], t[300:]


def test_compare_optimizers(data):
    x, t, _, _ = data
    result = ex.compare_optimizers(x, t, hidden_size_list=(8, 8), iters=60, batch_size=16)
    assert result.labels() == ["SGD", "Momentum", "AdaGrad", "Adam"]
    for c in result.curves:
        assert c.x.shape == c.y.shape == (60,) and np.all(np.isfinite(c.y))
    adam = result.curve("Adam").y
    assert adam[-10:].mean() < adam[:10].mean()
    again = ex.compare_optimizers(x, t, hidden_size_list=(8, 8), iters=60, batch_size=16)
    np.testing.assert_array_equal(again.curve("Adam").y, adam)  # same seed, same curves
    other = ex.compare_optimizers(x, t, hidden_size_list=(8, 8), iters=60, batch_size=16,
                                  seed=1)
    assert not np.array_equal(other.curve("Adam").y, adam)


def test_compare_weight_init_he_learns_where_tiny_weights_stall(data):
    x, t, _, _ = data
    result = ex.compare_weight_init(x, t, hidden_size_list=(16, 16, 16, 16), iters=150,
                                    batch_size=32, lr=0.05)
    assert result.labels() == ["std=0.01", "Xavier", "He"]
    tiny, he = result.curve("std=0.01").y, result.curve("He").y
    assert tiny[-20:].mean() > 1.0  # stuck near chance, log(3) = 1.1
    assert he[-20:].mean() < 0.5


def test_compare_batchnorm_and_regularization_shapes(data):
    x, t, xt, tt = data
    bn = ex.compare_batchnorm(x, t, weight_scales=(1.0, 0.01), train_size=200,
                              hidden_size_list=(8, 8), epochs=4, batch_size=50)
    assert bn.groups() == ["W: 1", "W: 0.01"]
    assert len(bn.curves) == 4 and all(c.y.shape == (4,) for c in bn.curves)
    assert all(0 <= v <= 1 for c in bn.curves for v in c.y)
    reg = ex.compare_regularization(x, t, xt, tt, train_size=100, test_size=50,
                                    hidden_size_list=(8, 8), epochs=5, batch_size=50)
    assert reg.groups() == list(ex.BOOK_REGULARIZATION)
    assert reg.labels() == ["train", "test"]
    assert reg.settings["train_size"] == 100 and reg.settings["test_size"] == 50
    with pytest.raises(ValueError, match="train_size must be between 1 and 300"):
        ex.compare_regularization(x, t, xt, tt, train_size=1000)


def test_compare_batchnorm_is_the_books_loop(data):
    """The book's batch_norm_test.py: MultiLayerNetExtend, SGD on shared batches, eval-mode
    accuracy right after steps 0, per_epoch, 2 * per_epoch, ..."""
    from chainrule.nn.multilayer import MultiLayerNetExtend
    from chainrule.nn.optim import SGD

    x, t, _, _ = data
    result = ex.compare_batchnorm(x, t, weight_scales=(0.01,), train_size=120,
                                  hidden_size_list=(8, 8), epochs=3, batch_size=40)
    init, rng = ex._streams(0)
    nets = [MultiLayerNetExtend(12, [8, 8], 3, weight_init_std=0.01, use_batchnorm=bn,
                                dtype=np.float32, rng=np.random.default_rng(init))
            for bn in (True, False)]
    accs: list[list[float]] = [[], []]
    for i in range(9):
        batch = rng.integers(120, size=40)
        for net in nets:
            SGD(0.01).update(net.params, net.gradient(x[batch], t[batch]))
        if i % 3 == 0:
            for acc, net in zip(accs, nets, strict=True):
                acc.append(net.accuracy(x[:120], t[:120]))
    for c, acc in zip(result.curves, accs, strict=True):
        np.testing.assert_array_equal(c.y, acc)


def test_compare_batchnorm_small_weights_learn_at_once_and_nan_nets_are_named(data, tmp_path):
    """Running variances start at 0 (the book's): with tiny initial weights the batch-norm
    net is right after one epoch (with MultiLayerNet's 1 it stayed at chance for
    hundreds of steps); a net whose weights overflow reads 0.0 and is named."""
    x, t, _, _ = data
    result = ex.compare_batchnorm(x, t, weight_scales=(1e-3, 1e3), train_size=200,
                                  hidden_size_list=(8, 8, 8), epochs=4, batch_size=50)
    assert result.curve("Batch Normalization", "W: 0.001").y[1] > 0.9
    assert result.settings["diverged"] == [["W: 1e+03", "Normal (without BatchNorm)"]]
    assert np.all(result.curve("Normal (without BatchNorm)", "W: 1e+03").y[1:] == 0.0)
    fig = plot_experiment(result)
    notes = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert notes == ["weights NaN: 0.0\n(the book's argmax: ~0.1)"]


def test_csv_is_long_form(data):
    x, t, _, _ = data
    result = ex.compare_optimizers(x, t, optimizers={"Adam": ("adam", 0.01)},
                                   hidden_size_list=(4,), iters=5, batch_size=8)
    rows = list(csv.reader(io.StringIO(result.to_csv())))
    assert rows[0] == ["group", "label", "iterations", "loss"]
    assert [r[:3] for r in rows[1:]] == [["", "Adam", str(i)] for i in range(5)]
    assert float(rows[1][3]) == result.curves[0].y[0]


def test_smooth_curve_keeps_length_and_constants():
    y = np.linspace(0, 1, 50)
    assert smooth_curve(y).shape == (50,)
    np.testing.assert_allclose(smooth_curve(np.full(30, 2.0)), 2.0)
    np.testing.assert_array_equal(smooth_curve([1.0, 2.0]), [1.0, 2.0])


def test_every_figure_is_saved(data, tmp_path):
    x, t, xt, tt = data
    small = {"hidden_size_list": (4,), "batch_size": 50}
    results = [
        ex.compare_optimizers(x, t, iters=20, **small),
        ex.compare_weight_init(x, t, iters=20, **small),
        ex.compare_batchnorm(x, t, weight_scales=(1.0, 0.1, 0.01), train_size=100, epochs=3,
                             **small),
        ex.compare_regularization(x, t, xt, tt, train_size=100, test_size=50, epochs=3,
                                  **small),
    ]
    for result in results:
        png = plot_experiment(result, tmp_path / f"{result.name}.png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert save_csv(result, tmp_path / f"{result.name}.csv").stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{n}.{e}" for n in ex.EXPERIMENTS for e in ("csv", "png"))


def test_cli_rejects_mismatched_flags_before_loading_data(tmp_path, capsys):
    assert main(["experiment", "batchnorm", "--iters", "5", "--out", str(tmp_path)]) == 2
    assert "--iters applies to optimizers and init" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("")
    assert main(["experiment", "init", "--out", str(tmp_path / "a-file" / "sub")]) == 2
    assert "cannot use" in capsys.readouterr().err


def test_cli_runs_a_short_experiment_on_real_mnist(real_data_root, tmp_path, capsys):
    out_dir = tmp_path / "new" / "dir"  # created, as `chainrule train --out` does
    code = main(["experiment", "init", "--iters", "20", "--out", str(out_dir),
                 "--data-dir", str(real_data_root / "mnist"), "-q"])
    assert code == 0
    out = capsys.readouterr().out
    assert f"wrote {out_dir / 'init.png'}" in out and "He" in out
    assert (out_dir / "init.png").stat().st_size > 1000
