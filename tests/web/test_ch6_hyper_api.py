"""The hyperparameter-search page's endpoints: every trial's numbers are the library's
(a direct RandomSearch with the same seed gives the same floats), the best are ranked
in Python, a second start is told which search runs, Stop stops between epochs, too
much work is refused before anything starts, nothing is written unless saved."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("starlette")
from lab_tools import assert_coded, lab_client  # noqa: E402
from test_ch6_api import events, make_app  # noqa: E402

from chainrule.book.hyperparameters import RandomSearch, best_spans, ranked  # noqa: E402

API = "/api/ch6/hyperparameters"


@pytest.fixture(scope="module")
def mnist_lab(tmp_path_factory, real_data_root):
    tmp = tmp_path_factory.mktemp("ch6-hyper")
    return lab_client(make_app(tmp, real_data_root / "mnist")), tmp


def test_the_page_and_its_presets(mnist_lab):
    client, _ = mnist_lab
    page = client.get("/ch6/hyperparameters")
    assert page.status_code == 200 and "/static/ch6-hyperparameters.js" in page.text
    latest = client.get(f"{API}/latest").json()
    assert latest["run"] is None
    p = latest["presets"]
    assert (p["trials"], p["epochs"], p["log_lr"], p["log_weight_decay"]) == (
        100, 50, [-6.0, -2.0], [-8.0, -4.0])  # hyperparameter_optimization.py
    assert (p["train_size"], p["validation_rate"], p["hidden_size_list"], p["batch_size"]) == (
        500, 0.2, [100] * 6, 100)
    assert p["trials"] * p["epochs"] <= p["max_work"]


def test_a_search_is_the_librarys_and_saves(mnist_lab, mnist_arrays):
    client, tmp = mnist_lab
    form = {"trials": 5, "epochs": 3, "log_lr": [-3, -1], "log_weight_decay": [-7, -5],
            "seed": 3}
    r = client.post(API, json=form)
    assert r.status_code == 200
    run = r.json()["run"]
    seen = events(client, f"{API}/{run}/events")
    assert [e["type"] for e in seen] == ["start"] + ["trial"] * 5 + ["end"]
    assert seen[-1]["status"] == "completed"
    assert (seen[0]["train_size"], seen[0]["validation_size"], seen[0]["per_epoch"]) == (
        400, 100, 4)
    (x, t), _ = mnist_arrays
    direct = list(RandomSearch(x, t, **form))  # the same seed, straight from the library
    for e, tr in zip(seen[1:-1], direct, strict=True):
        assert (e["index"], e["lr"], e["weight_decay"]) == (tr.index, tr.lr, tr.weight_decay)
        assert e["val"] == tr.val_acc.tolist() and e["train"] == tr.train_acc.tolist()
        assert (e["final_val"], e["final_train"]) == (tr.final_val, tr.final_train)
        assert 10 ** e["log_lr"] == pytest.approx(tr.lr, rel=1e-12)
        assert -3 <= e["log_lr"] <= -1 and -7 <= e["log_weight_decay"] <= -5
    last = seen[-2]
    assert last["best"] == [tr.index for tr in ranked(direct)]
    assert last["spans"] == {str(k): v for k, v in best_spans(direct).items()}
    assert seen[1]["best"] == [0] and seen[1]["spans"]["20"]["count"] == 1  # the best so far
    assert max(e["final_val"] for e in seen[1:-1]) > 0.3  # lr near 1e-2..1e-1 learns
    assert not (tmp / "runs").exists()  # nothing written unless saved
    saved = client.post(f"{API}/{run}/save").json()
    csv = next(f for f in saved["files"] if f.endswith(".csv"))
    rows = open(csv).read().splitlines()
    assert rows[0] == "group,label,epochs,accuracy" and len(rows) == 1 + 5 * 2 * 4
    best = ranked(direct)[0]
    assert rows[1].startswith(f'"{best.key()}",val,0,')
    assert any(f.endswith(".png") for f in saved["files"])


def test_one_search_at_a_time_stop_and_a_second_tab(mnist_lab):
    client, _ = mnist_lab
    first = client.post(API, json={"trials": 400, "epochs": 50}).json()["run"]
    busy = client.post(API, json={"trials": 2})
    assert busy.status_code == 409 and busy.json()["code"] == "job.busy"
    assert busy.json()["running"] == first
    latest = client.get(f"{API}/latest").json()  # what a second tab follows
    assert latest["run"] == first and latest["status"] in ("starting", "running")
    time.sleep(1.0)
    assert client.post(f"{API}/{first}/stop").status_code == 200
    seen = events(client, f"{API}/{first}/events")
    assert seen[-1]["status"] == "stopped" and len(seen) < 30
    trials = [e for e in seen if e["type"] == "trial"]
    assert [e["index"] for e in trials] == list(range(len(trials)))
    assert all(len(e["val"]) == 51 for e in trials)  # no half-trained trial is told
    for path in (f"{API}/{first}x/stop", f"{API}/nope/events",
                 f"/api/ch6/overfit/{first}/save"):
        r = client.post(path) if path.endswith(("stop", "save")) else client.get(path)
        assert r.status_code == 404 and r.json()["code"] == "ch6.no_run", path


@pytest.mark.parametrize("body, code, field", [
    ({"trials": 0}, "net.whole_number", "trials"),
    ({"trials": 501}, "net.whole_number", "trials"),
    ({"epochs": 201}, "net.whole_number", "epochs"),
    ({"trials": 500, "epochs": 41}, "hyper.too_much", "trials"),
    ({"trials": 401, "epochs": 50}, "hyper.too_much", "trials"),
    ({"log_lr": [-2, -6]}, "hyper.range", "log_lr"),
    ({"log_lr": [-6, -6]}, "hyper.range", "log_lr"),
    ({"log_lr": [-9, -2]}, "hyper.range", "log_lr"),
    ({"log_lr": [-6, 0.5]}, "hyper.range", "log_lr"),
    ({"log_lr": [-6, True]}, "hyper.range", "log_lr"),
    ({"log_lr": "-6,-2"}, "hyper.range", "log_lr"),
    ({"log_weight_decay": [-11, -4]}, "hyper.range", "log_weight_decay"),
    ({"log_weight_decay": [-8, -4, 0]}, "hyper.range", "log_weight_decay"),
    ({"seed": -1}, "net.whole_number", "seed"),
    ({"lr": 0.01}, "net.unknown_option", None),
])
def test_bad_forms_name_the_field(mnist_lab, body, code, field):
    client, _ = mnist_lab
    r = client.post(API, json=body)
    assert r.status_code == 400 and r.json()["code"] == code, r.json()
    assert r.json().get("field") == field
    assert_coded(r.json(), str(body))
    assert client.get(f"{API}/latest").json()["status"] != "running"


def test_the_work_limit_is_exactly_the_limit(mnist_lab):
    from chainrule.web.ch6_hyper import MAX_WORK, hyper_form

    assert hyper_form({"trials": 400, "epochs": 50})["trials"] * 50 == MAX_WORK
    assert hyper_form({})["trials"] == 100
