"""Every kind of error and status the im2col page and the convnet lab can show, in Japanese,
Simplified and Traditional Chinese, has no English left in it (the checks of
test_messages_browser.py, for these pages' codes): refusals caused from the page's own
script, a size the server refuses on the im2col page, and the convnet lab waiting for a run
in progress before it trains its first SimpleConvNet."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("starlette")
from conv_tools import browser  # noqa: E402
from lab_tools import need_browser, net_lab_app, running_lab, wait_for  # noqa: E402
from test_messages_browser import BROWSERS, ask, assert_worded, check_requests  # noqa: E402

J = "application/json"
REQUESTS = [
    ("POST", "/api/im2col", json.dumps({"x": [[[[1, 2]]]]}), J, set()),
    ("POST", "/api/im2col", json.dumps({"x": [[[["a"] * 4] * 4]]}), J, set()),
    ("POST", "/api/im2col", json.dumps({"W": [[[[5000] * 2] * 2]]}), J, set()),
    ("POST", "/api/im2col", json.dumps({"check": "yes"}), J, {"true", "false", "yes"}),
    ("POST", "/api/im2col", json.dumps({"stride": 0}), J, set()),
    ("POST", "/api/im2col", json.dumps({"h": 4, "fh": 9}), J, set()),
    ("POST", "/api/im2col", json.dumps({"upto": 99}), J, set()),
    ("POST", "/api/im2col", json.dumps({"kernel": 3}), J, {"kernel", "seed", "upto", "check",
                                                          "fn", "fh", "fw", "stride", "pad"}),
    ("POST", "/api/conv/probe", json.dumps({"pixels": [0.5] * 12}), J, {"pixels"}),
    ("POST", "/api/conv/probe", json.dumps({"pixels": [0] * 64, "label": 12}), J, {"label"}),
    ("POST", "/api/conv/model", json.dumps({"run": "nope"}), J, {"nope"}),
    ("POST", "/api/conv/train", json.dumps({"dataset": "cifar"}), J, {"cifar"}),
    ("POST", "/api/conv/train", json.dumps({"iters": 50000, "batch_size": 1000,
                                            "eval_every": 1000}), J, set()),
    ("POST", "/api/conv/train", json.dumps({"dataset": "digits", "iters": 20000}), J, set()),
    ("POST", "/api/conv/train", json.dumps({"hidden": 10}), J, {"hidden", "optimizer", "dataset",
                                                                 "batch_size", "iters", "epochs",
                                                                 "eval_every", "seed"}),
    ("GET", "/api/conv/sample?index=99999", None, None, set()),
]


@pytest.fixture
def lab(tmp_path):
    """A lab whose --model is an MLP on the 8x8 digits: the convnet lab trains its own."""
    from chainrule import TwoLayerNet
    from chainrule.training.checkpoint import save_model

    need_browser()
    tmp = tmp_path / "lab"
    tmp.mkdir()
    save_model(tmp / "model.npz", TwoLayerNet(64, 10, 10, dtype=np.float32, seed=0),
               meta={"dataset": "digits", "image_shape": [8, 8],
                     "class_names": [str(c) for c in range(10)]})
    app = net_lab_app(tmp / "model.npz", tmp, conv_first_iters={"mnist": 20, "digits": 20})
    with running_lab(app) as running:
        yield running.url, app


@pytest.mark.parametrize("lang, tag, html", BROWSERS)
def test_the_convolution_pages_in_the_learners_language(lab, tmp_path, lang, tag, html):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    url, app = lab
    with browser(tmp_path / "profile", lang=tag) as d:
        d.get(url + "im2col")
        wait_for(d, "return document.body.dataset.ready", 20)
        assert d.execute_script("return document.documentElement.lang") == html
        # the convnet lab waits for a run in progress, and says so in the learner's words
        netlab = app.state.lab.netlab
        busy = d.execute_async_script("""
            const done = arguments[0];
            fetch('/api/train', {method: 'POST', headers: {'Content-Type': 'application/json'},
                  body: JSON.stringify({dataset: 'digits', hidden: 5, iters: 40000})})
              .then((r) => r.json()).then(done);""")
        try:
            d.get(url + "conv")
            text = wait_for(d, "const t = document.getElementById('model-text').textContent; "
                            "return document.getElementById('model-dot').classList.contains('waiting') && t", 20)
            assert busy["run"] in text
            assert_worded(text, {busy["run"], "SimpleConvNet"}, "waiting for a run")
            answer, shown = ask(d, "POST", "/api/conv/probe", json.dumps({"pixels": [0] * 64}), J)
            assert answer["code"] == "conv.waiting"
            assert_worded(shown, {busy["run"], "SimpleConvNet"}, "a probe while it waits")
        finally:
            netlab.runs.get(busy["run"]).stop()
            assert netlab.runs.get(busy["run"]).join(30)
        # then it trains its first network and looks into it
        wait_for(d, "return document.body.dataset.probes > 0", 300)
        if lang == "ja":
            assert "最初の SimpleConvNet" in d.find_element(By.ID, "model-text").text
        # a size the server refuses, and refusals caused from the page's script
        d.get(url + "im2col")
        wait_for(d, "return document.body.dataset.ready", 20)
        box = d.find_element(By.NAME, "stride")
        box.clear()
        box.send_keys("7", Keys.TAB)
        text = wait_for(d, "const e = document.getElementById('error'); "
                        "return !e.hidden && e.textContent", 10)
        assert "7" in text
        assert_worded(text, set(), "a stride the server refuses")
        codes = check_requests(d, [(m, p, b, k, a | {"SimpleConvNet"})
                                   for m, p, b, k, a in REQUESTS])
        assert {"im2col.shape", "im2col.not_number", "im2col.range", "im2col.flag",
                "net.whole_number", "net.unknown_option", "net.no_run", "net.too_big",
                "net.index", "net.pixels_count", "net.dataset", "net.too_many_evals"} <= codes
