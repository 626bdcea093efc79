"""Figure 6-24's random search: the book's split and draws, reproducible from the seed,
trials that differ only in their hyperparameters, a stop between epochs, the ranking,
the figure and the CLI."""

import csv
import io

import numpy as np
import pytest

from chainrule.book.figures import plot_experiment
from chainrule.book.hyperparameters import (
    BOOK_SEARCH,
    RandomSearch,
    best_spans,
    random_search,
    ranked,
    search_result,
)
from chainrule.cli import main


@pytest.fixture(scope="module")
def data():
    """A separable 3-class problem with 12 features, 200 rows (the search takes 100)."""
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 12)) * 2
    t = rng.integers(0, 3, 200)
    return (centers[t] + rng.standard_normal((200, 12))).astype(np.float32), t


SMALL = {"train_size": 100, "hidden_size_list": (8, 8), "batch_size": 20, "epochs": 6}


def test_the_books_split_and_draws(data):
    x, t = data
    search = RandomSearch(x, t, trials=50, **SMALL)
    assert len(search.x_val) == 20 and len(search.x_train) == 80  # int(100 * 0.2) aside
    rows = {r.tobytes() for r in x[:100]}  # a shuffle of the first 100, nothing else
    assert {r.tobytes() for r in np.concatenate([search.x_val, search.x_train])} == rows
    assert not np.array_equal(search.x_val, x[:20])
    assert np.all((1e-6 <= search.lrs) & (search.lrs <= 1e-2))
    assert np.all((1e-8 <= search.weight_decays) & (search.weight_decays <= 1e-4))
    logs = np.log10(search.lrs)  # uniform on the exponent: both halves visited
    assert (logs < -4).any() and (logs > -4).any()
    assert search.per_epoch == 4
    assert BOOK_SEARCH["trials"] == 100 and BOOK_SEARCH["epochs"] == 50


def test_same_seed_same_trials_and_a_longer_search_begins_alike(data):
    x, t = data
    one = list(RandomSearch(x, t, trials=3, **SMALL))
    two = list(RandomSearch(x, t, trials=5, **SMALL))[:3]
    for a, b in zip(one, two, strict=True):
        assert (a.lr, a.weight_decay) == (b.lr, b.weight_decay)
        np.testing.assert_array_equal(a.val_acc, b.val_acc)
        np.testing.assert_array_equal(a.train_acc, b.train_acc)
        assert a.val_acc.shape == (SMALL["epochs"] + 1,)
    other = RandomSearch(x, t, trials=3, seed=1, **SMALL)
    assert not np.array_equal(other.lrs, RandomSearch(x, t, trials=3, **SMALL).lrs)


def test_trials_differ_only_in_their_hyperparameters(data):
    """Same start, same batches: two trials with the same lr and decay are the same."""
    x, t = data
    search = RandomSearch(x, t, trials=2, **SMALL)
    search.lrs[1], search.weight_decays[1] = search.lrs[0], search.weight_decays[0]
    a, b = search.run(0), search.run(1)
    np.testing.assert_array_equal(a.val_acc, b.val_acc)
    assert a.val_acc[0] == b.val_acc[0] == search.run(0).val_acc[0]  # before training


def test_a_good_learning_rate_learns_and_a_huge_one_diverges(data):
    x, t = data
    good = RandomSearch(x, t, trials=1, log_lr=(-0.7, -0.6), **{**SMALL, "epochs": 20}).run(0)
    assert good.final_val > 0.8 and good.final_train > 0.8 and not good.diverged
    huge = RandomSearch(x, t, trials=1, log_lr=(3.9, 4.0), log_weight_decay=(0, 0.1),
                        **SMALL).run(0)  # each step multiplies W by about -8400
    assert huge.diverged and huge.final_val == 0.0  # NaN scores count as wrong


def test_stop_between_epochs(data):
    x, t = data
    search = RandomSearch(x, t, trials=1, **SMALL)
    asked = []
    assert search.run(0, lambda: asked.append(1) or len(asked) >= 3) is None
    assert len(asked) == 3  # looked at before epochs 1, 2 and 3


def test_ranking_spans_and_the_figure(data, tmp_path):
    x, t = data
    result = random_search(x, t, trials=6, log_lr=(-3, 0), **SMALL)
    rows = result.settings["ranked"]
    finals = [(-r["val_acc"], -r["train_acc"], r["index"]) for r in rows]
    assert finals == sorted(finals) and len(rows) == 6
    assert result.groups() == [r["key"] for r in rows]
    best = result.curve("val", rows[0]["key"])
    assert best.y[-1] == rows[0]["val_acc"] and len(best.y) == SMALL["epochs"] + 1
    span = result.settings["best_spans"]["5"]
    top = rows[:5]
    assert span["lr"] == [min(r["lr"] for r in top), max(r["lr"] for r in top)]
    assert span["count"] == 5 and result.settings["best_spans"]["20"]["count"] == 6
    table = list(csv.reader(io.StringIO(result.to_csv())))
    assert table[0] == ["group", "label", "epochs", "accuracy"] and len(table) == 1 + 6 * 2 * 7
    assert table[1][0].startswith("lr:") and ", weight decay:" in table[1][0]
    png = plot_experiment(result, tmp_path / "hyperparameters.png")
    assert png.stat().st_size > 10_000


def test_spans_of_fewer_trials_than_asked():
    from chainrule.book.hyperparameters import Trial

    trials = [Trial(k, 10.0 ** -k, 1e-6, np.array([0.1, v]), np.array([0.1, v]))
              for k, v in enumerate([0.2, 0.5, 0.5])]
    assert [tr.index for tr in ranked(trials)] == [1, 2, 0]
    assert best_spans(trials, (2, 10)) == {
        2: {"lr": [0.01, 0.1], "weight_decay": [1e-6, 1e-6], "val_acc": [0.5, 0.5], "count": 2},
        10: {"lr": [0.01, 1.0], "weight_decay": [1e-6, 1e-6], "val_acc": [0.2, 0.5],
             "count": 3}}
    assert search_result(trials, {}).settings["ranked"][0]["index"] == 1


@pytest.mark.parametrize("bad", [{"trials": 0}, {"epochs": 1.5}, {"log_lr": (-2, -6)},
                                 {"log_weight_decay": (-4, float("nan"))},
                                 {"train_size": 1000}, {"validation_rate": 0.001}])
def test_bad_settings_are_refused(data, bad):
    x, t = data
    with pytest.raises(ValueError):
        RandomSearch(x, t, **{**SMALL, **bad})


def test_cli_flags(tmp_path, capsys):
    assert main(["experiment", "overfit", "--trials", "5", "--out", str(tmp_path)]) == 2
    assert "--trials applies to hyperparameters only" in capsys.readouterr().err
    assert main(["experiment", "hyperparameters", "--trials", "0", "--out", str(tmp_path)]) == 2
    assert "--trials must be between 1 and" in capsys.readouterr().err


def test_cli_runs_a_short_search_on_real_mnist(real_data_root, tmp_path, capsys):
    code = main(["experiment", "hyperparameters", "--trials", "4", "--epochs", "3",
                 "--out", str(tmp_path), "--data-dir", str(real_data_root / "mnist"), "-q"])
    assert code == 0
    out = capsys.readouterr().out
    assert "random search of lr and weight decay: 4 trials" in out
    assert out.count("Best-") == 4 and "the best 4: lr" in out
    assert (tmp_path / "hyperparameters.png").stat().st_size > 10_000
    rows = (tmp_path / "hyperparameters.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 * 2 * 4


def test_the_readmes_best_trials_of_the_books_search(mnist_arrays):
    """The README quotes the book's search (seed 0): its three best trials, rerun alone
    (trial k is the k-th drawn, whatever follows)."""
    (x, t), _ = mnist_arrays
    search = RandomSearch(x, t, trials=100)
    found = [search.run(k) for k in (86, 51, 16)]
    assert [(round(tr.final_val, 2), f"{tr.lr:.3g}", f"{tr.weight_decay:.3g}")
            for tr in found] == [(0.73, "0.00899", "2.22e-07"), (0.71, "0.00748", "4.3e-07"),
                                 (0.70, "0.00746", "1.03e-06")]
    assert found[0].final_train == 0.8275
