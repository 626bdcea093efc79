"""The chapter-6 pages' endpoints: the numbers are the library's, runs stream, a second
start is told which run trains, Stop stops, nothing is written unless saved."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("starlette")
from lab_tools import assert_coded, lab_client  # noqa: E402

from chainrule.book.activation_histograms import activation_histograms  # noqa: E402
from chainrule.book.optimizer_paths import optimizer_path  # noqa: E402


def make_app(tmp_path, data_dir=None):
    from chainrule.web import create_app

    return create_app(runs_dir=tmp_path / "runs", first_root=tmp_path / "first",
                      download=False, plots=False, data_dir=data_dir)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return lab_client(make_app(tmp_path_factory.mktemp("ch6")))


@pytest.fixture(scope="module")
def mnist_lab(tmp_path_factory, real_data_root):
    tmp = tmp_path_factory.mktemp("ch6-mnist")
    return lab_client(make_app(tmp, real_data_root / "mnist")), tmp


def events(client, path: str, headers=None) -> list[dict]:
    out = []
    with client.stream("GET", path, headers=headers or {}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                out.append(json.loads(line[6:]))
                if out[-1]["type"] == "end":
                    break
    return out


def test_the_pages_and_the_header_group(client):
    pages = client.get("/api/pages").json()["pages"]
    ours = [p for p in pages if p.get("group") == "ch6"]
    assert [p["path"] for p in ours] == ["/ch6/optimizers", "/ch6/init", "/ch6/batchnorm",
                                         "/ch6/overfit", "/ch6/hyperparameters"]
    for p in ours:
        r = client.get(p["path"])
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        assert "/static/ch6.css" in r.text


def test_surfaces_and_their_contours(client):
    meta = client.get("/api/ch6/surfaces").json()
    assert meta["optimizers"] == ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
    book = next(s for s in meta["surfaces"] if s["name"] == "book")
    assert book["start"] == [-7.0, 2.0] and book["iters"] == 30
    assert {k: book["presets"][k]["lr"] for k in meta["book_rates"]} == meta["book_rates"] == {
        "sgd": 0.95, "momentum": 0.1, "adagrad": 1.5, "adam": 0.3}
    assert book["presets"]["adam"] == {"lr": 0.3, "beta1": 0.9, "beta2": 0.999}
    lines = client.get("/api/ch6/surfaces/rosenbrock").json()["contours"]
    assert len(lines) == len(next(s for s in meta["surfaces"] if s["name"] == "rosenbrock")
                             ["levels"]) and all(c["lines"] for c in lines)
    r = client.get("/api/ch6/surfaces/moon")
    assert r.status_code == 404 and r.json()["code"] == "ch6.choice"


def test_the_preset_paths_are_the_books(client):
    answer = client.post("/api/ch6/paths", json={}).json()
    assert answer["surface"] == "book" and answer["iters"] == 30
    assert [p["name"] for p in answer["paths"]] == ["sgd", "momentum", "nesterov", "adagrad",
                                                    "rmsprop", "adam"]
    for p in answer["paths"]:
        ours = optimizer_path("book", p["name"])
        assert [tuple(q) for q in p["points"]] == ours.points
        assert p["states"][0].keys() == ours.states[0].keys()
    adam = answer["paths"][-1]
    assert adam["rates"][0] == pytest.approx(0.0948683, rel=1e-6)


def test_dragging_the_start_and_moving_a_slider(client):
    base = {"optimizers": {"momentum": {}, "adagrad": {}}}
    a = client.post("/api/ch6/paths", json=base).json()["paths"]
    dragged = client.post("/api/ch6/paths", json={**base, "start": [-3, -1.5]}).json()["paths"]
    assert dragged[0]["points"][0] == [-3, -1.5] and dragged[0]["points"] != a[0]["points"]
    slid = client.post("/api/ch6/paths", json={"optimizers": {"momentum": {"lr": 0.05,
                                                                           "momentum": 0.5},
                                                              "adagrad": {}}}).json()["paths"]
    assert slid[0]["settings"] == {"lr": 0.05, "momentum": 0.5}
    assert slid[0]["points"] != a[0]["points"] and slid[1]["points"] == a[1]["points"]
    ours = optimizer_path("book", "momentum", lr=0.05, momentum=0.5)
    assert [tuple(q) for q in slid[0]["points"]] == ours.points
    far = client.post("/api/ch6/paths", json={"optimizers": {"sgd": {"lr": 5}},
                                              "iters": 300}).json()["paths"][0]
    assert far["escaped"] is not None and far["heights"][-1] is None  # JSON has no infinity


@pytest.mark.parametrize("body, code, field", [
    ({"surface": "moon"}, "ch6.choice", "surface"),
    ({"start": [1]}, "ch6.point", "start"),
    ({"start": [1, 1e9]}, "ch6.point", "start"),
    ({"start": "1,2"}, "ch6.point", "start"),
    ({"iters": 301}, "net.whole_number", "iters"),
    ({"optimizers": {}}, "ch6.optimizers", "optimizers"),
    ({"optimizers": {"lion": {}}}, "ch6.optimizers", "optimizers"),
    ({"optimizers": {"sgd": 0.1}}, "ch6.optimizers", "optimizers"),
    ({"optimizers": {"sgd": {"beta1": 0.9}}}, "ch6.setting", "sgd"),
    ({"optimizers": {"adam": {"beta2": 1}}}, "net.number_range", "adam.beta2"),
    ({"optimizers": {"momentum": {"lr": 0}}}, "net.number_above", "momentum.lr"),
    ({"colour": 1}, "net.unknown_option", None),
])
def test_bad_paths_are_refused_with_the_field(client, body, code, field):
    r = client.post("/api/ch6/paths", json=body)
    assert r.status_code == 400, r.text
    answer = r.json()
    assert_coded(answer)
    assert answer["code"] == code and answer.get("field") == field


def test_the_histograms_are_the_librarys(client):
    answer = client.post("/api/ch6/init", json={"activation": "tanh", "scale": "xavier",
                                                "seed": 5}).json()
    ours = activation_histograms("tanh", "xavier", seed=5)
    assert answer["std"] == 0.1 and len(answer["layers"]) == 5
    for layer, v, g in zip(answer["layers"], ours.values, ours.gradients, strict=True):
        assert layer["values"]["counts"] == v.counts and layer["grads"]["counts"] == g.counts
    first = client.post("/api/ch6/init", json={}).json()  # the book's script as it is
    assert first["activation"] == "sigmoid" and first["scale"] == 1.0
    small = client.post("/api/ch6/init", json={"scale": 0.01}).json()
    assert small["layers"][4]["values"]["counts"] != first["layers"][4]["values"]["counts"]
    for body, code in (({"activation": "gelu"}, "ch6.choice"), ({"scale": 0}, "ch6.scale"),
                       ({"scale": "lecun"}, "ch6.scale"), ({"seed": -1}, "net.whole_number"),
                       ({"scale": 1e3}, "ch6.scale"), ({"nodes": 5}, "net.unknown_option")):
        r = client.post("/api/ch6/init", json=body)
        assert r.status_code == 400 and r.json()["code"] == code, body


def test_a_batchnorm_run_streams_stops_and_saves(mnist_lab):
    client, tmp = mnist_lab
    assert client.get("/api/ch6/batchnorm/latest").json()["run"] is None
    r = client.post("/api/ch6/batchnorm", json={"weight_scale": 0.00215, "epochs": 4})
    assert r.status_code == 200
    run = r.json()["run"]
    seen = events(client, f"/api/ch6/batchnorm/{run}/events")
    kinds = [e["type"] for e in seen]
    assert kinds == ["start", "point", "point", "point", "point", "end"]
    assert seen[-1]["status"] == "completed"
    points = [e for e in seen if e["type"] == "point"]
    assert points[-1]["acc"][0] > 0.5 > points[-1]["acc"][1]  # batch norm learns at once
    assert [p["iteration"] for p in points] == [1, 11, 21, 31]  # the book's measuring points
    hist = points[-1]["layers"][2]
    assert set(hist) == {"affine", "bn_affine", "bn_normalized"}
    assert abs(hist["bn_normalized"]["std"] - 1) < 0.1 and hist["affine"]["std"] < 0.1
    assert not (tmp / "runs").exists()  # nothing written unless saved
    again = events(client, f"/api/ch6/batchnorm/{run}/events", {"Last-Event-ID": "3"})
    assert [e["seq"] for e in again] == [4, 5]
    saved = client.post(f"/api/ch6/batchnorm/{run}/save").json()
    csv = next(f for f in saved["files"] if f.endswith(".csv"))
    rows = open(csv).read().splitlines()
    assert rows[0] == "group,label,epochs,accuracy" and len(rows) == 1 + 2 * 4
    assert float(rows[4].split(",")[-1]) == points[-1]["acc"][0]


def test_one_run_at_a_time_and_stop(mnist_lab):
    client, _ = mnist_lab
    first = client.post("/api/ch6/overfit", json={"weight_decay": 0.1, "epochs": 400,
                                                  "test_size": 100}).json()["run"]
    busy = client.post("/api/ch6/overfit", json={})
    assert busy.status_code == 409 and busy.json()["code"] == "job.busy"
    assert busy.json()["running"] == first
    assert client.get("/api/ch6/overfit/latest").json()["run"] == first
    time.sleep(0.5)
    assert client.post(f"/api/ch6/overfit/{first}/stop").status_code == 200
    seen = events(client, f"/api/ch6/overfit/{first}/events")
    assert seen[-1]["status"] == "stopped" and len(seen) < 402
    start = seen[0]
    assert start["labels"] == ["no regularization", "weight decay (lambda=0.1)"]
    for e in seen[1:-1]:
        assert e["gap"] == [a - b for a, b in zip(e["train"], e["test"], strict=True)]
    r = client.post("/api/ch6/overfit", json={"epochs": 2, "test_size": 100})
    plain = events(client, f"/api/ch6/overfit/{r.json()['run']}/events")
    assert plain[0]["labels"] == ["no regularization"] and len(plain[1]["train"]) == 1
    for path in (f"/api/ch6/overfit/{first}x/stop", "/api/ch6/overfit/nope/events",
                 f"/api/ch6/batchnorm/{first}/save"):
        r = client.post(path) if path.endswith(("stop", "save")) else client.get(path)
        assert r.status_code == 404 and r.json()["code"] == "ch6.no_run", path


def test_a_run_without_mnist_says_why(tmp_path, monkeypatch):
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    client = lab_client(make_app(tmp_path, tmp_path / "no-data"))
    run = client.post("/api/ch6/batchnorm", json={"epochs": 1}).json()["run"]
    seen = events(client, f"/api/ch6/batchnorm/{run}/events")
    assert seen[-1]["status"] == "failed" and seen[-1]["message_code"] == "ch6.no_mnist"
    r = client.post(f"/api/ch6/batchnorm/{run}/save")
    assert r.status_code == 409 and r.json()["code"] == "ch6.nothing_yet"


def test_bad_training_forms(client):
    for path, body, code in (
            ("/api/ch6/batchnorm", {"weight_scale": 0}, "net.number_range"),
            ("/api/ch6/batchnorm", {"epochs": 101}, "net.whole_number"),
            ("/api/ch6/batchnorm", {"lr": 0.1}, "net.unknown_option"),
            ("/api/ch6/overfit", {"weight_decay": 2}, "net.number_range"),
            ("/api/ch6/overfit", {"dropout": 0.95}, "net.number_range"),
            ("/api/ch6/overfit", {"test_size": 10001}, "net.whole_number"),
            ("/api/ch6/overfit", {"epochs": True}, "net.whole_number")):
        r = client.post(path, json=body)
        assert r.status_code == 400 and r.json()["code"] == code, (path, body)
