"""The chapter-6 pages in a real browser: drag the start point, move a slider, step, and
read the changed numbers; change the weights' std and see the histograms change; train
with and without batch norm; raise λ and see the train-test gap shrink; a second tab
follows the same run; Stop stops. Errors are worded in ja, zh and zh-Hant, and every page
is looked at in every language at 1280 and 390 px. Headless Chromium (Debian's chromium
+ chromedriver) through Selenium; skipped without them, except under CI, where it fails.
``CHAINRULE_SCREENSHOTS=DIR`` keeps the screenshots."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("starlette")
from lab_tools import chrome, need_browser, running_lab, screenshot, wait_for  # noqa: E402
from test_messages_browser import BROWSERS, assert_worded, check_requests  # noqa: E402

PAGES = ("ch6/optimizers", "ch6/init", "ch6/batchnorm", "ch6/overfit")


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory, real_data_root):
    need_browser()  # skip (or fail under CI) before any work
    from chainrule.web import create_app

    tmp = tmp_path_factory.mktemp("ch6-browser")
    app = create_app(runs_dir=tmp / "runs", first_root=tmp / "first", download=False,
                     plots=False, data_dir=real_data_root / "mnist")
    with running_lab(app) as running:
        yield running.url


def text(driver, selector: str) -> str:
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : ''", selector)


def path_points(driver, name: str) -> str:
    return driver.execute_script(
        "const p = document.querySelector(`polyline.path[data-opt='${arguments[0]}']`);"
        "return p ? p.getAttribute('points') : ''", name)


def test_optimizers_drag_slide_and_step(lab_url, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with chrome(tmp_path / "profile") as driver:
        driver.get(lab_url + "ch6/optimizers")
        wait_for(driver, "return document.querySelectorAll('polyline.path').length === 4", 15)
        assert text(driver, "#start-out") == "start point: (−7, 2)"
        momentum = text(driver, ".update[data-opt='momentum']")
        assert "vx ← α·vx − η·∂f/∂x = 0.9 · 0 − 0.1 · (−0.7) = 0.07" in momentum
        assert "x ← x + vx = −7 + 0.07 = −6.93" in momentum
        # drag the start point
        before = path_points(driver, "momentum")
        handle = driver.find_element(By.CSS_SELECTOR, "#handle circle:last-child")
        ActionChains(driver).click_and_hold(handle).move_by_offset(120, 60).move_by_offset(
            40, 20).release().perform()
        wait_for(driver, "return document.getElementById('start-out').textContent"
                 " !== 'start point: (−7, 2)'", 10)
        wait_for(driver, "const p = document.querySelector(\"polyline.path[data-opt='momentum']\");"
                 "return p && p.getAttribute('points') !== arguments[0]", 10, before)
        dragged = text(driver, ".update[data-opt='momentum']")
        assert dragged != momentum and "(−7, 2)" not in dragged
        # a slider: Momentum's learning rate, by the keyboard
        lr = driver.find_element(By.CSS_SELECTOR, "input[data-opt='momentum'][data-key='lr']")
        out = lr.find_element(By.XPATH, "following-sibling::output")
        assert out.text == "0.1"
        lr.send_keys(*[Keys.ARROW_LEFT] * 30)
        wait_for(driver, "return document.querySelector(\"input[data-opt='momentum'][data-key="
                 "'lr']\").nextElementSibling.textContent === '0.0501'", 10)
        wait_for(driver, "return document.querySelector(\".update[data-opt='momentum']\")"
                 ".textContent.includes('− 0.0501 ·')", 10)
        # step: the second update, with the first's velocity in it
        driver.find_element(By.ID, "step-next").click()
        wait_for(driver, "return document.getElementById('step-where').textContent"
                 " === 'update 2 of 29'", 5)
        second = text(driver, ".update[data-opt='momentum']")
        assert second.count("vx ← α·vx") == 1 and "0.9 · 0 " not in second
        assert text(driver, "#updates-title").startswith("Update 2, from point 1 to point 2")
        # the book's settings bring it all back
        driver.find_element(By.ID, "preset").click()
        wait_for(driver, "return document.getElementById('start-out').textContent"
                 " === 'start point: (−7, 2)'", 5)
        wait_for(driver, "return document.querySelector(\".update[data-opt='momentum']\")"
                 ".textContent.includes('= 0.07')", 10)
        # another function: Adam's bias correction written out on Rosenbrock's valley
        driver.execute_script("const s = document.getElementById('surface'); s.value = "
                              "'rosenbrock'; s.dispatchEvent(new Event('change'))")
        wait_for(driver, "return document.getElementById('formula').textContent.includes('100')", 10)
        wait_for(driver, "return document.querySelector(\".update[data-opt='adam']\")"
                 ".textContent.includes('η_t = η·√(1 − β₂ᵗ) / (1 − β₁ᵗ) = 0.1 ·')", 10)


SIGNATURE = ("return JSON.stringify([...document.querySelectorAll(arguments[0] + ' figure')]"
             ".map(f => [...f.querySelectorAll('rect')].map(r => r.dataset.count).join(',')))")


def test_initial_weights_histograms_change_with_the_std(lab_url, tmp_path):
    from selenium.webdriver.common.by import By

    with chrome(tmp_path / "profile") as driver:
        driver.get(lab_url + "ch6/init")
        wait_for(driver, "return document.querySelectorAll('#values figure').length === 5", 15)
        assert "figure 6-10" in text(driver, "#init-figure")
        seen, previous = {}, None
        for label in ("1", "0.01", "xavier", "he"):
            driver.find_element(By.CSS_SELECTOR, f"#scale .button[data-value='{label}']").click()
            if previous is not None:  # wait for the server's new histograms
                wait_for(driver, SIGNATURE + " !== arguments[1]", 10, "#values", previous)
            previous = driver.execute_script(SIGNATURE, "#values")
            seen[label] = (previous, driver.execute_script(SIGNATURE, "#grads"),
                           text(driver, "#values figure:last-child .stats"))
        assert len({v[0] for v in seen.values()}) == 4  # the activations differ
        assert len({v[1] for v in seen.values()}) == 4  # and so do the gradients
        assert re.match(r"mean 0\.50?\d* · std 0\.0\d", seen["0.01"][2])  # all near 0.5
        assert re.match(r"mean 0\.5\d* · std 0\.4", seen["1"][2])  # at 0 and 1
        driver.find_element(By.CSS_SELECTOR, "#activation .button[data-value='relu']").click()
        wait_for(driver, "return document.getElementById('init-figure').textContent"
                 ".includes('relu')", 10)
        assert "figure 6-14" in text(driver, "#init-figure")


def test_batch_norm_trains_faster_and_stops(lab_url, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with chrome(tmp_path / "profile") as driver:
        driver.get(lab_url + "ch6/batchnorm")
        status = wait_for(driver, "const s = document.getElementById('status').textContent;"
                          "return s.startsWith('epoch 20 of 20') && s", 90)
        found = re.search(r"with batch normalization ([\d.]+)% · without ([\d.]+)%", status)
        assert float(found[1]) > 80 > 30 > float(found[2]), status
        wait_for(driver, "const e = document.getElementById('end');"
                 "return !e.hidden && e.textContent.startsWith('Done: 20 epochs')", 10)
        assert len(driver.find_elements(By.CSS_SELECTOR, "#hists figure")) == 3
        after = text(driver, "#hists figure[data-part='bn_normalized'] .stats")
        assert re.match(r"mean −?0\.0\d* · std (0\.9\d*|1)$", after), after
        driver.find_element(By.CSS_SELECTOR, "#layers .button[data-layer='5']").click()
        assert "Affine5" in text(driver, "#hists figcaption")
        # a larger std: the slider, by the keyboard, starts a new run at once
        assert text(driver, "#scale-out") == "0.00215"
        scale = driver.find_element(By.ID, "scale")
        scale.send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT)  # two of the book's 16 values up
        wait_for(driver, "return document.getElementById('scale-out').textContent === '0.00736'")
        wait_for(driver, "return document.getElementById('status').textContent"
                 ".includes('std 0.00736')", 30)  # the last change wins
        driver.execute_script("const e = document.getElementById('epochs'); e.value = 100;"
                              "e.dispatchEvent(new Event('change'))")
        wait_for(driver, "return / of 100 /.test(document.getElementById('status').textContent)"
                 " && !document.getElementById('stop').disabled", 30)
        driver.find_element(By.ID, "stop").click()
        end = wait_for(driver, "const e = document.getElementById('end');"
                       "return !e.hidden && e.textContent", 30)
        assert end.startswith("Stopped after"), end
        driver.find_element(By.ID, "save").click()
        saved = wait_for(driver, "const t = document.getElementById('run-note').textContent;"
                         "return t.startsWith('Saved') && t", 10)
        assert "ch6" in saved


def test_weight_decay_shrinks_the_gap_and_a_second_tab_follows(lab_url, tmp_path):
    from selenium.webdriver.common.by import By

    with chrome(tmp_path / "profile") as driver:
        driver.get(lab_url + "ch6/overfit")
        wait_for(driver, "return document.getElementById('status').textContent"
                 ".includes('λ = 0.1')", 30)
        first = driver.current_window_handle
        driver.switch_to.new_window("tab")  # a second tab: the same run
        driver.get(lab_url + "ch6/overfit")
        wait_for(driver, "return document.getElementById('status').textContent"
                 ".includes('λ = 0.1')", 30)
        driver.switch_to.window(first)
        # raise λ: 120 epochs with λ = 0.15, the plain network beside it
        driver.execute_script("document.getElementById('epochs').value = 120;"
                              "const d = document.getElementById('decay'); d.value = 0.15;"
                              "d.dispatchEvent(new Event('change'))")
        done = wait_for(driver, "const e = document.getElementById('end');"
                        "return !e.hidden && e.textContent.startsWith('Done: 120') &&"
                        "document.getElementById('status').textContent", 120)
        mine = float(re.search(r"gap ([\d.]+)", done)[1])
        plain = float(re.search(r"gap ([\d.]+)", text(driver, "#status-plain"))[1])
        assert "λ = 0.15" in done and mine < plain - 0.05, (done, plain)
        train = float(re.search(r"train ([\d.]+)%", done)[1])
        assert train > 60, done  # it still learns: the gap shrinks from above
        marks = driver.find_elements(By.CSS_SELECTOR, "#chart .gap-mark text")
        assert [m.text for m in marks] == [f"{mine:g}", f"{plain:g}"]
        driver.switch_to.window(driver.window_handles[1])  # it was told, and follows
        wait_for(driver, "return document.getElementById('status').textContent"
                 ".includes('λ = 0.15')", 30)
        # the book's dropout, one click away; then Stop
        driver.execute_script("document.getElementById('epochs').value = 400")
        driver.find_element(By.CSS_SELECTOR, "#presets .button[data-preset='dropout']").click()
        wait_for(driver, "return document.getElementById('status').textContent"
                 ".includes('dropout 0.2')", 30)
        driver.find_element(By.ID, "stop").click()
        end = wait_for(driver, "const e = document.getElementById('end');"
                       "return !e.hidden && e.textContent", 30)
        assert end.startswith("Stopped after")


CH6_REQUESTS = [  # (method, path, body, content type, identifiers a message may show)
    ("POST", "/api/ch6/paths", json.dumps({"surface": "moon"}), "application/json",
     {"moon", "book", "rotated", "saddle", "rosenbrock"}),
    ("POST", "/api/ch6/paths", json.dumps({"start": [1]}), "application/json", set()),
    ("POST", "/api/ch6/paths", json.dumps({"iters": 1000}), "application/json", set()),
    ("POST", "/api/ch6/paths", json.dumps({"optimizers": {"lion": {}}}), "application/json",
     {"nesterov", "AdaGrad", "adagrad", "RMSprop"}),
    ("POST", "/api/ch6/paths", json.dumps({"optimizers": {"sgd": {"beta1": 1}}}),
     "application/json", {"beta"}),
    ("POST", "/api/ch6/paths", json.dumps({"optimizers": {"adam": {"beta2": 1}}}),
     "application/json", {"beta"}),
    ("POST", "/api/ch6/init", json.dumps({"scale": "lecun"}), "application/json",
     {"lecun", "xavier", "he"}),
    ("POST", "/api/ch6/init", json.dumps({"activation": "gelu"}), "application/json",
     {"gelu"}),
    ("POST", "/api/ch6/batchnorm", json.dumps({"weight_scale": 0}), "application/json", set()),
    ("POST", "/api/ch6/overfit", json.dumps({"test_size": 5}), "application/json", set()),
    ("POST", "/api/ch6/overfit", json.dumps({"lr": 1}), "application/json",
     {"weight_decay", "dropout", "epochs", "test_size", "seed"}),
    ("POST", "/api/ch6/overfit/nope/stop", None, None, {"nope"}),
    ("GET", "/api/ch6/surfaces/moon", None, None, {"moon", "book", "rotated", "saddle",
                                                   "rosenbrock"}),
]


@pytest.mark.parametrize("lang, tag, html", BROWSERS)
def test_errors_in_the_learners_language(lab_url, tmp_path, lang, tag, html):
    with chrome(tmp_path / "profile", lang=tag) as driver:
        driver.get(lab_url + "ch6/init")
        wait_for(driver, "return document.querySelectorAll('#values figure').length === 5", 15)
        assert driver.execute_script("return document.documentElement.lang") == html
        codes = check_requests(driver, CH6_REQUESTS)
        assert {"ch6.choice", "ch6.point", "ch6.optimizers", "ch6.setting", "ch6.scale",
                "ch6.no_run", "net.whole_number", "net.number_range"} <= codes
        driver.execute_script("const s = document.getElementById('seed'); s.value = -1;"
                              "s.dispatchEvent(new Event('change'))")
        shown = wait_for(driver, "return document.getElementById('init-error').textContent", 10)
        assert_worded(shown, set(), "the seed")
        # the busy run, as the library words it
        started = driver.execute_async_script("""
            const done = arguments[0];
            fetch('/api/ch6/overfit', {method: 'POST', headers: {'Content-Type': 'application/json'},
                  body: JSON.stringify({epochs: 400, test_size: 100})}).then(r => r.json()).then(done);""")
        try:
            from test_messages_browser import ask

            answer, shown = ask(driver, "POST", "/api/ch6/overfit", "{}", "application/json")
            assert answer["code"] == "job.busy" and answer["running"] == started["run"]
            assert_worded(shown, {"overfit"}, "busy")  # the run id
        finally:
            driver.execute_async_script(
                "fetch(`/api/ch6/overfit/${arguments[0]}/stop`, {method: 'POST'})"
                ".then(() => arguments[1]())", started["run"])


UNWORDED = re.compile(r"\b(opt|init|bn|of|run|nav)\.[a-zA-Z]")


@pytest.mark.parametrize("lang, tag", [("en", "en-US"), ("ja", "ja-JP"), ("zh", "zh-CN"),
                                       ("zh-Hant", "zh-TW")])
def test_every_page_in_every_language(lab_url, tmp_path, lang, tag):
    """Each page as a learner sees it, at a desktop's and a phone's width: the page's
    words, not their keys; nothing sticks out sideways; a screenshot of each (kept with
    CHAINRULE_SCREENSHOTS)."""
    ready = {"ch6/optimizers": "document.querySelectorAll('.update').length > 0",
             "ch6/init": "document.querySelectorAll('#grads figure').length === 5",
             "ch6/batchnorm": "document.querySelectorAll('#hists figure').length === 3",
             "ch6/overfit": "!document.getElementById('end').hidden"}
    with chrome(tmp_path / "profile", lang=tag, width=1280, height=900) as driver:
        for width in (1280, 390):
            phone = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": True}
            if width < 500:  # a window is at least 500 px wide: a phone's screen is emulated
                driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", phone)
            for page in PAGES:
                driver.get(lab_url + page)
                wait_for(driver, f"return {ready[page]}", 120)
                body = driver.execute_script("return document.body.innerText")
                assert not UNWORDED.search(body), (page, UNWORDED.search(body)[0])
                if lang != "en":
                    assert "Chapter 6" not in body and "Settings" not in body, page
                assert driver.execute_script(
                    "return document.documentElement.scrollWidth <= window.innerWidth + 1"), page
                path = tmp_path / f"ch6-{page.split('/')[1]}-{lang}-{width}.png"
                if width < 500:  # the whole page: a screen as tall as the page
                    height = driver.execute_script("return document.documentElement.scrollHeight")
                    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                           {**phone, "height": height})
                    screenshot(driver, path, full_page=False)
                    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", phone)
                else:
                    screenshot(driver, path)
                    driver.set_window_size(1280, 900)
