"""Malformed and hostile requests: each gets a 4xx and ``{"error": ...}``, the lab keeps serving.

A seeded generator makes well over a thousand requests of every kind (bad JSON, wrong
types, huge numbers, NaN and Infinity, deep nesting, huge bodies, long or malicious
expressions, unknown names, wrong methods and content types, junk paths, unicode junk);
they go to the app in-process and, in part, to a real uvicorn server on 127.0.0.1.
Hypothesis adds random JSON documents.
"""

from __future__ import annotations

import json
import random
import socket
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lab_tools import assert_coded, lab_client, running_lab

from chainrule.web import create_app


@dataclass
class Req:
    method: str
    path: str
    body: bytes | None = None
    content_type: str | None = "application/json"
    headers: dict | None = None


GOOD = Req("POST", "/api/graph", b'{"name": "apple-orange"}')

HOSTILE_EXPRESSIONS = [
    "__import__('os').system('echo hacked')", "__import__('os')", "os.system('ls')",
    "().__class__.__bases__[0].__subclasses__()", "open('/etc/passwd').read()",
    "exec('1')", "eval('1+1')", "lambda x: x", "x.real", "x[0]", "[x for x in y]",
    "x if y else z", "x; y", "import os", "x = 1", "f'{x}'", "x @ y", "x // y", "x % y",
    "x ** 10 ** 10", "9 ** 9 ** 9", "2 ** 100000", "x ** 1e9",
    "(" * 500 + "x" + ")" * 500, "x +", "* x", "", "   ", "\x00", "x\x00y",
    "globals()", "getattr(x, 'y')", "sigmoid(x, y)", "exp()", "log(x, 2)",
    "exp(x=1)", "x.__dict__", "__builtins__", "'a' * 1000", "b'x'", "1j * x", "...",
    "x < y", "x and y", "not x", "~x", "x << 3", "{x: 1}", "{x}", "(x, y)", "*x",
    "x if x else x", "await x", "yield x", "x := 1", "\u202ex + y", "x\u200b + y",
    "x + " * 400 + "x", "+".join(["x"] * 1000), "-" * 1500 + "x",
]

BAD_VALUES = [None, True, False, "1", "", [], [1], {}, {"a": 1}, "NaN", "Infinity",
              1e400, -1e400, 10**400, -(10**400), 2**1024, "0x10", [[[]]]]


def hostile_requests(seed: int = 0, count: int = 1100) -> list[Req]:
    """At least ``count`` bad requests, every kind several times; seeded."""
    rng = random.Random(seed)
    out: list[Req] = []

    def post(body, **kw) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        out.append(Req("POST", "/api/graph", raw, **kw))

    # bad JSON text
    for text in ["{", "}", "[", "{'name': 'apple'}", '{"name": "apple",}', '{"name" "apple"}',
                 "name=apple", "null", "true", "1", '"apple"', "[]", "[1, 2]",
                 '{"name": NaN}', '{"name": "apple", "inputs": {"apple": NaN}}',
                 '{"name": "apple", "inputs": {"apple": Infinity}}',
                 '{"name": "apple", "inputs": {"apple": -Infinity}}',
                 '{"name": "apple", "inputs": {"apple": 1e999}}',
                 '{"name": "apple", "inputs": {"apple": ' + "9" * 5000 + "}}",
                 '{"name": "apple"} {"name": "apple"}', "\ufeff{}", " ", ""]:
        post(text.encode())
    for _ in range(120):  # random bytes, and valid JSON cut short
        if rng.random() < 0.5:
            post(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
        else:
            good = json.dumps({"name": "apple-orange", "inputs": {"apple": 150}}).encode()
            post(good[: rng.randrange(1, len(good) - 1)])
    # deep nesting
    for depth in (33, 100, 1000, 5000):
        post(("[" * depth + "]" * depth).encode())
        post(('{"name": "apple", "inputs": {"apple": ' + "[" * depth + "]" * depth + "}}").encode())
        post(('{"a":' * depth + "1" + "}" * depth).encode())
    # huge bodies
    post(b'{"name": "apple", "pad": "' + b"x" * 20_000 + b'"}')
    post(b"[" + b"1," * 600_000 + b"1]")
    post(b" " * (2 << 20))
    # wrong types and unknown fields, for each field
    for value in BAD_VALUES * 3:
        post({"name": value})
        post({"expression": value})
        if value != {}:  # no inputs is a good request
            post({"name": "apple", "inputs": value})
        post({"name": "apple", "inputs": {"apple": value}})
        post({"expression": "x * y", "inputs": {"x": value, "y": 1}})
        post({"name": "apple", "edge": value})
    for _ in range(60):
        post({"name": "apple", rng.choice(["input", "Inputs", "graph", "expr", "__proto__",
                                          "constructor", "x" * 300]): 1})
        post({"name": "apple", "expression": "x"})
        post({"inputs": {"apple": 1}})
        post({"name": "apple", "edge": rng.choice([-1, -10**6, 10**6, 2**70, 1.5, "0"])})
    # unknown graphs and inputs
    for name in ["", "Apple", "apple ", "orange", "../apple", "apple\x00", "yours", "__init__",
                 "EXAMPLES", "figure", "a" * 10_000, "苹果", "🍎", "\ud800".encode(
                     "utf-8", "surrogatepass").decode("utf-8", "replace")]:
        post({"name": name})
        post({"name": "apple", "inputs": {name or "_": 1}})
    for _ in range(40):
        post({"name": "apple", "inputs": {f"k{i}": 1 for i in range(rng.randrange(65, 300))}})
        post({"name": "apple-orange", "inputs": {"apple": rng.uniform(-1e6, 1e6),
                                                 "banana": 1}})
        post({"name": "sigmoid", "inputs": {"x; import os": 1}})
    # expressions: hostile, long, and broken at random places
    for text in HOSTILE_EXPRESSIONS * 4:
        post({"expression": text, "inputs": {"x": 1, "y": 2}})
    post({"expression": "x + " * 1000 + "x"})
    post({"expression": "x" * 2001})
    for _ in range(80):
        base = rng.choice(["(x + y) ** 2", "sigmoid(w * x + b)", "exp(x) / (1 + exp(x))"])
        i = rng.randrange(len(base))
        junk = rng.choice(["(", ")", "'", "[", "]", "{", "\\", "@", "=", ";", "$", "?", "!",
                           "`", ",", ":", "#"])
        post({"expression": base[:i] + junk + base[i:], "inputs": {"x": 1}})
    # unicode junk
    for _ in range(40):
        junk = "".join(chr(rng.choice([rng.randrange(0x80, 0x2FFF), rng.randrange(0xE000, 0xFFFD),
                                       rng.randrange(0x1F300, 0x1FAFF)]))
                       for _ in range(rng.randrange(1, 40)))
        post({"name": junk})
        post({"expression": junk})
        post({"name": "apple", "inputs": {junk: 1}})
    post(b'{"name": "\xff\xfe"}')
    post(b'{"name": "\xed\xa0\x80"}')  # a UTF-8-encoded surrogate
    post('{"name": "apple"}'.encode("utf-16"))
    # wrong content types, methods and paths
    for kind in [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                 "application/jsonx", "text/json", "application/xml"]:
        for _ in range(4):
            out.append(Req("POST", "/api/graph", GOOD.body, content_type=kind))
    for method in ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"]:
        for _ in range(5):
            out.append(Req(method, "/api/graph", GOOD.body))
    for method in ["POST", "PUT", "DELETE", "PATCH"]:
        for path in ["/api/graphs", "/api/pages", "/", "/static/graph.js"]:
            out.append(Req(method, path, GOOD.body))
    for path in ["/api", "/api/", "/api/graph/", "/api/graphs/", "/api/graph/apple", "//api/graph",
                 "/API/GRAPH", "/static/", "/static/../pyproject.toml", "/static/%2e%2e/app.py",
                 "/static/..%2f..%2fapp.py", "/static/i18n/../../app.py", "/static/nope.js",
                 "/static/i18n/graph.xx.json", "/" + "a" * 3000, "/%00", "/static/%00",
                 "/.git/config", "/etc/passwd", "/api/graph%00", "/index.html", "/net/",
                 "/static/i18n/net.xx.json"]:
        out.append(Req("GET", path, None, None))
        out.append(Req("POST", path, GOOD.body))
    out.append(Req("POST", "/net", GOOD.body))  # the network lab's page (its API: test_netlab_hostile)
    # a bad Content-Length
    for length in ["-1", "abc", "99999999999999999999999", str(2 << 20)]:
        out.append(Req("POST", "/api/graph", b"{}", headers={"content-length": length}))
    while len(out) < count:  # top up with random mixtures of the above
        out.append(rng.choice(out))
    return out


def check_refusal(status: int, body: bytes, req: Req) -> None:
    where = f"{req.method} {req.path[:60]} {(req.body or b'')[:80]!r}"
    assert 400 <= status < 500, f"{status} for {where}: {body[:300]!r}"
    answer = json.loads(body)
    assert isinstance(answer, dict) and isinstance(answer.get("error"), str), where
    assert answer["error"] and len(answer["error"]) < 1000, where
    assert "Traceback" not in answer["error"], where
    assert_coded(answer, where)


def send(client, req: Req):
    headers = dict(req.headers or {})
    if req.content_type is not None:
        headers["content-type"] = req.content_type
    return client.request(req.method, req.path, content=req.body, headers=headers)


@pytest.fixture(scope="module")
def client():
    with lab_client(create_app()) as c:
        yield c


def test_a_thousand_hostile_requests_in_process(client):
    reqs = hostile_requests(seed=13)
    assert len(reqs) >= 1000
    for i, req in enumerate(reqs):
        if req.headers:  # the test client recomputes Content-Length: see the real server
            continue
        r = send(client, req)
        check_refusal(r.status_code, r.content, req)
        if i % 250 == 0:
            assert send(client, GOOD).status_code == 200
    good = send(client, GOOD)
    assert good.status_code == 200 and good.json()["output"]["text"] == "715"


def test_hostile_requests_to_a_real_server():
    import httpx

    reqs = random.Random(14).sample(hostile_requests(seed=14), 500)
    reqs += [r for r in hostile_requests(seed=14) if r.headers]
    with running_lab() as lab, httpx.Client(base_url=lab.url, timeout=30) as http:
        for req in reqs:
            if req.headers:
                continue
            r = send(http, req)
            check_refusal(r.status_code, r.content, req)
        host, port = lab.url.split("//")[1].strip("/").rsplit(":", 1)
        for req in reqs:
            if not req.headers:
                continue
            status, body = raw_request(host, int(port), req)
            if req.headers["content-length"].isdigit() and len(req.headers["content-length"]) < 10:
                check_refusal(status, body, req)  # too large: the lab's own 413
            else:
                assert status == 400  # not HTTP: uvicorn's parser answers before the lab
        # a request for another site's name (DNS rebinding) is refused
        r = http.get("/api/graphs", headers={"host": "evil.example:80"})
        check_refusal(r.status_code, r.content, Req("GET", "/api/graphs"))
        # not HTTP at all, and a client that hangs up half-way: the server shrugs
        for junk in [b"\x16\x03\x01\x02\x00\x01\x00", b"GET / HTTP/9.9\r\n\r\n", b"\r\n" * 100,
                     b"POST /api/graph HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n"
                     b"Content-Type: application/json\r\n\r\n{\"na"]:
            with socket.create_connection((host, int(port)), timeout=5) as s:
                s.sendall(junk)
        r = send(http, GOOD)
        assert r.status_code == 200 and r.json()["output"]["text"] == "715"
        assert http.get("/api/graphs").status_code == 200


def raw_request(host: str, port: int, req: Req) -> tuple[int, bytes]:
    """Send ``req`` with its own headers as written (the Content-Length a client would fix)."""
    head = [f"{req.method} {req.path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
            f"Content-Type: {req.content_type}"]
    head += [f"{k}: {v}" for k, v in (req.headers or {}).items()]
    data = ("\r\n".join(head) + "\r\n\r\n").encode() + (req.body or b"")
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    reply = b"".join(chunks)
    head_bytes, _, body = reply.partition(b"\r\n\r\n")
    status = int(head_bytes.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head_bytes.lower():
        body = _unchunk(body)
    return status, body


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size, _, rest = data.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out += rest[:n]
        data = rest[n + 2:]
    return out


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
keys = st.sampled_from(["name", "expression", "inputs", "edge", "apple", "x"])
bodies = st.one_of(
    json_values,
    st.dictionaries(keys, json_values, max_size=4),
    st.fixed_dictionaries({"name": st.sampled_from(["apple", "apple-orange", "sigmoid", "chain",
                                                    "two-layer-net", "nope"])},
                          optional={"inputs": st.dictionaries(
                              st.sampled_from(["apple", "tax", "x", "y", "orange_num"]),
                              json_values, max_size=3),
                              "edge": json_values}),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_random_json_never_breaks_the_api(client, body):
    r = client.post("/api/graph", content=json.dumps(body).encode(),
                    headers={"content-type": "application/json"})
    assert r.status_code in (200, 400), (body, r.text)
    answer = r.json()  # strict JSON: no NaN or Infinity literals in any answer
    json.dumps(answer, allow_nan=False)
    if r.status_code == 400:
        assert isinstance(answer["error"], str) and answer["error"]
        assert_coded(answer, repr(body)[:200])
    else:
        assert "svg" in answer and "output" in answer


ODD_EXPRESSIONS = ["exp(exp(exp(1000)))", "log(x - x)", "(x - x) / (y - y)", "x / (y - y)",
                   "𝑥 + y", "relu(x - x)", "log(-x)", "x ** -100", "sigmoid(-1000 * x)",
                   "tanh(1e308 * x) * 1e308"]


@pytest.mark.parametrize("text", ODD_EXPRESSIONS)
def test_odd_but_allowed_expressions_answer_in_strict_json(client, text):
    r = client.post("/api/graph", json={"expression": text, "inputs": {"x": 1, "y": 2}})
    assert r.status_code in (200, 400), r.text
    json.dumps(r.json(), allow_nan=False)
    if r.status_code == 200:  # an infinity or a NaN is a value, drawn as it is
        assert r.json()["svg"].startswith("<svg")
