"""The network lab's "download as ONNX": ``GET /api/model.onnx`` gives the network in use
as an ONNX file that onnxruntime runs as chainrule predicts, a 4xx JSON error where it
cannot; the page's link downloads the file in a real browser, in every language."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")
from extras import need  # noqa: E402
from lab_tools import (  # noqa: E402
    chrome,
    need_browser,
    net_lab_app,
    running_lab,
    screenshot,
    train_mnist_model,
)

from chainrule.core.functions import softmax  # noqa: E402
from chainrule.training.checkpoint import load_model  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, mnist_arrays):
    return train_mnist_model(tmp_path_factory.mktemp("model") / "run", mnist_arrays)


@pytest.fixture(scope="module")
def lab(model_dir, tmp_path_factory, real_data_root):
    app = net_lab_app(model_dir, tmp_path_factory.mktemp("lab"),
                      data_dir=real_data_root / "mnist")
    with running_lab(app) as running:
        yield running


def test_the_file_runs_as_the_lab_predicts(lab, model_dir, mnist_arrays):
    onnx, ort = need("onnx"), need("onnxruntime")
    with httpx.Client(base_url=lab.url, timeout=60) as client:
        answer = client.get("/api/model.onnx")
        assert client.get("/api/model.onnx?format=tflite").json() == {
            "error": "/api/model.onnx takes no options", "code": "net.onnx_no_options",
            "params": {}}
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["content-disposition"] == 'attachment; filename="chainrule-first.onnx"'
    model = onnx.load_from_string(answer.content)
    onnx.checker.check_model(model, full_check=True)
    props = {p.key: p.value for p in model.metadata_props}
    assert props["dataset"] == "mnist" and props["network"] == "TwoLayerNet 784-30-10"
    _, (x_test, _) = mnist_arrays
    session = ort.InferenceSession(answer.content, providers=["CPUExecutionProvider"])
    theirs = session.run(["probabilities"], {"image": x_test[:200]})[0]
    ours = softmax(load_model(model_dir / "model.npz").predict(x_test[:200]))
    np.testing.assert_allclose(theirs, ours, atol=1e-5)
    np.testing.assert_array_equal(theirs.argmax(axis=1), ours.argmax(axis=1))


def test_without_onnx_a_409_that_says_what_to_install(lab, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # the server runs in this process
    with httpx.Client(base_url=lab.url, timeout=30) as client:
        answer = client.get("/api/model.onnx")
    assert answer.status_code == 409
    assert answer.json() == {
        "error": "exporting the network as ONNX needs the onnx package: "
                 "pip install 'chainrule[export]'",
        "code": "net.onnx_missing", "params": {"package": "onnx"}}


WORDS = {"en": "Download as ONNX", "ja": "ONNX でダウンロード", "zh": "下载为 ONNX"}


@pytest.mark.parametrize("lang", list(WORDS))
@pytest.mark.parametrize("width", [390, 1280])
def test_the_link_downloads_the_network(lab, tmp_path, lang, width):
    need_browser()
    onnx = need("onnx")
    need("onnxruntime")
    from selenium.webdriver.common.by import By

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with chrome(tmp_path / "profile", lang=lang, width=width) as driver:
        driver.execute_cdp_cmd("Page.setDownloadBehavior",
                               {"behavior": "allow", "downloadPath": str(downloads)})
        driver.get(lab.url + "net")
        link = driver.find_element(By.ID, "model-onnx")
        deadline = time.monotonic() + 30
        while not (link.is_displayed() and link.text == WORDS[lang]):
            assert time.monotonic() < deadline, f"no link: {link.text!r}"
            time.sleep(0.05)
        box = link.rect
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
        screenshot(driver, tmp_path / f"net-onnx-{lang}-{width}.png", full_page=False)
        link.click()
        path = downloads / "chainrule-first.onnx"
        while not path.is_file():
            assert time.monotonic() < deadline + 60, "nothing downloaded"
            time.sleep(0.1)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def test_the_link_says_why_it_cannot(lab, tmp_path, monkeypatch):
    need_browser()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    monkeypatch.setitem(sys.modules, "onnx", None)
    with chrome(tmp_path / "profile") as driver:
        driver.get(lab.url + "net")
        WebDriverWait(driver, 20).until(
            lambda d: d.find_element(By.ID, "model-onnx").is_displayed())
        driver.find_element(By.ID, "model-onnx").click()
        alert = WebDriverWait(driver, 30).until(expected_conditions.alert_is_present())
        assert alert.text == ("exporting the network as ONNX needs the onnx package: "
                              "pip install 'chainrule[export]'")
        alert.accept()
