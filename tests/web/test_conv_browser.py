"""The convnet lab in headless Chromium: draw a 7 and find the filters that respond to its
stroke, open one with its numbers, follow the gradient back through max pooling, train a
SimpleConvNet and watch its filters form (and stop it). In each language, at a desktop's
and a phone's width."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("starlette")
from conv_tools import (  # noqa: E402
    LANGUAGES,
    browser,
    draw_seven,
    fits,
    train_conv_model,
    whole_page,
    window,
)
from lab_tools import need_browser, net_lab_app, running_lab, wait_for  # noqa: E402

from chainrule.web.kit import STATIC  # noqa: E402

PROBES = "return Number(document.body.dataset.probes || 0)"


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory, mnist_arrays, real_data_root):
    need_browser()
    tmp = tmp_path_factory.mktemp("conv-browser")
    model = train_conv_model(tmp / "model", mnist_arrays)
    app = net_lab_app(model, tmp, data_dir=real_data_root / "mnist")
    with running_lab(app) as running:
        yield running.url


def probe_of(driver, body: dict) -> dict:
    return driver.execute_async_script("""
        const done = arguments[1];
        fetch('/api/conv/probe', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                  body: JSON.stringify(arguments[0])}).then((r) => r.json()).then(done);""",
                                       body)


def test_draw_a_seven_and_find_the_filters_that_respond(lab_url, tmp_path):
    from selenium.webdriver.common.by import By

    with browser(tmp_path / "profile") as d:
        d.get(lab_url + "conv")
        wait_for(d, "return document.body.dataset.ready", 30)
        wait_for(d, PROBES + " > 0", 30)  # a test image to look at from the start
        assert "test image" in d.find_element(By.ID, "sample-note").text
        assert len(d.find_elements(By.CSS_SELECTOR, "#cards .card")) == 30
        before = d.execute_script(PROBES)
        draw_seven(d)
        wait_for(d, PROBES + f" > {before}", 30)
        assert d.find_element(By.ID, "sample-note").text == ""  # drawing replaced the image
        image = d.execute_script("return document.getElementById('pad').toDataURL('image/png')")
        P = probe_of(d, {"image": image})
        assert d.find_element(By.ID, "verdict-digit").text == str(P["predicted"])
        d.find_element(By.ID, "sort-response").click()
        cards = d.find_elements(By.CSS_SELECTOR, "#cards .card")
        order = [int(c.get_attribute("data-filter")) for c in cards]
        assert order == P["order"]  # strongest response first, as the server ranks them
        responses = [P["response"][f] for f in order]
        assert responses == sorted(responses, reverse=True) and responses[0] > 0
        top = cards[0]
        assert "strong" in top.get_attribute("class") and "top 1" in top.text
        assert f"#{order[0]}" in top.text
        # each card: the filter, its 24x24 map after ReLU, its 12x12 pooled map
        sizes = d.execute_script("""return [...document.querySelectorAll('#cards .card')][0]
            .querySelectorAll('canvas').length""")
        assert sizes == 3
        whole_page(d, tmp_path / "conv-seven.png")

        # enlarged: the filter's numbers, and (backward) where max pooling sends the gradient
        top.click()
        wait_for(d, "return document.getElementById('detail').open", 10)
        f = order[0]
        weights = d.execute_script("""return [...document.querySelectorAll(
            '#detail-body table.weights td')].map((td) => Number(td.dataset.v))""")
        assert weights == P["filters"][f]
        assert d.find_element(By.ID, "detail-title").text == f"Filter {f} of 30"
        d.find_element(By.ID, "detail-close").click()
        d.find_element(By.ID, "view-backward").click()
        d.find_elements(By.CSS_SELECTOR, "#cards .card")[0].click()
        wait_for(d, "return document.getElementById('detail').open", 10)
        grads = d.execute_script("""return [...document.querySelectorAll(
            '#detail-body table.grad-pooled td')].map((td) => Number(td.dataset.v))""")
        assert grads == P["grad_pooled"][f] and any(grads)
        for k, (g, arg) in enumerate(zip(P["grad_pooled"][f], P["pool_arg"][f], strict=True)):
            i, j = divmod(k, 12)
            sent = [P["grad_relu"][f][(2 * i + a // 2) * 24 + 2 * j + a % 2] for a in range(4)]
            assert sent[arg] == g and not any(s for a, s in enumerate(sent) if a != arg)
        window(d, tmp_path / "conv-detail.png")


def test_train_and_watch_the_filters_form_then_stop_one(lab_url, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    with browser(tmp_path / "profile") as d:
        d.get(lab_url + "conv")
        wait_for(d, "return document.body.dataset.ready", 30)
        form = d.find_element(By.ID, "train-form")
        Select(form.find_element(By.NAME, "dataset")).select_by_value("digits")  # quick
        for name, value in (("length", "150"), ("eval_every", "50")):
            box = form.find_element(By.NAME, name)
            box.clear()
            box.send_keys(value)
        d.execute_script("""
            window.seen = [];
            new MutationObserver(() => window.seen.push(
                document.getElementById('live-filters').dataset.iteration)).observe(
                document.getElementById('live-filters'), {attributes: true});""")
        d.find_element(By.ID, "train-go").click()
        text = wait_for(d, "const m = document.getElementById('run-message'); "
                        "return !m.hidden && m.textContent", 240)
        assert text.startswith("Finished: test accuracy")
        # the network lab's charts: each stretch's lowest to highest loss, a band under the mean
        band = d.find_element(By.CSS_SELECTOR, "#chart-loss path.loss-range")
        assert band.get_attribute("d").count("M") >= 2
        assert d.find_element(By.ID, "chart-loss-caption").text.startswith(
            "Loss of each mini-batch: mean of each")
        seen = [int(s) for s in dict.fromkeys(d.execute_script("return window.seen")) if s]
        assert len(seen) >= 3 and seen == sorted(seen) and seen[-1] == 150  # drawn as it learned
        assert len(d.find_elements(By.CSS_SELECTOR, "#live-filters canvas")) == 30
        assert d.find_element(By.ID, "live-iter").text == "at iteration 150"
        d.execute_script("const s = document.getElementById('scrub'); s.value = 0; "
                         "s.dispatchEvent(new Event('input'))")
        assert d.find_element(By.ID, "live-iter").text == "at iteration 0"
        probes = d.execute_script(PROBES)
        d.find_element(By.ID, "run-use").click()
        wait_for(d, "return document.getElementById('model-text').textContent"
                 ".includes('trained on this page')", 60)
        # the 8x8 network looks at an 8x8 digit: 4x4 maps, a digits test image
        wait_for(d, PROBES + f" > {probes}", 30)
        assert "1x8x8" in d.find_element(By.ID, "model-text").text
        assert d.find_element(By.ID, "sample-note").text.startswith("digits test image")
        assert d.execute_script("return document.querySelector('#cards canvas.big').width") == 4 * 3
        # a long run, stopped from the page: saved, resumable
        for name, value in (("length", "20000"), ("eval_every", "500")):
            box = form.find_element(By.NAME, name)
            box.clear()
            box.send_keys(value)
        d.find_element(By.ID, "train-go").click()
        wait_for(d, "return !document.getElementById('train-stop').disabled", 30)  # following it
        wait_for(d, "return Number(document.body.dataset.snapshots) >= 3", 120)
        d.find_element(By.ID, "train-stop").click()
        text = wait_for(d, "const m = document.getElementById('run-message'); "
                        "return !m.hidden && m.textContent", 120)
        assert text.startswith("Stopped after") and "--resume" in text
        whole_page(d, tmp_path / "conv-trained.png")


@pytest.mark.parametrize("lang, tag", LANGUAGES)
@pytest.mark.parametrize("width", [1280, 390])
def test_the_page_in_each_language_and_width(lab_url, tmp_path, lang, tag, width):
    from selenium.webdriver.common.by import By

    with browser(tmp_path / "profile", lang=tag, width=width) as d:
        d.get(lab_url + "conv")
        wait_for(d, "return document.body.dataset.ready", 30)
        words = json.loads((STATIC / f"i18n/conv.{lang}.json").read_text("utf-8"))
        before = wait_for(d, PROBES, 30)
        draw_seven(d)
        wait_for(d, PROBES + f" > {before}", 30)
        assert d.find_element(By.ID, "train-go").text == words["train.go"]
        assert d.find_element(By.ID, "view-backward").text == words["maps.backward"]
        assert fits(d), "the page sticks out sideways"
        whole_page(d, tmp_path / f"conv-{lang}-{width}.png")
        d.find_elements(By.CSS_SELECTOR, "#cards .card")[4].click()
        wait_for(d, "return document.getElementById('detail').open", 10)
        assert d.find_element(By.ID, "detail-close").text == words["detail.close"]
        window(d, tmp_path / f"conv-detail-{lang}-{width}.png")
        d.find_element(By.ID, "detail-close").click()
        d.find_element(By.ID, "view-backward").click()
        d.find_elements(By.CSS_SELECTOR, "#cards .card")[4].click()
        wait_for(d, "return document.getElementById('detail').open", 10)
        window(d, tmp_path / f"conv-detail-backward-{lang}-{width}.png")
