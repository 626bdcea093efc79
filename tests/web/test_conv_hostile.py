"""Malformed requests to every endpoint of the im2col page and the convnet lab: each gets a
4xx with the lab's JSON error (a code, its params), none a 500, none starts a run, and the
server keeps serving. Most go straight to the ASGI app; a share through a real uvicorn.
(The network lab's endpoints: test_netlab_hostile.py, whose body makers are reused.)"""

from __future__ import annotations

import asyncio
import json
import random

import numpy as np
import pytest

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")
from lab_tools import net_lab_app, running_lab  # noqa: E402
from test_netlab_hostile import (  # noqa: E402
    BAD_PIXELS,
    bad_image,
    check,
    junk_json,
    png,
    url,
)

N = 400


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from chainrule.nn.convnets import SimpleConvNet
    from chainrule.training.checkpoint import save_model

    tmp = tmp_path_factory.mktemp("conv-hostile")
    net = SimpleConvNet((1, 8, 8), hidden_size=10, weight_init_std=0.3, dtype=np.float32, seed=0)
    save_model(tmp / "model.npz", net, meta={"dataset": "digits", "image_shape": [8, 8],
                                             "class_names": [str(c) for c in range(10)]})
    return net_lab_app(tmp / "model.npz", tmp)


SIZE_VALUES = [0, -1, 99, 1.5, "1", True, [1], {"n": 1}, 10**30, 1e308]  # never a size


def nested(shape, value=1.0):
    return value if not shape else [nested(shape[1:], value) for _ in range(shape[0])]


def im2col_body(r: random.Random) -> bytes:
    kind = r.randrange(9)
    if kind == 0:
        return junk_json(r)
    body = {"n": 1, "c": 1, "h": 4, "w": 4, "fn": 1, "fh": 2, "fw": 2, "stride": 1, "pad": 0}
    if kind == 1:
        for key in r.sample(sorted(set(body) - {"pad"}), r.randrange(1, 4)):
            body[key] = r.choice(SIZE_VALUES)
    elif kind == 2:  # a filter larger than the padded input
        body.update({"fh": r.choice([7, 9, 13]), "pad": r.choice([0, 1]), "h": 4})
    elif kind == 3:  # arrays of the wrong shape or depth
        key, shape = r.choice([("x", (1, 1, 4, 4)), ("W", (1, 1, 2, 2)), ("b", (1,)),
                               ("dout", (1, 1, 3, 3))])
        bad = list(shape)
        bad[r.randrange(len(bad))] += r.choice([-1, 1, 5])
        body[key] = r.choice([nested(tuple(bad)), nested(shape[1:]), nested(shape + (1,)),
                              "1,2", 3, {"0": 1}, [], [[[]]]])
    elif kind == 4:  # arrays holding what is not a number in range
        key, shape = r.choice([("x", (1, 1, 4, 4)), ("W", (1, 1, 2, 2)), ("dout", (1, 1, 3, 3))])
        body[key] = nested(shape, r.choice([1001, -1e6, 1e308, 10**400, "1", True, None, [1]]))
    elif kind == 5:
        body["upto"] = r.choice([-1, 10, 1.5, "3", True, 10**20])
    elif kind == 6:
        body["check"] = r.choice([1, 0, "true", [], {"x": 1}])
    elif kind == 7:
        body[r.choice(["N", "filters", "x ", "kernel", "", "upTo"])] = 1
    else:
        body["seed"] = r.choice([-1, 2**31, "0", 1.5, True])
    return json.dumps(body).encode()


def probe_body(r: random.Random) -> bytes:
    kind = r.randrange(6)
    if kind == 0:
        return junk_json(r)
    body = {"pixels": [0.25] * 64}
    if kind == 1:
        body["pixels"] = r.choice(BAD_PIXELS)(r)
    elif kind == 2:
        del body["pixels"]
        body["image"] = bad_image(r)
    elif kind == 3:
        body["image"] = url(png(20, 20))
    elif kind == 4:
        body["label"] = r.choice([-1, 10, 3.5, "3", True, [3], 10**30])
    else:
        body[r.choice(["pixel", "lr", "filter", ""])] = 1
    return json.dumps(body).encode()


BAD_TRAIN = {
    "dataset": ["cifar", "", 3, None, ["mnist"]],
    "optimizer": ["sgdd", "ADAM", 0],
    "lr": [0, -0.1, 101, "0.1", True],
    "batch_size": [0, -5, 1001, 1.5, "100", 1439],
    "iters": [0, -1, 50001, 10**12, "10", 2.5],
    "epochs": [0, -1, 101, "3"],
    "eval_every": [0, -1, "5"],
    "seed": [-1, 2**40, "0", 1.5],
}


def train_body(r: random.Random) -> bytes:
    kind = r.randrange(6)
    if kind == 0:
        return junk_json(r)
    body = {"dataset": "digits", "iters": 10}
    if kind == 1:
        body[r.choice(["hidden", "activation", "batchnorm", "dropout", "filters", "network"])] = 1
    elif kind == 2:
        body.update({"iters": 20, "epochs": 1})
    elif kind == 3:
        body.update({"dataset": "mnist", "iters": 50000, "batch_size": 1000})  # too much work
    elif kind == 4:
        body.update({"iters": 1000, "eval_every": r.randrange(1, 9)})  # > 100 evaluations
    else:
        for key in r.sample(sorted(BAD_TRAIN), r.randrange(1, 3)):
            body[key] = r.choice(BAD_TRAIN[key])
            if key == "epochs":
                body.pop("iters")
    return json.dumps(body).encode()


def model_body(r: random.Random) -> bytes:
    kind = r.randrange(3)
    if kind == 0:
        return junk_json(r)
    if kind == 1:
        return json.dumps({"run": r.choice([None, 3, "", [], True, "nope", "../x"])}).encode()
    return json.dumps({"run": "first", "model": 1}).encode()


def requests(seed: int):
    r = random.Random(seed)
    out = []
    for _ in range(N):
        out.append(("POST", "/api/im2col", im2col_body(r)))
        out.append(("POST", "/api/conv/probe", probe_body(r)))
        out.append(("POST", "/api/conv/train", train_body(r)))
        out.append(("POST", "/api/conv/model", model_body(r)))
        out.append(("GET", "/api/conv/sample?" + r.choice(
            ["index=-1", "index=9999", "index=x", "n=1", "index=1&seed=2", "index=1e2"]), None))
    return out


def test_malformed_requests_to_each_endpoint(app):
    batch = requests(seed=0)

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lab") as client:
            for method, path, body in batch:
                answer = await client.request(method, path, content=body,
                                              headers={"content-type": "application/json"})
                check(answer, method, path, body)
            alive = await client.post("/api/conv/probe", json={"pixels": [0.5] * 64})
            assert alive.status_code == 200 and len(alive.json()["filters"]) == 30
            alive = await client.post("/api/im2col", json={})
            assert alive.status_code == 200 and alive.json()["sizes"]["rows"] == 9

    asyncio.run(main())
    assert app.state.lab.netlab.runs.all() == []  # not one of them started a run


def test_the_biggest_im2col_request_is_small_work(app):
    from chainrule.web.im2col import LIMITS

    biggest = {**LIMITS, "stride": 1, "fh": 1, "fw": 1}  # 2 images, 3 channels, 8x8 padded by 2: 288 rows
    answer = asyncio.run(_post(app, "/api/im2col", biggest))
    assert answer.status_code == 200 and answer.json()["sizes"]["rows"] == 2 * 12 * 12
    assert len(answer.content) < 1 << 20


async def _post(app, path, body):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://lab") as client:
        return await client.post(path, json=body)


def test_malformed_requests_to_a_real_server(app):
    batch = requests(seed=1)[: 5 * 60]
    with running_lab(app) as lab, httpx.Client(base_url=lab.url, timeout=30) as client:
        for i, (method, path, body) in enumerate(batch):
            headers = {"content-type": "application/json"} if i % 10 else {}
            check(client.request(method, path, content=body, headers=headers), method, path, body)
        too_big = b'{"x": [' + b"1, " * 100_000 + b"1]}"  # over the page's 128 KiB
        check(client.post("/api/im2col", content=too_big,
                          headers={"content-type": "application/json"}), "POST", "/api/im2col",
              too_big[:40])
        assert client.get("/api/conv/model").json()["status"] == "ready"
        assert client.post("/api/im2col", json={"upto": 4}).status_code == 200
