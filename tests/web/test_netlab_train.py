"""Training from the network lab: live events, stop and resume, one run at a time, lr 10.

Runs use scikit-learn's bundled 8x8 digits (a real dataset, 1438 training images), so a
few hundred steps take well under a second and ``chainrule train --resume`` can reload
the same data.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")
from lab_tools import net_lab_app, running_lab  # noqa: E402

from chainrule.cli import main  # noqa: E402

SMALL = {"dataset": "digits", "hidden": 20, "iters": 300, "eval_every": 50}


def _strict(text: str):
    def refuse(name):
        raise ValueError(f"{name} in an event")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    app = net_lab_app(None, tmp_path_factory.mktemp("lab"))
    lab = app.state.lab.netlab
    lab.status = "ready"  # no first network for these tests: the runs are the subject
    with running_lab(app) as running, httpx.Client(base_url=running.url, timeout=60) as client:
        yield client, lab


def events(client, run_id: str, *, until=None):
    """The run's events, read from the stream until the end event (or ``until(event)``)."""
    got = []
    with client.stream("GET", f"/api/train/{run_id}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                got.append(_strict(line[6:]))
                if got[-1]["type"] == "end" or (until is not None and until(got[-1])):
                    break
    return got


def metrics_rows(path) -> list[dict]:
    with open(path / "metrics.csv", newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def test_a_live_run_streams_what_metrics_csv_holds(lab, capsys):
    client, _ = lab
    answer = client.post("/api/train", json=SMALL)
    assert answer.status_code == 200, answer.text
    run_id = answer.json()["run"]
    got = events(client, run_id)
    assert [e["seq"] for e in got] == list(range(len(got)))
    assert got[0]["type"] == "created" and got[-1]["type"] == "end"
    created, end = got[0], got[-1]
    assert created["iters"] == 300 and created["net"] == "TwoLayerNet 64-20-10"
    assert end["status"] == "completed" and end["model"] is True and end["message"] == ""
    progress = [e for e in got if e["type"] == "progress"]
    assert [e["iteration"] for e in progress] == list(range(25, 301, 25))
    evals = [e for e in got if e["type"] == "eval"]
    path = answer.json()["path"]
    assert_free(Path(path))
    rows = metrics_rows(Path(path))
    assert [e["iteration"] for e in evals] == [0, 50, 100, 150, 200, 250]
    for e, row in zip(evals, rows, strict=True):
        assert {k: e[k] for k in row} == row  # exactly the numbers in metrics.csv
    assert evals[-1]["test_acc"] == rows[-1]["test_acc"] > 0.5
    summary = json.loads((Path(path) / "summary.json").read_text())
    assert end["summary"]["test_acc"] == summary["test_acc"]
    # a normal run folder: chainrule evaluate reads it, and the page can use it
    assert main(["evaluate", path, "--no-plot"]) == 0
    assert f"accuracy {summary['test_acc']:.4f}" in capsys.readouterr().out
    use = client.post("/api/model", json={"run": run_id})
    assert use.status_code == 200 and use.json()["model"]["id"] == run_id
    assert use.json()["model"]["source"] == "run"
    assert client.post("/api/predict", json={"pixels": [0.5] * 64}).status_code == 200
    # a finished stream is replayed whole to a late reader
    assert events(client, run_id) == got


def test_stop_refuse_a_second_run_and_resume(lab, capsys):
    client, _ = lab
    long = {**SMALL, "iters": 50000, "eval_every": 5000}
    run = client.post("/api/train", json=long).json()
    first = events(client, run["run"], until=lambda e: e["type"] == "progress")
    assert first[-1]["type"] == "progress"
    second = client.post("/api/train", json=SMALL)
    assert second.status_code == 409
    assert second.json()["error"] == (f"a training run is already in progress ({run['run']}); "
                                      "stop it or wait for it to finish")
    assert client.post(f"/api/train/{run['run']}/stop").status_code == 200
    got = events(client, run["run"])
    end = got[-1]
    assert end["status"] == "stopped" and end["model"] is True
    stopped_at = end["summary"]["iteration"]
    assert 0 < stopped_at < 50000 and "chainrule train --resume" in end["message"]
    path = Path(run["path"])
    assert_free(path)  # the lock is free by the end event: --resume may start at once
    rows = metrics_rows(path)
    last_eval = [e for e in got if e["type"] == "eval"][-1]
    assert {k: last_eval[k] for k in rows[-1]} == rows[-1]
    # the saved run goes on from the command line
    assert main(["train", "--resume", str(path), "--iters", str(stopped_at + 40), "-q",
                 "--no-plot"]) == 0
    capsys.readouterr()
    summary = json.loads((path / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["iteration"] == stopped_at + 40
    # and the lab takes a new run again
    again = client.post("/api/train", json=SMALL)
    assert again.status_code == 200
    assert events(client, again.json()["run"])[-1]["status"] == "completed"


def test_learning_rate_10(lab):
    client, _ = lab
    # SGD at lr 10: no NaN, and no loss 1000 times the first (the ReLU units die, the exact
    # log-softmax keeps the loss near log 10), so the run completes; the end event says
    # that it learned nothing and why
    got = events(client, client.post("/api/train", json={**SMALL, "lr": 10}).json()["run"])
    end = got[-1]
    assert end["status"] == "completed"
    assert "not learning" in end["warning"] and "learning rate 10 is too high" in end["warning"]
    facts = end["warning_facts"]
    assert facts["cause"] == "high" and facts["lr"] == 10 and facts["accuracy"] <= 0.15
    assert facts["worst_loss"] < 1000 * facts["first_loss"]
    # the note quotes single mini-batches, and the progress events hold every one: the
    # highest is the top of the range of the stretch of steps holding its step
    progress = [e for e in got if e["type"] == "progress"]
    assert facts["worst_loss"] == max(e["loss_max"] for e in progress)
    stretch = next(e for e in progress if e["iteration"] >= facts["worst_at"])
    assert stretch["loss_max"] == facts["worst_loss"]
    assert all(e["loss_min"] <= e["loss"] <= e["loss_max"] for e in progress)
    assert f"jumped from {facts['first_loss']:.3g} (step 1) to {facts['worst_loss']:.3g} " \
        f"(step {facts['worst_at']})" in end["warning"]
    created = got[0]
    assert created["type"] == "created" and created["progress_every"] == 25
    assert created["architecture"] == {"class": "TwoLayerNet", "dropout": 0.0,
                                       "sizes": [64, 20, 10]}
    # Adam at lr 10, and SGD at lr 10 with weight decay 0.5 (W *= 1 - 10 * 0.5 each step):
    # the loss explodes, and the library's TrainingDiverged message reaches the page
    for form in ({"optimizer": "adam"}, {"weight_decay": 0.5}):
        answer = client.post("/api/train", json={**SMALL, "lr": 10, **form}).json()
        got = events(client, answer["run"])
        end = got[-1]
        assert end["status"] == "diverged" and end["model"] is False, form
        assert end["message"].startswith("training diverged at iteration ")
        assert "more than 1000 times the first step's" in end["message"]
        assert end["message"].endswith("; try a lower learning rate (now 10)")
        assert end["summary"]["status"] == "diverged" and not end["warning"]
        at = int(end["message"].split()[4].rstrip(":"))  # "training diverged at iteration N:"
        assert [e for e in got if e["type"] == "progress"][-1]["iteration"] == at  # steps before
        assert all(e.get("loss") is None or math.isfinite(e["loss"]) for e in got)  # strict JSON
        assert_free(Path(answer["path"]))


def assert_free(path: Path) -> None:
    """No Run holds the folder's lock any more (in this process or another)."""
    from chainrule.training.folder import RunLock

    RunLock.check(path)


def test_unknown_runs_and_bad_forms(lab):
    client, _ = lab
    for path in ("/api/train/nope/events", "/api/train/..%2F..%2Fetc/stop"):
        method = "GET" if path.endswith("events") else "POST"
        answer = client.request(method, path)
        assert answer.status_code == 404 and answer.json()["error"]
    cases = {
        "hidden": {"hidden": 5000}, "layers": {"hidden": [10] * 9}, "iters": {"iters": 10**6},
        "epochs": {"epochs": 10, "iters": 10}, "lr": {"lr": 0}, "opt": {"optimizer": "sgdd"},
        "dataset": {"dataset": "cifar"}, "unknown": {"layers": 3}, "batch": {"batch_size": 0},
        "bn": {"batchnorm": "yes"}, "dropout": {"dropout": 0.95}, "too big": {
            "hidden": [1024] * 5, "iters": 50000, "batch_size": 1000},
        "evals": {"iters": 1000, "eval_every": 1},
    }
    for name, form in cases.items():
        answer = client.post("/api/train", json=form)
        assert answer.status_code == 400, name
        assert answer.json()["error"], name


def test_while_the_first_network_trains(tmp_path, monkeypatch):
    """The lab answers while its first network trains; a page run and a stop of that
    network are refused in one line; when the server stops, so does that run, and its
    half-trained folder is removed."""
    from lab_tools import lab_client

    monkeypatch.delenv("CHAINRULE_DATA", raising=False)  # no MNIST here: the digits
    app = net_lab_app(None, tmp_path, first_iters={"digits": 50000})
    lab = app.state.lab.netlab
    with lab_client(app) as client:
        info = client.get("/api/model").json()
        assert info["status"] == "training" and info["model"] is None
        assert info["first_run"] == info["training"] == lab.first_run.id
        busy = client.post("/api/train", json=SMALL)
        assert busy.status_code == 409
        assert busy.json()["error"].startswith("the lab is still training its first network")
        stop = client.post(f"/api/train/{info['first_run']}/stop")
        assert stop.status_code == 409 and "cannot be stopped" in stop.json()["error"]
        predict = client.post("/api/predict", json={"pixels": [0.0] * 64})
        assert predict.status_code == 409 and "still training" in predict.json()["error"]
    assert lab.first_run.done and lab.first_run.status == "stopped"
    assert list((tmp_path / "first").glob("*")) == []
