"""The network lab in a real browser: draw a stroke, see the bars and the heatmap; train
and see the chart grow. Headless Chromium (Debian's chromium + chromedriver) through
Selenium; skipped without them, except under CI (``CI=true``), where it fails."""

from __future__ import annotations

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
)


def wait(driver, condition, timeout: float = 20.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        value = condition(driver)
        if value:
            return value
        if time.monotonic() > deadline:
            logs = driver.get_log("browser") if hasattr(driver, "get_log") else ""
            raise AssertionError(f"timed out waiting for {what}; browser log: {logs}")
        time.sleep(0.05)


def heat_ink(driver) -> int:
    """How many pixels of the gradient heatmap are painted (its canvas, read in the page)."""
    return driver.execute_script("""
        const c = document.getElementById('heat');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
        return n;""")


def points(driver, selector: str) -> int:
    return driver.execute_script(f"""
        const p = document.querySelector({selector!r});
        return p ? p.getAttribute('points').trim().split(/\\s+/).length : 0;""")


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory, mnist_arrays, real_data_root):
    need_browser()  # skip (or fail under CI) before any work
    tmp = tmp_path_factory.mktemp("browser")
    model = train_mnist_model(tmp / "model", mnist_arrays)
    app = net_lab_app(model, tmp, data_dir=real_data_root / "mnist")
    with running_lab(app) as running:
        yield running.url


def test_draw_a_stroke_then_train_and_watch_the_chart(lab_url, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    with chrome(tmp_path / "profile") as driver:
        driver.get(lab_url + "net")
        wait(driver, lambda d: "784-30-10" in d.find_element(By.ID, "model-text").text,
             what="the model bar")
        assert heat_ink(driver) == 0
        assert len(driver.find_elements(By.CSS_SELECTOR, "#bars .bar.empty")) == 10
        pad = driver.find_element(By.ID, "pad")
        stroke = ActionChains(driver).move_to_element_with_offset(pad, -10, -90).click_and_hold()
        for dx, dy in ((5, 30), (5, 30), (0, 30), (-5, 30), (0, 40)):
            stroke.move_by_offset(dx, dy)
        stroke.release().perform()
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#bars .bar.top"),
             what="the probability bars")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#bars .bar:not(.empty)")) == 10
        assert wait(driver, heat_ink, what="the heatmap") > 10000
        digit = driver.find_element(By.ID, "verdict-digit").text
        assert digit in "0123456789" and len(digit) == 1
        top = driver.find_element(By.CSS_SELECTOR, "#bars .bar.top .name").text
        assert top == digit
        assert "Relu1: " in driver.find_element(By.ID, "hidden").text
        # the gradient of another class's loss
        driver.find_element(By.CSS_SELECTOR, '#grad-pick button[data-class="5"]').click()
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, '#bars .bar.target[data-class="5"]'),
             what="class 5 picked")
        screenshot(driver, tmp_path / "netlab-draw.png", full_page=False)

        # a short training run on the bundled digits, from the form
        form = driver.find_element(By.ID, "train-form")
        Select(form.find_element(By.NAME, "dataset")).select_by_value("digits")
        for name, value in (("hidden", "20"), ("length", "3000"), ("eval_every", "150")):
            field = form.find_element(By.NAME, name)
            field.clear()
            field.send_keys(value)
        driver.execute_script("""
            window.testCounts = [];
            const chart = document.getElementById('chart-acc');
            new MutationObserver(() => {
              const p = chart.querySelector('polyline.test');
              window.testCounts.push(p ? p.getAttribute('points').trim().split(/\\s+/).length : 0);
            }).observe(chart, {childList: true, subtree: true});""")
        driver.find_element(By.ID, "train-go").click()
        wait(driver, lambda d: points(d, "#chart-loss polyline") >= 2, what="the loss curve")
        wait(driver, lambda d: not d.find_element(By.ID, "run-message").get_attribute("hidden")
             and "Finished" in d.find_element(By.ID, "run-message").text, what="the end")
        counts = driver.execute_script("return window.testCounts")
        assert counts[-1] == 21  # evaluations after steps 0, 150, ..., 2850, and the final one
        grew = sorted(set(counts))
        assert len(grew) >= 3, counts  # drawn as the numbers came, not once at the end
        assert points(driver, "#chart-loss polyline") == 3000 // 25
        driver.find_element(By.ID, "run-use").click()
        wait(driver, lambda d: "64-20-10" in d.find_element(By.ID, "model-text").text,
             what="the trained network in use")
        screenshot(driver, tmp_path / "netlab-train.png")


def test_the_shared_header_links_the_labs_and_switches_the_language(lab_url, tmp_path):
    from selenium.webdriver.common.by import By

    with chrome(tmp_path / "profile", width=420) as driver:
        driver.get(lab_url + "net")
        links = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "header.chrome nav a"),
                     what="the header")
        found = [(a.get_attribute("data-page"), a.get_attribute("href")) for a in links]
        assert found[:2] == [("graph", lab_url), ("net", lab_url + "net")]
        assert ("ch6", lab_url + "ch6/optimizers") in found  # a chapter's pages: one entry
        assert ("ch7", lab_url + "im2col") in found
        assert links[1].get_attribute("aria-current") == "page"
        assert driver.find_element(By.ID, "train-go").text == "Start training"
        driver.find_element(By.CSS_SELECTOR, 'header.chrome button[data-lang="ja"]').click()
        wait(driver, lambda d: d.find_element(By.ID, "train-go").text == "学習を開始",
             what="the page's words in Japanese")
        assert links[1].text == "ネットワーク・ラボ" and driver.title == "chainrule · ネットワーク・ラボ"
        wait(driver, lambda d: "テスト認識精度" in d.find_element(By.ID, "model-text").text,
             what="the model bar in Japanese")
        # nothing sticks out of a phone-sized window
        assert driver.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth")
        links[0].click()  # to the graph lab, still in Japanese
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#picker button"),
             what="the graph lab")
        assert driver.execute_script("return document.documentElement.lang") == "ja"
