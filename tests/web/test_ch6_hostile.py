"""Malformed requests to every chapter-6 endpoint: each gets a 4xx with a JSON error and a
code, never a 500, and the server keeps serving. Most go straight to the ASGI app; a
share through a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import json
import random
from urllib.parse import quote

import pytest

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")
from lab_tools import assert_coded, lab_client, running_lab  # noqa: E402
from test_netlab_hostile import junk_json  # noqa: E402

N = 300

BAD_NUMBERS = [-1, 0, 1e308, -1e308, 10**400, "0.1", None, True, [0.1], {"v": 1}, "", 1e-300]


def bad_value(r: random.Random):
    return r.choice(BAD_NUMBERS + ["x" * r.randrange(1, 3000), [[]] * 5, "NaN"])


def paths_body(r: random.Random) -> bytes:
    kind = r.randrange(7)
    if kind == 0:
        return junk_json(r)
    body = {"surface": "book", "start": [-7, 2], "iters": 30, "optimizers": {"sgd": {}}}
    if kind == 1:
        body["surface"] = r.choice(["moon", "", 3, None, ["book"], "BOOK", "book "])
    elif kind == 2:
        body["start"] = r.choice([[1], [1, 2, 3], "1,2", [1, "2"], [1e4, 0], [None, 0],
                                  [True, 0], {"x": 1, "y": 2}, [10**400, 0], []])
    elif kind == 3:
        body["iters"] = r.choice([0, -1, 301, 10**12, "30", 2.5, None and 1 or [], True])
    elif kind == 4:
        body["optimizers"] = r.choice([{}, [], "sgd", {"lion": {}}, {"sgd": 1}, {"sgd": []},
                                       {n: {} for n in ("sgd", "adam", "x")}, None and 1 or 0])
    elif kind == 5:
        name = r.choice(["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"])
        key = r.choice(["lr", "momentum", "decay_rate", "beta1", "beta2", "eps", "lr "])
        wrong = [0, -0.1, 101, 10**400] if key == "lr" else [-0.1, 1, 1.5, 10**400]
        value = r.choice(wrong + [1e308, "0.1", True, [0.1], {"v": 0}])
        body["optimizers"] = {name: {key: value}}
    else:
        body[r.choice(["Surface", "x", "", "steps", "seed"])] = bad_value(r)
    return json.dumps(body).encode()


def init_body(r: random.Random) -> bytes:
    kind = r.randrange(5)
    if kind == 0:
        return junk_json(r)
    body = {"activation": "relu", "scale": "he", "seed": 0}
    if kind == 1:
        body["activation"] = r.choice(["gelu", "", None, 1, ["relu"], "ReLU"])
    elif kind == 2:
        body["scale"] = r.choice([0, -1, 1e-5, 101, 1e308, "lecun", "", None, True, [1], "1"])
    elif kind == 3:
        body["seed"] = r.choice([-1, 2**32, 1.5, "0", True, None and 1 or [], 10**400])
    else:
        body[r.choice(["nodes", "layers", "samples", "Activation", ""])] = bad_value(r)
    return json.dumps(body).encode()


FORM_FIELDS = {
    "batchnorm": {"weight_scale": [0, -1, 11, 1e-6, "0.01", True, None and 1 or [], 1e308],
                  "epochs": [0, 101, -1, 2.5, "20", True, 10**12],
                  "seed": [-1, 2**31, 1.5, "0", True]},
    "overfit": {"weight_decay": [-0.1, 1.01, "0.1", True, [0.1], 1e308],
                "dropout": [-0.1, 0.95, 1, "0.2", True],
                "epochs": [0, 401, "201", 2.5, True],
                "test_size": [0, 99, 10001, "1000", 1.5, True],
                "seed": [-1, 2**31, "0", True]},
    "hyperparameters": {"trials": [0, 501, -1, 2.5, "100", True, 10**12, 1e308],
                        "epochs": [0, 201, "50", 2.5, True, 10**400],
                        "log_lr": [[-2, -6], [-6, -6], [-9, -2], [-6, 1], [-6], [-6, -4, -2],
                                   "-6,-2", [-6, "x"], [None, -2], [True, -2], [10**400, 0],
                                   [-1e308, 0], {"lo": -6}, -6, [[], []]],
                        "log_weight_decay": [[-4, -8], [-11, -4], [-8, 1], [], [-8, None],
                                             ["-8", "-4"], 1e-5],
                        "seed": [-1, 2**31, "0", True]},
}


def form_body(r: random.Random, kind: str) -> bytes:
    choice = r.randrange(3)
    if choice == 0:
        return junk_json(r)
    if choice == 1:
        return json.dumps({r.choice(["lr", "hidden", "train_size", "Epochs", ""]): 1}).encode()
    fields = FORM_FIELDS[kind]
    key = r.choice(sorted(fields))
    return json.dumps({key: r.choice(fields[key])}).encode()


def run_id(r: random.Random) -> str:
    kind = r.randrange(3)
    if kind == 0:
        return quote("".join(r.choice("abc019-_.~") for _ in range(r.randrange(1, 60))))
    if kind == 1:
        return quote(r.choice(["..", "%00", "batchnorm-0", "overfit-999", "latest"]), safe="")
    return "9" * r.randrange(1, 3000)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from chainrule.web import create_app

    tmp = tmp_path_factory.mktemp("ch6-hostile")
    return create_app(runs_dir=tmp / "runs", first_root=tmp / "first", download=False,
                      plots=False, data_dir=tmp / "no-data")


def check(r, where: str) -> None:
    assert 400 <= r.status_code < 500, (where, r.status_code, r.text[:300])
    assert_coded(r.json(), where)


@pytest.mark.parametrize("path, make", [
    ("/api/ch6/paths", paths_body),
    ("/api/ch6/init", init_body),
    ("/api/ch6/batchnorm", lambda r: form_body(r, "batchnorm")),
    ("/api/ch6/overfit", lambda r: form_body(r, "overfit")),
    ("/api/ch6/hyperparameters", lambda r: form_body(r, "hyperparameters")),
])
def test_malformed_bodies(app, path, make):
    client = lab_client(app)
    r = random.Random(path)
    for i in range(N):
        body = make(r)
        kind = r.choice(["application/json"] * 8 + ["text/plain", ""])
        answer = client.post(path, content=body, headers={"Content-Type": kind} if kind else {})
        check(answer, f"{path} #{i} {body[:80]!r}")
    assert client.post(path, json={}).status_code in (200, 409)  # still serving


def test_run_ids_and_methods(app):
    client = lab_client(app)
    r = random.Random(1)
    for i in range(N):
        kind = r.choice(["batchnorm", "overfit", "nope"])
        rid = run_id(r)
        action = r.choice(["events", "stop", "save", ""])
        path = f"/api/ch6/{kind}/{rid}/{action}".rstrip("/")
        method = r.choice(["GET", "POST", "DELETE", "PUT"])
        answer = client.request(method, path)
        check(answer, f"#{i} {method} {path[:80]}")
    for path in ("/api/ch6/surfaces/" + "x" * 5000, "/api/ch6/surfaces/%00",
                 "/api/ch6/surfaces/book/extra", "/api/ch6/paths/extra"):
        check(client.get(path), path)
    check(client.put("/api/ch6/paths", json={}), "PUT paths")
    check(client.get("/api/ch6/init"), "GET init")


def test_hyperparameter_run_ids_and_methods(app):
    client = lab_client(app)
    r = random.Random(3)
    for i in range(N):
        rid = run_id(r)
        action = r.choice(["events", "stop", "save", ""])
        method = r.choice(["GET", "POST", "DELETE", "PUT"])
        if (rid, action, method) == ("latest", "", "GET"):
            continue  # the page's own question, answered 200
        path = f"/api/ch6/hyperparameters/{rid}/{action}".rstrip("/")
        check(client.request(method, path), f"#{i} {method} {path[:80]}")
    check(client.get("/api/ch6/hyperparameters"), "GET the form")


def test_through_a_real_server(app):
    with running_lab(app) as running:
        r = random.Random(2)
        with httpx.Client(base_url=running.url, timeout=30) as http:
            for i in range(60):
                path, make = r.choice([("api/ch6/paths", paths_body), ("api/ch6/init", init_body)])
                body = make(r)
                answer = http.post(path, content=body, headers={"Content-Type": "application/json"})
                check(answer, f"{path} #{i} {body[:80]!r}")
            big = b'{"optimizers": {"sgd": {"lr": 0.1}}, "x": "' + b"y" * (2 << 20) + b'"}'
            check(http.post("api/ch6/paths", content=big,
                            headers={"Content-Type": "application/json"}), "2 MiB body")
            for i in range(20):
                body = form_body(r, "hyperparameters")
                answer = http.post("api/ch6/hyperparameters", content=body,
                                   headers={"Content-Type": "application/json"})
                check(answer, f"hyperparameters #{i} {body[:80]!r}")
            ok = http.post("api/ch6/paths", json={"optimizers": {"adam": {}}})
            assert ok.status_code == 200 and ok.json()["paths"][0]["name"] == "adam"
