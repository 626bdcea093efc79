"""The im2col page in headless Chromium, as a learner who has read chapter 7 uses it: a 4x4
input, a 2x2 filter, stride 1; step the window and read which row of im2col(x) it becomes
and the output pixel; step col2im and see the centre positions receive four contributions
and the corners one. In each language, at a desktop's and a phone's width."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("starlette")
from conv_tools import LANGUAGES, browser, fits, whole_page  # noqa: E402
from lab_tools import need_browser, net_lab_app, running_lab, wait_for  # noqa: E402
from test_messages_browser import assert_worded  # noqa: E402

READ = """
const num = (s) => Number(s.replace('−', '-'));
const on = document.querySelector('#col tr.on');
const cells = [...document.querySelectorAll('#x-grids .cell.win')].map((c) => num(c.value ?? c.textContent));
return {row: on ? Number(on.dataset.row) : null,
        rowValues: on ? [...on.querySelectorAll('td')].map((td) => num(td.textContent)) : [],
        label: on ? on.querySelector('th').textContent : '',
        window: cells,
        out: num(document.getElementById('fwd-out').textContent),
        outCell: [...document.querySelectorAll('#out-grids .cell.win')].map((c) => num(c.textContent)),
        where: document.getElementById('fwd-where').textContent};
"""

COUNTS = """
return [...document.querySelectorAll('#dx-grids .grid')].map((g) =>
  [...g.querySelectorAll('.cellbox')].map((b) => ({
    i: Number(b.dataset.i), j: Number(b.dataset.j),
    sum: Number(b.querySelector('.cell').textContent.replace('−', '-')),
    count: b.querySelector('.sub').textContent})));
"""


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory):
    need_browser()
    tmp = tmp_path_factory.mktemp("im2col-browser")
    with running_lab(net_lab_app(None, tmp)) as running:
        yield running.url


def answer_of(driver, body: dict) -> dict:
    return driver.execute_async_script("""
        const done = arguments[1];
        fetch('/api/im2col', {method: 'POST', headers: {'Content-Type': 'application/json'},
                              body: JSON.stringify(arguments[0])}).then((r) => r.json()).then(done);""",
                                       body)


def test_step_the_window_then_col2im_four_in_the_centre_one_at_the_corners(lab_url, tmp_path):
    from selenium.webdriver.common.by import By

    with browser(tmp_path / "profile") as d:
        d.get(lab_url + "im2col")
        wait_for(d, "return document.body.dataset.ready", 20)
        sizes = {k: d.find_element(By.NAME, k).get_attribute("value") for k in ("h", "w", "fh", "fw", "stride")}
        assert sizes == {"h": "4", "w": "4", "fh": "2", "fw": "2", "stride": "1"}
        a = answer_of(d, {"upto": 0})  # the same numbers the page shows (seed 0)
        assert len(a["col"]) == 9
        for r in range(9):
            seen = d.execute_script(READ)
            n, i, j, top, left = a["windows"][r]
            assert seen["row"] == r and seen["label"] == f"{r}: ({n}, {i}, {j})"
            assert seen["rowValues"] == a["col"][r]
            assert seen["window"] == a["col"][r]  # the highlighted window, row by row
            assert seen["out"] == a["product"][r][0] == a["out"][0][0][i][j]
            assert seen["outCell"] == [a["product"][r][0]]
            assert seen["where"] == f"row {r} of 0–8"
            if r < 8:
                d.find_element(By.ID, "fwd-next").click()
        assert not d.find_element(By.ID, "fwd-next").is_enabled()
        assert "✓" in d.find_element(By.ID, "fwd-check").text

        # col2im, one row at a time: each position's count grows to the windows covering it
        assert d.find_element(By.ID, "bwd-where").text.startswith("no row added yet")
        for k in range(1, 10):
            d.find_element(By.ID, "bwd-next").click()
            wait_for(d, f"return document.getElementById('bwd-where').textContent.includes('({k} of 9)')", 10)
            cells = d.execute_script(COUNTS)[0]
            for c in cells:
                covered = sum(1 for (_, wi, wj, t, le) in a["windows"][:k]
                              if t <= c["i"] < t + 2 and le <= c["j"] < le + 2)
                assert c["count"].split("/")[0] == str(covered)
        final = {(c["i"], c["j"]): c for c in d.execute_script(COUNTS)[0]}
        assert [final[p]["count"] for p in ((1, 1), (1, 2), (2, 1), (2, 2))] == ["4/4"] * 4
        assert [final[p]["count"] for p in ((0, 0), (0, 3), (3, 0), (3, 3))] == ["1/1"] * 4
        assert [final[p]["count"] for p in ((0, 1), (1, 0), (3, 2), (2, 3))] == ["2/2"] * 4
        assert [[final[(y, x)]["sum"] for x in range(4)] for y in range(4)] == a["dx"][0][0]
        check = d.find_element(By.ID, "bwd-check").text
        assert check.count("✓") == 2 and "numerical derivative" in check
        whole_page(d, tmp_path / "im2col-stepped.png")


def test_edit_a_number_and_change_the_sizes(lab_url, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with browser(tmp_path / "profile") as d:
        d.get(lab_url + "im2col")
        wait_for(d, "return document.body.dataset.ready", 20)
        cell = d.find_element(By.CSS_SELECTOR, '#x-grids input[data-edit="x:0:0:0:0"]')
        cell.send_keys(Keys.CONTROL, "a")
        cell.send_keys("-7.5", Keys.TAB)
        wait_for(d, "return document.querySelector('#col tr.on td').textContent === '-7.5'", 10)
        assert d.execute_script("return document.activeElement.dataset.edit") == "x:0:0:0:1"
        # a 3-channel input, two filters, padding 1, stride 2: the columns are C·FH·FW
        for name, value in (("c", "3"), ("fn", "2"), ("pad", "1"), ("stride", "2"), ("fh", "3"), ("fw", "3")):
            box = d.find_element(By.NAME, name)
            box.clear()
            box.send_keys(value, Keys.TAB)
        wait_for(d, "return document.getElementById('col-shape').textContent === '(4 × 27)'", 10)
        assert len(d.find_elements(By.CSS_SELECTOR, "#x-grids .grid")) == 3
        assert len(d.find_elements(By.CSS_SELECTOR, "#x-grids .cell.pad")) == 3 * 20
        assert len(d.find_elements(By.CSS_SELECTOR, "#fwd-sum .line")) == 2
        # a filter larger than the padded input: the server says so, in one line
        box = d.find_element(By.NAME, "fh")
        box.clear()
        box.send_keys("9", Keys.TAB)
        text = wait_for(d, "const e = document.getElementById('error'); return !e.hidden && e.textContent", 10)
        assert text == "fh must be a whole number from 1 to 6, got 9"


HEADER = """
const links = (sel) => [...document.querySelectorAll(sel)].map((a) =>
  [a.dataset.page, a.getAttribute('href'), a.getAttribute('aria-current'), a.textContent]);
const top = links('header.chrome nav.pages a'), row = links('header.chrome nav.subpages a');
return top.length && row.length && top.every((l) => l[3]) && {top, row};
"""


def test_chapter_7_is_one_entry_of_the_header_with_a_row_of_its_two_pages(lab_url, tmp_path):
    with browser(tmp_path / "profile") as d:
        d.get(lab_url + "im2col")
        found = wait_for(d, HEADER, 20)
    assert [link[0] for link in found["top"]] == ["graph", "net", "ch6", "ch7"]
    assert found["top"][3] == ["ch7", "/im2col", "page", "Chapter 7"]  # its first page
    assert found["row"] == [["im2col", "/im2col", "page", "im2col"],
                            ["conv", "/conv", None, "Convnet lab"]]


@pytest.mark.parametrize("lang, tag", LANGUAGES)
@pytest.mark.parametrize("width", [1280, 390])
def test_the_page_in_each_language_and_width(lab_url, tmp_path, lang, tag, width):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with browser(tmp_path / "profile", lang=tag, width=width) as d:
        d.get(lab_url + "im2col")
        wait_for(d, "return document.body.dataset.ready", 20)
        words = json.loads((STATIC / f"i18n/im2col.{lang}.json").read_text("utf-8"))
        assert d.find_element(By.ID, "bwd-next").text == words["step.add"]
        for _ in range(4):
            d.find_element(By.ID, "fwd-next").click()
            d.find_element(By.ID, "bwd-next").click()
        wait_for(d, "return document.getElementById('bwd-where').textContent.includes('4')", 10)
        assert fits(d), "the page sticks out sideways"
        whole_page(d, tmp_path / f"im2col-{lang}-{width}.png")
        if lang != "en":  # an error from the server, worded in the page's language
            box = d.find_element(By.NAME, "fw")
            box.clear()
            box.send_keys("9", Keys.TAB)
            text = wait_for(d, "const e = document.getElementById('error'); return !e.hidden && e.textContent", 10)
            assert_worded(text, {"fw"}, "a filter too wide")


from chainrule.web.kit import STATIC  # noqa: E402
