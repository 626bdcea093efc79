"""The hyperparameter-search page in a real browser: a small search fills the scatter
with one point per trial, the best trials' table and curves are the server's ranking,
the language switch words the page again, a second tab follows the running search and
Stop stops it; errors are worded in ja, zh and zh-Hant; the page in every language at
1280 and 390 px (``CHAINRULE_SCREENSHOTS=DIR`` keeps the screenshots). Headless
Chromium through Selenium; skipped without it, except under CI, where it fails."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")
from lab_tools import chrome, need_browser, running_lab, screenshot, wait_for  # noqa: E402
from test_ch6_browser import UNWORDED, text  # noqa: E402
from test_messages_browser import BROWSERS, ask, assert_worded, check_requests  # noqa: E402

PAGE = "ch6/hyperparameters"
API = "api/ch6/hyperparameters"
SMALL = {"trials": 8, "epochs": 5, "log_lr": [-3, -1], "log_weight_decay": [-8, -4]}


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory, real_data_root):
    need_browser()  # skip (or fail under CI) before any work
    from chainrule.web import create_app

    tmp = tmp_path_factory.mktemp("ch6-hyper-browser")
    app = create_app(runs_dir=tmp / "runs", first_root=tmp / "first", download=False,
                     plots=False, data_dir=real_data_root / "mnist")
    with running_lab(app) as running:
        yield running.url


def server_events(url: str, run: str) -> list[dict]:
    out = []
    with httpx.stream("GET", f"{url}{API}/{run}/events", timeout=60) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                out.append(json.loads(line[6:]))
                if out[-1]["type"] == "end":
                    break
    return out


def set_form(driver, **values) -> None:
    ids = {"trials": "trials", "epochs": "epochs", "lr_lo": "lr-lo", "lr_hi": "lr-hi",
           "wd_lo": "wd-lo", "wd_hi": "wd-hi"}
    for key, value in values.items():
        driver.execute_script("document.getElementById(arguments[0]).value = arguments[1]",
                              ids[key], value)


def done(driver, timeout: float = 120) -> str:
    return wait_for(driver, "const e = document.getElementById('end');"
                    "return !e.hidden && e.textContent", timeout)


def test_a_small_search_fills_the_scatter_and_ranks_the_best(lab_url, tmp_path):
    from selenium.webdriver.common.by import By

    with chrome(tmp_path / "profile") as driver:
        driver.get(lab_url + PAGE)  # a first visit starts the book's search at once
        wait_for(driver, "return document.getElementById('status').textContent"
                 ".includes('of 100 trials')", 60)
        set_form(driver, trials=8, epochs=5, lr_lo=-3, lr_hi=-1)
        driver.find_element(By.ID, "start").click()  # stops the book's, starts this one
        end = wait_for(driver, "const e = document.getElementById('end');"
                       "return !e.hidden && e.textContent.startsWith('Done: 8') && e.textContent",
                       120)
        assert end == "Done: 8 trials."
        run = driver.execute_script("return fetch('/api/ch6/hyperparameters/latest')"
                                    ".then(r => r.json()).then(j => j.run)")
        seen = server_events(lab_url, run)
        trials = [e for e in seen if e["type"] == "trial"]
        assert seen[0]["settings"] == {**SMALL, "log_lr": [-3.0, -1.0],
                                       "log_weight_decay": [-8.0, -4.0], "seed": 0}
        # one point per trial, coloured, each named in its title
        dots = driver.find_elements(By.CSS_SELECTOR, "#scatter circle.trial:not(.best)")
        assert sorted(int(d.get_attribute("data-trial")) for d in dots) == list(range(8))
        assert len(driver.find_elements(By.CSS_SELECTOR, "#by-lr circle.trial")) == 8
        # the table and the curves: the server's ranking, best first
        best = trials[-1]["best"]
        rows = driver.find_elements(By.CSS_SELECTOR, "#best tbody tr")
        assert [int(r.get_attribute("data-trial")) for r in rows] == best[:8]
        first = trials[best[0]]
        cells = [c.text for c in rows[0].find_elements(By.TAG_NAME, "td")]
        assert cells[0] == "1" and cells[1] == str(best[0] + 1)
        assert cells[4] == f"{100 * first['final_val']:.1f}%"
        assert float(cells[2].replace("−", "-")) == pytest.approx(first["lr"], rel=5e-3)
        status = text(driver, "#status")
        assert status.startswith("8 of 8 trials") and f"{100 * first['final_val']:.1f}%" in status
        curves = driver.find_elements(By.CSS_SELECTOR, "#curves figure")
        assert [int(f.get_attribute("data-trial")) for f in curves] == best[:8]
        assert curves[0].find_element(By.TAG_NAME, "figcaption").text.startswith("Best-1 · ")
        span = text(driver, "#span")
        assert span.startswith("The best 8: learning rate from")
        driver.find_element(By.CSS_SELECTOR, "#counts .button[data-count='5']").click()
        wait_for(driver, "return document.querySelectorAll('#best tbody tr').length === 5", 5)
        assert len(driver.find_elements(By.CSS_SELECTOR, "#scatter circle.ring")) == 5
        assert text(driver, "#span").startswith("The best 5:")
        # the language switch words the same numbers again
        driver.find_element(By.CSS_SELECTOR, 'header button[data-lang="ja"]').click()
        wait_for(driver, "return document.getElementById('status').textContent"
                 ".startsWith('試行 8 / 8')", 5)
        assert text(driver, "#end") == "完了：8 回の試行。"
        assert text(driver, "#best thead th") == "順位"
        assert text(driver, "#span").startswith("上位 5 個：学習率は")
        assert f"{100 * first['final_val']:.1f}%" in text(driver, "#status")
        driver.find_element(By.CSS_SELECTOR, 'header button[data-lang="zh-Hant"]').click()
        wait_for(driver, "return document.getElementById('span').textContent"
                 ".startsWith('最好的 5 個：學習率從')", 5)
        driver.find_element(By.CSS_SELECTOR, 'header button[data-lang="en"]').click()


def test_a_second_tab_follows_and_stop_stops(lab_url, tmp_path):
    from selenium.webdriver.common.by import By

    with chrome(tmp_path / "profile") as driver:
        driver.get(lab_url + PAGE)
        done(driver)
        set_form(driver, trials=300, epochs=50)
        driver.find_element(By.ID, "start").click()
        wait_for(driver, "return document.getElementById('status').textContent"
                 ".includes('of 300 trials')", 30)
        first = driver.current_window_handle
        driver.switch_to.new_window("tab")  # a second tab: the same search
        driver.get(lab_url + PAGE)
        wait_for(driver, "return document.getElementById('status').textContent"
                 ".includes('of 300 trials')", 30)
        answer, _ = ask(driver, "POST", "/" + API, json.dumps({"trials": 2}), "application/json")
        assert answer["code"] == "job.busy"
        driver.find_element(By.ID, "stop").click()  # from the second tab
        end = done(driver, 30)
        assert end.startswith("Stopped after")
        driver.switch_to.window(first)
        assert done(driver, 30) == end
        k = int(end.split()[2])
        assert len(driver.find_elements(By.CSS_SELECTOR, "#scatter circle.trial:not(.best)")) == k


HYPER_REQUESTS = [  # (method, path, body, content type, identifiers a message may show)
    ("POST", "/" + API, json.dumps({"log_lr": [-2, -6]}), "application/json", set()),
    ("POST", "/" + API, json.dumps({"log_weight_decay": [-12, -4]}), "application/json", set()),
    ("POST", "/" + API, json.dumps({"trials": 500, "epochs": 200}), "application/json", set()),
    ("POST", "/" + API, json.dumps({"trials": 0}), "application/json", set()),
    ("POST", "/" + API, json.dumps({"epochs": 1000}), "application/json", set()),
    ("POST", "/" + API, json.dumps({"lr": 1}), "application/json",
     {"trials", "epochs", "log_lr", "log_weight_decay", "seed"}),
    ("POST", f"/{API}/nope/stop", None, None, {"nope"}),
]


@pytest.mark.parametrize("lang, tag, html", BROWSERS)
def test_errors_in_the_learners_language(lab_url, tmp_path, lang, tag, html):
    with chrome(tmp_path / "profile", lang=tag) as driver:
        driver.get(lab_url + PAGE)
        wait_for(driver, "return document.querySelectorAll('#counts .button').length === 3", 15)
        assert driver.execute_script("return document.documentElement.lang") == html
        codes = check_requests(driver, HYPER_REQUESTS)
        assert {"hyper.range", "hyper.too_much", "net.whole_number", "net.unknown_option",
                "ch6.no_run"} <= codes
        set_form(driver, trials=500, epochs=200)  # too much work, said on the page
        driver.find_element("id", "start").click()
        shown = wait_for(driver, "return document.getElementById('run-note').textContent", 10)
        assert_worded(shown, set(), "too much work")
        assert "20000" in shown


@pytest.mark.parametrize("lang, tag", [("en", "en-US"), ("ja", "ja-JP"), ("zh", "zh-CN"),
                                       ("zh-Hant", "zh-TW")])
def test_the_page_in_every_language(lab_url, tmp_path, lang, tag):
    """A finished search as a learner sees it at a desktop's and a phone's width: the
    page's words, not their keys; nothing sticks out sideways; a screenshot of each."""
    with httpx.Client(base_url=lab_url, timeout=30) as http:
        latest = http.get(f"{API}/latest").json()
        if latest["status"] in ("starting", "running"):
            http.post(f"{API}/{latest['run']}/stop")
            server_events(lab_url, latest["run"])
        run = http.post(API, json={"trials": 30, "epochs": 20}).json()["run"]
        server_events(lab_url, run)
    with chrome(tmp_path / "profile", lang=tag, width=1280, height=900) as driver:
        for width in (1280, 390):
            phone = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": True}
            if width < 500:  # a window is at least 500 px wide: a phone's screen is emulated
                driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", phone)
            driver.get(lab_url + PAGE)
            done(driver, 30)
            wait_for(driver, "return document.querySelectorAll('#curves figure').length === 10",
                     10)
            body = driver.execute_script("return document.body.innerText")
            assert not UNWORDED.search(body) and "hp." not in body
            if lang != "en":
                for english in ("Chapter 6", "learning rate", "validation", "Search", "trials"):
                    assert english not in body, english
            assert driver.execute_script(
                "return document.documentElement.scrollWidth <= window.innerWidth + 1")
            assert driver.execute_script(  # the table stays inside its panel
                "const t = document.querySelector('.table-wrap');"
                "return t.scrollWidth <= t.clientWidth + 1")
            path = tmp_path / f"ch6-hyperparameters-{lang}-{width}.png"
            if width < 500:  # the whole page: a screen as tall as the page
                height = driver.execute_script("return document.documentElement.scrollHeight")
                driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                       {**phone, "height": height})
                screenshot(driver, path, full_page=False)
                driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", phone)
            else:
                screenshot(driver, path)
                driver.set_window_size(1280, 900)
