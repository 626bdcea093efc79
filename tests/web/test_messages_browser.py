"""Every kind of error each page can show, in each language, has no English left in it.

Headless Chromium opens both labs with a Japanese, a Simplified and a Traditional Chinese
browser (``ja-JP``, ``zh-CN``, ``zh-TW``: the language is picked from the browser's), and
causes each kind of error: in the page itself (an expression the parser refuses, a
training form the server refuses, a step of learning with a bad rate, a run that
diverges) and, for the errors only a script can cause (a wrong path, a body that is not
JSON, a pixel count, ...), by sending the request from the page and wording the answer
with the page's own ``message()`` (``i18n.js``). No shown message may hold an English
word, except code identifiers (``x``, ``sin``, ``lr``, ``PNG``, a path) and the words of
outside parsers (``reason``: what Python's JSON parser says), listed with each case.
``CHAINRULE_SCREENSHOTS=DIR`` keeps the screenshots. Skipped without Chromium, except
under CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import json
import re
import time

import pytest

pytest.importorskip("starlette")
from lab_tools import (  # noqa: E402
    chrome,
    need_browser,
    net_lab_app,
    running_lab,
    screenshot,
    train_mnist_model,
    wait_for,
)

BROWSERS = [("ja", "ja-JP", "ja"), ("zh", "zh-CN", "zh-Hans"), ("zh-Hant", "zh-TW", "zh-Hant")]
"""(the lab's language, the browser's, the page's html lang)"""

CODE_WORDS = {
    "JSON", "PNG", "JPEG", "URL", "UTF", "Content", "Type", "application", "json", "Host",
    "Length", "base", "data", "image", "png", "chainrule", "train", "resume", "exp",
    "log", "sigmoid", "relu", "tanh", "true", "false", "dout", "first", "name",
    "expression", "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "mnist",
    "fashion", "digits", "MNIST", "Pillow", "api", "graph", "net",
}
"""Identifiers of code, formats and protocols: not English left untranslated."""

EXPRESSIONS = [  # typed into the graph lab: (text, the identifiers its message may show)
    ("2x + 1", set()),
    ("sin(x)", {"sin"}),
    ("x.real * 2", set()),
    ("x ** 1000", set()),
    ("x +", set()),
    ("(x + 1", set()),
    ("x < 2", set()),
    ("exp(x, x)", set()),
    ("exp * 2", set()),
    ("x # note", set()),
    ("x ** y", set()),
    ("1e400 * x", set()),
    ("x[0]", set()),
    ("x y", set()),
    ("lambda: x", {"lambda"}),
    ("(" * 120 + "x" + ")" * 120, set()),
    ("x + " * 400 + "x", set()),
]

GRAPH_REQUESTS = [  # (method, path, body or None, content type, identifiers)
    ("GET", "/api/nope", None, None, {"nope"}),
    ("GET", "/api/graph", None, None, {"GET"}),
    ("POST", "/api/graph", "{}", "text/plain", set()),
    ("POST", "/api/graph", "", "application/json", set()),
    ("POST", "/api/graph", '{"name": "apple", "inputs": {"apple": NaN}}', "application/json",
     {"NaN"}),
    ("POST", "/api/graph", '{"name": ', "application/json", None),  # the parser's reason
    ("POST", "/api/graph", "[" * 40 + "]" * 40, "application/json", set()),
    ("POST", "/api/graph", json.dumps({"name": "apple", "x": "y" * 20000}), "application/json",
     set()),
    ("POST", "/api/graph", json.dumps({"name": "apple", "inputs": {"apple": "a"}}),
     "application/json", {"inputs", "apple"}),
    ("POST", "/api/graph", json.dumps({"name": "pears"}), "application/json",
     {"pears", "apple", "orange", "chain", "two", "layer"}),
    ("POST", "/api/graph", json.dumps({"name": "apple", "inputs": {"pear": 1}}),
     "application/json", {"apple", "pear", "apple_num", "tax"}),
    ("POST", "/api/graph", json.dumps({"name": "apple", "edge": 99}), "application/json", set()),
    ("POST", "/api/graph", json.dumps({"name": "apple", "edge": "x"}), "application/json", set()),
    ("POST", "/api/graph", json.dumps({"name": "apple", "expression": "x"}), "application/json",
     set()),
    ("POST", "/api/graph", json.dumps({"name": "apple", "colour": 1}), "application/json",
     {"colour", "edge", "inputs"}),
    ("POST", "/api/graph", json.dumps([1]), "application/json", set()),
]

NET_REQUESTS = [
    ("POST", "/api/predict", json.dumps({"pixels": [0.5] * 12}), "application/json",
     {"pixels"}),
    ("POST", "/api/predict", json.dumps({"pixels": [2.0] * 784}), "application/json",
     {"pixels"}),
    ("POST", "/api/predict", json.dumps({"image": "data:image/gif;base64,AAAA"}),
     "application/json", {"gif"}),
    ("POST", "/api/predict", json.dumps({"image": "data:image/png;base64,@@@@"}),
     "application/json", set()),
    ("POST", "/api/predict", json.dumps({"image": "data:image/png;base64,AAAAAAAA"}),
     "application/json", set()),
    ("POST", "/api/predict", json.dumps({"pixels": [0] * 784, "image": "x"}),
     "application/json", {"pixels"}),
    ("POST", "/api/predict", json.dumps({"pixels": [0] * 784, "label": 12}),
     "application/json", {"label"}),
    ("POST", "/api/predict", json.dumps({"pixels": [0] * 784, "colour": 1}),
     "application/json", {"colour", "pixels", "image", "label"}),
    ("POST", "/api/learn", json.dumps({"pixels": [0] * 784}), "application/json", set()),
    ("GET", "/api/sample?index=99999999", None, None, set()),
    ("GET", "/api/sample?colour=1", None, None, {"colour", "index"}),
    ("POST", "/api/model", json.dumps({"run": "nope"}), "application/json", {"nope"}),
    ("POST", "/api/model", json.dumps({"run": 5}), "application/json", set()),
    ("POST", "/api/train", json.dumps({"hidden": [0]}), "application/json", set()),
    ("POST", "/api/train", json.dumps({"dataset": "cifar"}), "application/json", {"cifar"}),
    ("POST", "/api/train", json.dumps({"optimizer": "lion"}), "application/json", {"lion"}),
    ("POST", "/api/train", json.dumps({"activation": "gelu"}), "application/json", {"gelu"}),
    ("POST", "/api/train", json.dumps({"batchnorm": "yes"}), "application/json", {"yes"}),
    ("POST", "/api/train", json.dumps({"iters": 10, "epochs": 1}), "application/json", set()),
    ("POST", "/api/train", json.dumps({"batch_size": 0}), "application/json", set()),
    ("POST", "/api/train", json.dumps({"dropout": 1}), "application/json", set()),
    ("POST", "/api/train", json.dumps({"epochs": 100, "batch_size": 1}), "application/json",
     set()),
    ("POST", "/api/train", json.dumps({"iters": 50000, "eval_every": 1}), "application/json",
     set()),
    ("POST", "/api/train", json.dumps({"iters": 50000, "batch_size": 1000,
                                       "hidden": [1024] * 5}), "application/json", set()),
    ("GET", "/api/train/nope/events", None, None, {"nope"}),
    ("POST", "/api/train/nope/stop", None, None, {"nope"}),
]

ASK = """
const [method, path, body, type, done] = arguments;
import('/static/i18n.js').then(async (i18n) => {
  const headers = type ? {'Content-Type': type} : {};
  const r = await fetch(path, {method, headers, body: body === null ? undefined : body});
  const answer = await r.json();
  done([r.status, answer, i18n.message(answer)]);
}).catch((e) => done([0, null, String(e)]));
"""


def english_words(text: str, allowed: set[str]) -> set[str]:
    """Words of three letters or more that are neither code nor allowed."""
    return set(re.findall(r"[A-Za-z][A-Za-z_]{2,}", text)) - CODE_WORDS - allowed


def assert_worded(text: str, allowed: set[str], what: str) -> None:
    assert text.strip(), what
    left = english_words(text, allowed)
    assert not left, f"{what}: English left in {text!r}: {sorted(left)}"


def ask(driver, method, path, body, kind):
    status, answer, shown = driver.execute_async_script(ASK, method, path, body, kind)
    assert 400 <= status < 500 and answer and answer.get("code"), (path, body, answer, shown)
    return answer, shown


def check_requests(driver, requests) -> set[str]:
    codes = set()
    for method, path, body, kind, allowed in requests:
        answer, shown = ask(driver, method, path, body, kind)
        if allowed is None:  # the words of Python's JSON parser, which has no code
            allowed = set(re.findall(r"[A-Za-z]+", answer["params"]["reason"]))
        assert shown != answer["error"], (path, shown)  # worded, not the English
        assert_worded(shown, allowed | {path.strip("/").split("/")[-1]}, f"{path} {body!r:.80}")
        codes.add(answer["code"])
    return codes


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory, mnist_arrays, real_data_root):
    need_browser()
    tmp = tmp_path_factory.mktemp("messages")
    model = train_mnist_model(tmp / "model", mnist_arrays, iters=200)
    app = net_lab_app(model, tmp, data_dir=real_data_root / "mnist")
    with running_lab(app) as running:
        yield running.url


def type_expression(driver, text: str) -> str:
    driver.execute_script("""
        const box = document.getElementById('expression');
        box.value = arguments[0];
        box.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}));""", text)
    wait_for(driver, "const w = document.getElementById('expression-where'); return "
             "!document.getElementById('expression-error').hidden && "
             "w.textContent.split('\\n')[0] === arguments[0]", 10, text)
    return driver.find_element("css selector", "#expression-message").text


@pytest.mark.parametrize("lang, tag, html", BROWSERS)
def test_graph_lab_errors_in_the_learners_language(lab_url, tmp_path, lang, tag, html):
    with chrome(tmp_path / "profile", lang=tag) as driver:
        driver.get(lab_url + "#graph=apple")
        wait_for(driver, "return Number(document.body.dataset.answers || 0) > 0", 15)
        assert driver.execute_script("return document.documentElement.lang") == html
        for text, allowed in EXPRESSIONS:
            assert_worded(type_expression(driver, text), allowed, text[:40])
        codes = check_requests(driver, GRAPH_REQUESTS)
        assert {"request.not_found", "request.method", "request.content_type",
                "request.too_large", "graph.not_number"} <= codes
        # the language switch words the error on the page again
        type_expression(driver, "sin(x)")
        driver.find_element("css selector", 'header button[data-lang="en"]').click()
        wait_for(driver, "return document.getElementById('expression-message').textContent"
                 ".startsWith('Cannot draw this: calling sin is not allowed')")


@pytest.mark.parametrize("lang, tag, html", BROWSERS)
def test_network_lab_errors_in_the_learners_language(lab_url, tmp_path, lang, tag, html):
    from selenium.webdriver.common.by import By

    with chrome(tmp_path / "profile", lang=tag) as driver:
        driver.get(lab_url + "net")
        wait_for(driver, "return document.getElementById('model-dot').classList"
                 ".contains('ready')", 20)
        assert driver.execute_script("return document.documentElement.lang") == html
        # the training form: a rate the server refuses, the note under the form
        submit_form(driver, lr="1000")
        note = wait_for(driver, "const e = document.getElementById('train-error'); "
                        "return !e.hidden && e.textContent", 10)
        assert "1000" in note
        assert_worded(note, set(), "the form's lr")
        # one step of learning: no label yet (a page word), then a rate the server refuses
        driver.find_element(By.ID, "learn-go").click()
        assert_worded(driver.find_element(By.ID, "learn-error").text, set(), "no label")
        driver.find_element(By.ID, "sample").click()
        wait_for(driver, "return document.querySelector('#bars .bar.top')", 10)
        driver.execute_script("document.getElementById('learn-lr').value = '1000'")
        driver.find_element(By.ID, "learn-go").click()
        note = wait_for(driver, "const e = document.getElementById('learn-error'); "
                        "return !e.hidden && e.textContent.includes('1000') && e.textContent", 10)
        assert_worded(note, set(), "the step's lr")
        codes = check_requests(driver, NET_REQUESTS)
        assert {"net.pixels_count", "net.number_range", "net.hidden", "net.too_big",
                "net.no_run"} <= codes
        busy_run(driver)
        diverging_run(driver)


def submit_form(driver, **fields) -> None:
    driver.execute_script("""
        const form = document.getElementById('train-form');
        for (const [k, v] of Object.entries(arguments[0])) form.elements.namedItem(k).value = v;
        form.dispatchEvent(new Event('submit', {cancelable: true}));""", fields)


def busy_run(driver) -> None:
    """A second start while a run trains: the library's own refusal, worded."""
    first = driver.execute_async_script("""
        const done = arguments[0];
        fetch('/api/train', {method: 'POST', headers: {'Content-Type': 'application/json'},
              body: JSON.stringify({hidden: 10, iters: 20000})}).then(r => r.json()).then(done);""")
    try:
        answer, shown = ask(driver, "POST", "/api/train", json.dumps({"hidden": 10}),
                            "application/json")
        assert answer["code"] == "live.busy" and answer["running"] == first["run"]
        assert_worded(shown, {first["run"]}, "busy")
    finally:
        driver.execute_async_script(
            "fetch(`/api/train/${arguments[0]}/stop`, {method: 'POST'}).then(() => "
            "arguments[1]())", first["run"])
        deadline = time.monotonic() + 30
        while driver.execute_async_script(
                "fetch('/api/model').then(r => r.json()).then(m => arguments[0](m.training))"):
            assert time.monotonic() < deadline, "the run did not stop"
            time.sleep(0.2)


def diverging_run(driver) -> None:
    """Adam at lr 10 diverges: the end message is the library's, worded on the page."""
    submit_form(driver, optimizer="adam", lr="10", length="300", eval_every="100",
                hidden="50")
    text = wait_for(driver, "const m = document.getElementById('run-message'); "
                    "return !m.hidden && m.classList.contains('bad') && m.textContent", 60)
    assert_worded(text, set(), "the diverged run")


@pytest.mark.parametrize("lang, tag", [("ja", "ja-JP"), ("zh-Hant", "zh-TW")])
@pytest.mark.parametrize("width", [1280, 390])
def test_screens_of_messages(lab_url, tmp_path, lang, tag, width):
    """What a learner sees: an expression error, a form error, the ReLU rule, at a
    desktop's and a phone's width; nothing sticks out sideways."""
    from selenium.webdriver.common.by import By

    with chrome(tmp_path / "profile", lang=tag, width=max(width, 500), height=900) as driver:
        if width < 500:  # a window is at least 500 px wide: a phone's screen is emulated
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": True})
        driver.get(lab_url + "#graph=apple")
        wait_for(driver, "return Number(document.body.dataset.answers || 0) > 0", 15)
        type_expression(driver, "sin(x) * 2")
        driver.execute_script("document.getElementById('expression').scrollIntoView()")
        screenshot(driver, tmp_path / f"messages-expression-{lang}-{width}.png", full_page=False)
        driver.get(lab_url + "#graph=two-layer-net")
        driver.refresh()
        wait_for(driver, "return document.querySelector('#graph-title').textContent"
                 ".includes('TwoLayerNet')", 15)
        for _ in range(8):  # backward, node by node, to the ReLU
            driver.find_element(By.ID, "step-backward").click()
            rule = driver.find_element(By.ID, "rule").text
            if "dx = dout（x > 0" in rule:
                break
        assert "dx = dout（x > 0" in rule, rule
        assert_worded(rule, {"dout", "ReLU", "max"}, "the ReLU rule")
        driver.execute_script("document.getElementById('rule').scrollIntoView()")
        screenshot(driver, tmp_path / f"messages-relu-{lang}-{width}.png", full_page=False)
        driver.get(lab_url + "net")
        wait_for(driver, "return document.getElementById('model-dot').classList"
                 ".contains('ready')", 20)
        submit_form(driver, lr="1000")
        wait_for(driver, "return !document.getElementById('train-error').hidden", 10)
        driver.execute_script("document.getElementById('train-error').scrollIntoView("
                              "{block: 'center'})")
        screenshot(driver, tmp_path / f"messages-form-{lang}-{width}.png", full_page=False)
        assert driver.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1")
