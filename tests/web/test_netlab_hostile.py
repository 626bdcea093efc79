"""1000 malformed requests to each network-lab endpoint of the lab's app: every one gets a
4xx with a JSON error, and the server keeps serving. Most go straight to the ASGI app; a
share goes through a real uvicorn on 127.0.0.1, with some broken HTTP besides. (The graph
lab's endpoints of the same app: tests/test_web_hostile.py.)"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import random
import socket
import struct
import zlib
from urllib.parse import quote

import numpy as np
import pytest

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")
from lab_tools import assert_coded, net_lab_app, running_lab  # noqa: E402

N = 1000


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from chainrule import TwoLayerNet
    from chainrule.training.checkpoint import save_model

    tmp = tmp_path_factory.mktemp("hostile")
    net = TwoLayerNet(64, 10, 10, weight_init_std=0.5, dtype=np.float32, seed=0)
    save_model(tmp / "model.npz", net, meta={"dataset": "digits", "image_shape": [8, 8],
                                             "class_names": [str(c) for c in range(10)]})
    return net_lab_app(tmp / "model.npz", tmp)


def png(width: int, height: int, *, truncate: bool = False, huge_header: bool = False) -> bytes:
    from PIL import Image

    if huge_header:  # a header that claims a big picture, and almost no pixels
        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(
                ">I", zlib.crc32(kind + data))

        ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                + chunk(b"IDAT", zlib.compress(bytes(100))) + chunk(b"IEND", b""))
    buf = io.BytesIO()
    pixels = np.random.default_rng(width).integers(0, 255, (height, width), dtype=np.uint8)
    Image.fromarray(pixels).save(buf, format="PNG")
    data = buf.getvalue()
    return data[: len(data) // 2] if truncate else data


def url(data: bytes, kind: str = "png") -> str:
    return f"data:image/{kind};base64," + base64.b64encode(data).decode()


def junk_json(rng: random.Random) -> bytes:
    """A body that is not a JSON object."""
    choice = rng.randrange(7)
    if choice == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if choice == 1:
        text = json.dumps({"pixels": [0.5] * 64, "label": 1})
        return text[: rng.randrange(1, len(text) - 1)].encode()
    if choice == 2:
        return json.dumps(rng.choice([1, "x", [1, 2], None, True, 3.5, []])).encode()
    if choice == 3:
        return b"[" * rng.randrange(5000, 15000)
    if choice == 4:
        return rng.choice([b"NaN", b"{\"label\": NaN}", b"{\"pixels\": Infinity}", b"", b"{"])
    if choice == 5:
        return "{\"pixels\": \"\udcff\"}".encode("utf-8", "surrogatepass")
    return b"\xef\xbb\xbf{}" + b" " * rng.randrange(3)


BAD_PIXELS = [
    lambda r: [0.5] * r.choice([0, 1, 63, 65, 784, 5000]),
    lambda r: [0.5] * 63 + [r.choice([-0.01, 1.01, 1e308, -1e308, 10**400, "0.5", None,
                                      True, [0.5], {"v": 1}])],
    lambda r: r.choice(["0.5," * 64, 64, None, {"0": 0.5}, True, "", [[0.5] * 8] * 8]),
]


def bad_image(r: random.Random):
    kind = r.randrange(9)
    if kind == 0:
        return r.choice([1, None, [], {"png": 1}, True])
    if kind == 1:
        return r.choice(["", "data:", "data:image/gif;base64,R0lGOD", "http://x/y.png",
                         "data:text/plain;base64,aGk=", "DATA:IMAGE/PNG;BASE64,"])
    if kind == 2:
        return "data:image/png;base64," + "".join(r.choice("!@#$%^&*()~ ") for _ in range(40))
    if kind == 3:
        return url(bytes(r.randrange(256) for _ in range(r.randrange(0, 300))))
    if kind == 4:
        side = r.choice([r.randrange(1025, 9000), r.randrange(9000, 10**6)])
        return url(png(side, r.randrange(1, side), huge_header=True))
    if kind == 5:
        return url(png(r.randrange(20, 60), r.randrange(20, 60), truncate=True))
    if kind == 6:
        return url(png(20, 20), "jpeg")  # a PNG said to be a JPEG
    if kind == 7:
        return url(b"GIF89a" + bytes(40))
    data = base64.b64encode(png(20, 20)).decode()
    cut = r.choice([k for k in range(1, 30) if (len(data) - k) % 4])
    return "data:image/png;base64," + data[:-cut]  # no longer a multiple of 4 long


def predict_body(r: random.Random, *, learn: bool) -> bytes:
    kind = r.randrange(8)
    if kind == 0:
        return junk_json(r)
    body = {"pixels": [0.25] * 64, "label": 3}
    if learn:
        body["lr"] = 0.1
    if kind == 1:
        body["pixels"] = r.choice(BAD_PIXELS)(r)
    elif kind == 2:
        del body["pixels"]
        body["image"] = bad_image(r)
    elif kind == 3:
        body["image"] = url(png(20, 20))  # both pixels and image
    elif kind == 4:
        body[r.choice(["pixel", "Label", "lr " if learn else "lr", "x", ""])] = 1
    elif kind == 5:
        body["label"] = r.choice([-1, 10, 3.5, "3", True, [3], 10**30] + ([None] if learn else []))
    elif kind == 6:
        body.pop("pixels")  # neither pixels nor image
    elif learn and r.random() < 0.5:
        body["lr"] = r.choice([0, -0.1, 100.5, 1e308, "0.1", True, [0.1], "abc", ""])
    elif learn:  # the step among k training images: k out of range or not a whole number
        body["among"] = r.choice([-1, 1000, 10**30, 1.5, "9", "", True, [9], {"k": 9}])
    else:
        body["pixels"] = [0.5] * 64 + [0.5]
    return json.dumps(body).encode()


BAD_FIELDS = {
    "dataset": ["cifar", "", 3, None, ["mnist"]],
    "hidden": [0, -1, 1025, [], [0], [10] * 6, "100", [1.5], True, [True]],
    "activation": ["relu6", "", 1, None],
    "optimizer": ["sgdd", "SGD ", 0],
    "lr": [0, -0.1, 101, "0.1", True, [0.1], 10**400],
    "batch_size": [0, -5, 1001, 1.5, "100", 1439],
    "iters": [0, -1, 50001, 10**12, "10", 2.5, 10**400],
    "epochs": [0, -1, 101, "3"],
    "eval_every": [0, -1, "5"],
    "batchnorm": ["true", 1, None],
    "dropout": [-0.1, 0.95, 1, "0"],
    "weight_decay": [-1, 11, "0"],
    "seed": [-1, 2**40, "0", 1.5],
}


def train_body(r: random.Random) -> bytes:
    kind = r.randrange(6)
    if kind == 0:
        return junk_json(r)
    body = {"dataset": "digits", "hidden": 10, "iters": 10}
    if kind == 1:
        body[r.choice(["layers", "hidden_size", "learning_rate", "Iters", "out", "resume"])] = 1
    elif kind == 2:
        body.update({"iters": 20, "epochs": 1})
    elif kind == 3:
        body.update({"dataset": "mnist", "hidden": [1024] * 5, "iters": 50000,
                     "batch_size": 1000})  # far too much work
    elif kind == 4:
        body.update({"iters": 1000, "eval_every": r.randrange(1, 9)})  # > 100 evaluations
    else:
        for key in r.sample(sorted(BAD_FIELDS), r.randrange(1, 4)):
            body[key] = r.choice(BAD_FIELDS[key])
            if key == "epochs":
                body.pop("iters")
    return json.dumps(body).encode()


def model_body(r: random.Random) -> bytes:
    kind = r.randrange(4)
    if kind == 0:
        return junk_json(r)
    if kind == 1:
        return json.dumps({"run": r.choice([None, 3, "", [], {"id": "first"}, True])}).encode()
    if kind == 2:
        return json.dumps({"run": "first", r.choice(["model", "x"]): 1}).encode()
    name = "".join(r.choice("abc019-_./\\% \u00e9\u4e2d") for _ in range(r.randrange(1, 300)))
    return json.dumps({"run": name}).encode()


def run_id(r: random.Random) -> str:
    kind = r.randrange(4)
    if kind == 0:
        return quote("".join(r.choice("abc019-_.~") for _ in range(r.randrange(1, 60))))
    if kind == 1:
        return quote(r.choice(["..", "...", "%00", "first", "runs", "model.npz"]), safe="")
    if kind == 2:
        return quote("".join(chr(r.randrange(0x20, 0x3000)) for _ in range(20)), safe="")
    return "9" * r.randrange(1, 3000)


def sample_query(r: random.Random) -> str:
    kind = r.randrange(4)
    if kind == 0:
        return "index=" + r.choice(["-1", "359", "1e2", "", "x", "0x10", "3.0", " 3", "9" * 40])
    if kind == 1:
        return quote(r.choice(["n", "idx", "seed", "index[]"]), safe="[]") + "=1"
    if kind == 2:
        return "index=1&" + r.choice(["index=2x", "foo=bar", "seed=1"])
    return "index=" + quote("".join(chr(r.randrange(0x20, 0x3000)) for _ in range(8)), safe="")


def requests(seed: int):
    """(method, path, body) for N malformed requests to each endpoint."""
    r = random.Random(seed)
    out = []
    for _ in range(N):
        out.append(("POST", "/api/predict", predict_body(r, learn=False)))
        out.append(("POST", "/api/learn", predict_body(r, learn=True)))
        out.append(("GET", "/api/sample?" + sample_query(r), None))
        out.append(("POST", "/api/train", train_body(r)))
        out.append(("POST", "/api/model", model_body(r)))
        out.append(("GET", f"/api/train/{run_id(r)}/events", None))
        out.append(("POST", f"/api/train/{run_id(r)}/stop", None))
    return out


def check(answer, method, path, body) -> None:
    what = f"{method} {path[:80]} {body[:120] if body else ''}"
    assert 400 <= answer.status_code < 500, (answer.status_code, what, answer.text[:200])
    assert answer.headers["content-type"].startswith("application/json"), what
    error = answer.json()["error"]
    assert isinstance(error, str) and error and "Traceback" not in error, what
    assert_coded(answer.json(), what)


def test_a_thousand_malformed_requests_to_each_endpoint(app):
    batch = requests(seed=0)
    assert len(batch) == 7 * N

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lab") as client:
            for method, path, body in batch:
                answer = await client.request(method, path, content=body,
                                              headers={"content-type": "application/json"})
                check(answer, method, path, body)
            alive = await client.post("/api/predict", json={"pixels": [0.5] * 64})
            assert alive.status_code == 200 and len(alive.json()["probabilities"]) == 10

    asyncio.run(main())
    assert app.state.lab.netlab.runs.all() == []  # not one of them started a run


def test_malformed_requests_to_a_real_server(app):
    batch = requests(seed=1)[: 7 * 120]
    json_type = {"content-type": "application/json"}
    with running_lab(app) as lab, httpx.Client(base_url=lab.url, timeout=30) as client:
        base = lab.url.rstrip("/")
        for i, (method, path, body) in enumerate(batch):
            headers = json_type if i % 10 else {}  # and some without: 415
            check(client.request(method, path, content=body, headers=headers), method, path,
                  body)
        too_big = b'{"pixels": [' + b"0.5, " * 300_000 + b"0.5]}"  # 1.5 MB, over the limit
        check(client.post("/api/predict", content=too_big, headers=json_type), "POST",
              "/api/predict", too_big[:40])

        def chunks():  # no content-length: the limit holds while reading
            for _ in range(40):
                yield b" " * 50_000

        check(client.post("/api/predict", content=chunks(), headers=json_type), "POST",
              "chunked", b"")
        host, port = base.removeprefix("http://").split(":")
        for raw in (b"GARBAGE\r\n\r\n", b"POST /api/predict HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: -5\r\n\r\n{}", b"\x16\x03\x01\x00\xa5\x01\x00"):
            with socket.create_connection((host, int(port)), timeout=5) as s:
                s.sendall(raw)
                s.recv(1024)  # uvicorn answers 400 or closes; either way it lives on
        assert client.get("/api/model").json()["status"] == "ready"
        assert client.post("/api/predict", json={"pixels": [0.0] * 64}).status_code == 200
