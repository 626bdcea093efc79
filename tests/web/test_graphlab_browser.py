"""The graph lab explains itself, in a real browser, in every language, on a desktop and
a phone (issue 19): every case where the numerical derivative cannot agree says why, a
NaN or an infinity says where it came from, the page never disagrees with itself, the
drawing fits a phone, the keyboard keeps its place, and a link opens what it shows.

Each session (a language at a width) opens the page once and goes through the cases by
editing the address's hash, as a teacher editing a link would (no reload). What the page
shows is compared with what the server answers for the same request: the numbers as
the server wrote them, and every reason, origin and title worded from its code and
params with the language's own words (``messages.<lang>.json``), with no English left
where the language is not English. ``CHAINRULE_SCREENSHOTS=DIR`` keeps the screenshots.
Skipped without Chromium, except under CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest.importorskip("starlette")
from lab_tools import chrome, lab_client, need_browser, running_lab, screenshot, wait_for  # noqa: E402

import chainrule.web  # noqa: E402
from chainrule.web import create_app  # noqa: E402

I18N = Path(chainrule.web.__file__).with_name("static") / "i18n"
LANGS = [("en", "en-US"), ("ja", "ja-JP"), ("zh", "zh-CN"), ("zh-Hant", "zh-TW")]
WIDTHS = [1280, 390]
ANSWERS = "return Number(document.body.dataset.answers || 0)"
KEEP = bool(os.environ.get("CHAINRULE_SCREENSHOTS"))  # every case's screenshot, to look at
IDENTIFIERS = {"nan", "inf", "log", "exp", "ReLU", "relu", "dout", "sigmoid", "tanh", "price",
               "apple", "apple_num", "orange", "orange_num", "tax", "TwoLayerNet", "one",
               "hot", "with", "Loss", "Softmax", "Affine", "chainrule", "English", "output"}
"""Names of code and of the book's notation: not English left untranslated."""


@dataclass
class Case:
    """One thing to see: the address's hash, the same request as the API takes, and
    the reason codes (by input, and for the output's origin) the page must show."""

    name: str
    hash: str
    body: dict
    reasons: dict = field(default_factory=dict)  # input -> code
    origin: str | None = None  # the output's origin code
    agree: tuple = ()  # inputs that must say "agree"


CASES = [
    Case("apple-1e40", "graph=apple-orange&apple=1e40",
         {"name": "apple-orange", "inputs": {"apple": 1e40}},
         reasons={"orange": "grad.cancellation", "orange_num": "grad.cancellation"},
         agree=("apple", "apple_num", "tax")),
    Case("apple-1e9", "graph=apple-orange&apple=1e9",
         {"name": "apple-orange", "inputs": {"apple": 1e9}},
         agree=("apple", "apple_num", "orange", "orange_num", "tax")),
    Case("apple-1e6", "graph=apple-orange&apple=1000000&apple_num=5",
         {"name": "apple-orange", "inputs": {"apple": 1000000, "apple_num": 5}},
         agree=("apple", "apple_num", "orange", "orange_num", "tax")),
    Case("divide-by-0", "expr=x / 0&x=1", {"expression": "x / 0", "inputs": {"x": 1}},
         reasons={"x": "grad.division_by_zero"}, origin="grad.division_by_zero"),
    Case("x-log-x", "expr=x * log(x)", {"expression": "x * log(x)", "inputs": {}},
         agree=("x",)),
    Case("log-of-minus-1", "expr=log(x)&x=-1", {"expression": "log(x)", "inputs": {"x": -1}},
         reasons={"x": "grad.log_domain"}, origin="grad.log_domain"),
    Case("log-of-0", "expr=log(x)&x=0", {"expression": "log(x)", "inputs": {"x": 0}},
         reasons={"x": "grad.log_domain"}, origin="grad.log_domain"),
    Case("exp-of-1000", "expr=exp(x)&x=1000", {"expression": "exp(x)", "inputs": {"x": 1000}},
         reasons={"x": "grad.overflow"}, origin="grad.overflow"),
    Case("log-of-minus-0", "expr=log(x)&x=-0", {"expression": "log(x)", "inputs": {"x": -0.0}},
         reasons={"x": "grad.log_domain"}, origin="grad.log_domain"),
    Case("relu-kink", "expr=relu(x) * y&x=0&y=3",
         {"expression": "relu(x) * y", "inputs": {"x": 0, "y": 3}},
         reasons={"x": "grad.kink"}, agree=("y",)),
    Case("pi", "expr=2 * pi * x&x=1", {"expression": "2 * pi * x", "inputs": {"x": 1}},
         agree=("x",)),
    Case("x-plus-y-squared", "expr=(x + y) ** 2&x=30000000&y=1",
         {"expression": "(x + y) ** 2", "inputs": {"x": 30000000, "y": 1}}, agree=("x", "y")),
    Case("five-apples", "graph=apple-orange&apple_num=5",
         {"name": "apple-orange", "inputs": {"apple_num": 5}},
         agree=("apple", "apple_num", "orange", "orange_num", "tax")),
]


@pytest.fixture(scope="module")
def lab():
    need_browser()
    with running_lab() as running:
        yield running


@pytest.fixture(scope="module")
def api():
    with lab_client(create_app()) as client:
        def answer(body: dict) -> dict:
            # as the page sends it: JSON from JavaScript writes 1e9 as 1000000000 (-0 kept)
            inputs = {k: int(v) if isinstance(v, float) and v.is_integer()
                      and math.copysign(1, v) > 0 else v for k, v in body.get("inputs", {}).items()}
            r = client.post("/api/graph", json={**body, "inputs": inputs})
            assert r.status_code == 200, r.text
            return r.json()
        yield answer


# -- words, as the page words them ---------------------------------------------------------
def words(lang: str) -> dict[str, str]:
    out = json.loads((I18N / f"graph.{lang}.json").read_text("utf-8"))
    if lang != "en":
        out.update(json.loads((I18N / f"messages.{lang}.json").read_text("utf-8")))
    return out


def js_number(v) -> str:
    """A number as JavaScript's String() writes it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e21):
        return str(int(v))
    text = repr(v)
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", text)


def worded(lang: str, english: str, code: str, params: dict) -> str:
    """What ``said(english, code, params)`` (i18n.js) shows in ``lang``."""
    if lang == "en":
        return english
    text = words(lang)[f"msg.{code}"]
    for name, value in params.items():
        shown = value if isinstance(value, str) else js_number(value)
        text = text.replace("{" + name + "}", shown)
    return text


def t(lang: str, key: str, **params) -> str:
    text = words(lang).get(key) or words("en")[key]
    for name, value in params.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def english_left(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z][A-Za-z_]{2,}", text)) - IDENTIFIERS


# -- the page ----------------------------------------------------------------------------------
def narrow(driver, width: int) -> None:
    if width < 500:  # headless Chromium's windows are at least 500 px: a phone, emulated
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": True})


def goto(driver, hash_: str) -> dict:
    seen = driver.execute_script(ANSWERS)
    driver.execute_script("location.hash = arguments[0]", hash_)
    wait_for(driver, f"return Number(document.body.dataset.answers || 0) > {seen}")
    return read(driver)


READ = """
const q = (s, root = document) => root.querySelector(s);
return {
  title: q('#graph-title').innerText, result: q('#result').innerText,
  origin: q('#origin').hidden ? null : [q('#origin').innerText, q('#origin').dataset.code],
  origins: [...document.querySelectorAll('#drawing g.node.origin')].map(g => g.dataset.node),
  hash: location.hash, step: q('#step-where').innerText, announce: q('#announce').innerText,
  notes: q('#link-notes').hidden ? '' : q('#link-notes').innerText,
  rows: Object.fromEntries([...document.querySelectorAll('#inputs .input')].map(r => [
    r.dataset.name, {grad: q('.backprop', r).innerText, numerical: q('.numerical', r).innerText,
      verdict: q('.verdict', r).innerText, code: q('.verdict', r).dataset.code || null,
      field: q('input.field', r) && q('input.field', r).value,
      slider: q('input[type=range]', r) && [Number(q('input[type=range]', r).min),
                                            Number(q('input[type=range]', r).max)]}])),
  overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  main: q('main').innerText,
};
"""


def read(driver) -> dict:
    return driver.execute_script(READ)


def shot(driver, path: Path, width: int) -> None:
    """The whole page (at a phone's width too: the emulated screen made as tall as it)."""
    if width < 500:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": True})
        screenshot(driver, path, full_page=False)
        narrow(driver, width)
    else:
        screenshot(driver, path)
        driver.set_window_size(width, 900)


def check_case(driver, case: Case, answer: dict, lang: str) -> dict:
    """The page at ``case`` against the server's ``answer`` for the same request."""
    seen = read(driver)
    where = f"{case.name} ({lang})"
    assert seen["overflow"] <= 1, where  # nothing sticks out sideways
    assert set(seen["rows"]) == set(answer["inputs"]), where
    for name, expected in answer["inputs"].items():
        row = seen["rows"][name]
        assert row["grad"] == expected["grad_check_text"], (where, name)
        if expected.get("reason"):
            assert row["code"] == expected["reason_code"], (where, name)
            assert row["numerical"] in (expected["numerical_text"], "—"), (where, name)
            assert row["verdict"].endswith(worded(lang, expected["reason"], expected["reason_code"],
                                                  expected["reason_params"])), (where, name)
        else:
            assert row["numerical"] == expected["numerical_text"], (where, name)
            assert row["verdict"] == "✓ " + t(lang, "check.agree"), (where, name)
    for name, code in case.reasons.items():
        assert seen["rows"][name]["code"] == code, (where, name, seen["rows"][name])
    for name in case.agree:
        assert seen["rows"][name]["verdict"] == "✓ " + t(lang, "check.agree"), (where, name)
    assert "✗" not in " ".join(r["verdict"] for r in seen["rows"].values()), where
    out = answer["output"]
    if case.origin:
        assert out["value_origin_code"] == case.origin, where
        assert seen["origin"][1] == case.origin, where
        assert seen["origin"][0] == t(lang, "origin.value", value=out["text"], why=worded(
            lang, out["value_origin"], out["value_origin_code"], out["value_origin_params"]))
        assert seen["origins"] == [str(out["value_origin_params"]["node"])], where
    else:
        assert seen["origin"] is None and seen["origins"] == [], where
    if answer.get("title_code"):
        assert seen["title"] == worded(lang, answer["title"], answer["title_code"],
                                       answer["title_params"]), where
    if lang != "en":
        chips = driver.execute_script(
            "return [...document.querySelectorAll('.chip, code')].map(c => c.innerText)")
        text = seen["main"]
        for chip in chips:
            text = text.replace(chip, " ")
        assert not english_left(text), (where, sorted(english_left(text)))
    return seen


# -- the sessions: a language at a width ---------------------------------------------------------
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang, tag", LANGS)
def test_the_graph_lab_explains_itself(lab, api, tmp_path, lang, tag, width):
    with chrome(tmp_path / "profile", lang=tag, width=max(width, 500), height=900) as driver:
        narrow(driver, width)
        driver.get(lab.url)
        wait_for(driver, ANSWERS, 15)
        for case in CASES:
            goto(driver, case.hash)
            check_case(driver, case, api(case.body), lang)
            if KEEP and (lang in ("ja", "zh-Hant") or case.name in ("apple-1e40",
                                                                     "divide-by-0")):
                shot(driver, tmp_path / f"graphlab-{case.name}-{lang}-{width}.png", width)
        the_cases_in_detail(driver, api, lang)
        a_field_without_a_number(driver, lang, tmp_path, width)
        a_phone_sees_the_whole_drawing(driver, width, lang, tmp_path)
        the_keyboard_keeps_its_place(driver, lang)
        a_link_opens_exactly_there(driver, lab.url, lang, tmp_path, width)


def the_cases_in_detail(driver, api, lang) -> None:
    """What the cases show beyond the checks: comparable digits, the slider's domain,
    -0 kept, pi a constant, the title following the inputs."""
    seen = goto(driver, "graph=apple-orange&apple=1000000&apple_num=5")
    tax = seen["rows"]["tax"]
    assert tax["grad"] == tax["numerical"] == "5000450"  # the same digits, side by side
    assert "5" in seen["title"] and "1000000" in seen["title"]
    seen = goto(driver, "expr=x * log(x)")
    low, high = seen["rows"]["x"]["slider"]
    assert 0 < low <= 0.01 and high == 5  # x * log(x) is defined above 0 only
    driver.execute_script("const s = document.querySelector('#inputs input[type=range]');"
                          "s.value = s.min; s.dispatchEvent(new Event('input'));")
    wait_for(driver, "return document.querySelector('#input-x').value === "
             "document.querySelector('#inputs input[type=range]').min && "
             "location.hash.includes('x=0.01')")
    wait_for(driver, "return document.querySelector('#inputs .verdict').innerText.startsWith('✓')")
    seen = goto(driver, "expr=log(x)&x=-0")
    assert seen["rows"]["x"]["field"] == "-0" and seen["rows"]["x"]["grad"] == "-inf"
    assert "log(-0)" in seen["rows"]["x"]["verdict"]
    seen = goto(driver, "expr=2 * pi * x&x=1")
    assert list(seen["rows"]) == ["x"] and seen["result"].endswith("= 6.283")
    seen = goto(driver, "graph=apple-orange&apple_num=5")
    answer = api({"name": "apple-orange", "inputs": {"apple_num": 5}})
    assert answer["title_params"]["apple_num"] == "5"
    if lang == "en":
        assert seen["title"] == "Buying apples and oranges: 5 at 100 and 3 at 150, with 10% tax"


def a_field_without_a_number(driver, lang, tmp_path, width) -> None:
    """1e400 and an empty field: the page says the graph still uses the last number, and
    marks that value on the drawing; a number again, and the note goes."""
    from selenium.webdriver.common.keys import Keys

    goto(driver, "graph=apple")
    field = driver.find_element("css selector", "#input-apple")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("1e40")
    wait_for(driver, "return document.querySelector('#result').innerText.includes('2.2e+40')")
    field.send_keys("0")  # 1e400: too large for a float
    note = wait_for(driver, "const n = document.querySelector('#unusable-apple');"
                    "return !n.hidden && [n.dataset.kind, n.innerText]")
    assert note == ["too_large", t(lang, "field.too_large", name="apple", text="1e400",
                                   value="1e+40")]
    assert driver.execute_script("return document.querySelector('#input-apple')"
                                 ".getAttribute('aria-invalid')") == "true"
    held = driver.execute_script("return [...document.querySelectorAll('#drawing g.edge.held "
                                 "text.value')].map(t => t.textContent)")
    assert held == ["1e+40"]  # the value the graph uses, marked
    assert "2.2e+40" in read(driver)["result"]
    shot(driver, tmp_path / f"graphlab-1e400-{lang}-{width}.png", width)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    note = wait_for(driver, "const n = document.querySelector('#unusable-apple');"
                    "return n.dataset.kind === 'empty' && n.innerText")
    assert note == t(lang, "field.empty", name="apple", value="1e+40")
    field.send_keys("150")
    wait_for(driver, "return document.querySelector('#result').innerText.includes('330')")
    assert driver.execute_script("return document.querySelector('#unusable-apple').hidden")
    assert not driver.find_elements("css selector", "#drawing g.edge.held")


def a_phone_sees_the_whole_drawing(driver, width, lang, tmp_path) -> None:
    """The drawing fits the screen, or pans with a cue and a button that fits it."""
    goto(driver, "graph=apple-orange")
    sizes = "const b = document.querySelector('#drawing'); " \
            "return [b.scrollWidth, b.clientWidth, document.querySelector('#pan-cue').hidden, " \
            "document.querySelector('#fit').getAttribute('aria-pressed')]"
    scroll, box, cue_hidden, pressed = driver.execute_script(sizes)
    assert scroll <= box + 1 and cue_hidden and pressed == "true"  # the whole graph
    # a long expression: on a phone, fitted it would be too small to read, so it is at
    # its own size, panned, with a cue; the button fits it, and pressed again pans it
    goto(driver, "expr=" + " + ".join(f"x * {k}" for k in range(1, 9)))
    scroll, box, cue_hidden, pressed = driver.execute_script(sizes)
    if width < 500:
        assert pressed == "false" and scroll > box and not cue_hidden
        assert driver.find_element("css selector", "#pan-cue").text == t(lang, "drawing.pan")
        assert driver.find_element("css selector", "#fit").text == t(lang, "drawing.fit")
        shot(driver, tmp_path / f"graphlab-pan-{lang}-{width}.png", width)
        driver.find_element("css selector", "#fit").click()
        scroll, box, cue_hidden, pressed = driver.execute_script(sizes)
    assert scroll <= box + 1 and cue_hidden and pressed == "true"
    driver.find_element("css selector", "#fit").click()
    scroll, box, cue_hidden, pressed = driver.execute_script(sizes)
    assert pressed == "false" and cue_hidden == (scroll <= box + 1)
    driver.find_element("css selector", "#fit").click()
    assert read(driver)["overflow"] <= 1


def the_keyboard_keeps_its_place(driver, lang) -> None:
    """Enter on an arrow and the last forward step keep the focus where it was; the
    graph picker's arrow keys move within it; the current step is announced politely."""
    from selenium.webdriver.common.keys import Keys

    goto(driver, "graph=apple")
    driver.execute_script("document.querySelector('#drawing g.edge[data-from=\"0\"]').focus()")
    seen = driver.execute_script(ANSWERS)
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    wait_for(driver, f"return Number(document.body.dataset.answers) > {seen} && "
             "document.querySelector('#edge-detail .edge-head')")
    focused = driver.execute_script("const a = document.activeElement; return a.closest && "
                                    "a.closest('g.edge') && [a.dataset.from, "
                                    "a.getAttribute('aria-pressed')]")
    assert focused == ["0", "true"]
    forward = driver.find_element("css selector", "#step-forward")
    for _ in range(2):
        forward.send_keys(Keys.ENTER)
    assert driver.execute_script("return document.activeElement.id") == "step-forward"
    assert forward.get_attribute("aria-disabled") == "true"
    forward.send_keys(Keys.SPACE)  # at the end: nothing moves, the focus stays
    assert driver.execute_script("return document.activeElement.id") == "step-forward"
    announce = read(driver)["announce"]
    assert announce.startswith(t(lang, "step.forward_count", n=2, total=2))
    assert driver.find_element("css selector", "#announce").get_attribute("aria-live") == "polite"
    picker = driver.find_element("css selector", '#picker [aria-checked="true"]')
    assert picker.get_attribute("data-graph") == "apple" and picker.get_attribute("tabindex") == "0"
    picker.send_keys(Keys.ARROW_RIGHT)
    wait_for(driver, "return document.activeElement.dataset.graph === 'apple-orange' && "
             "location.hash.startsWith('#graph=apple-orange')")
    assert driver.execute_script(
        "return [...document.querySelectorAll('#picker [role=radio]')].map(b => "
        "[b.dataset.graph, b.getAttribute('aria-checked'), b.tabIndex])")[:2] == [
        ["apple", "false", -1], ["apple-orange", "true", 0]]


def a_link_opens_exactly_there(driver, url, lang, tmp_path, width) -> None:
    """The done-when of issue 19: a link to "apple = 150, backward step 2" opens there,
    as a hash and as a query; the address follows what is shown."""
    for link in ("#graph=apple-orange&apple=150&step=backward:2",
                 "?graph=apple-orange&apple=150&step=backward:2"):
        driver.get("about:blank")
        driver.get(url + link)
        wait_for(driver, ANSWERS, 15)
        seen = read(driver)
        assert seen["rows"]["apple"]["field"] == "150", link
        assert seen["result"].endswith("= 825"), link
        assert seen["step"].startswith(t(lang, "step.backward_count", n=2, total=4)), link
        assert seen["hash"] == "#graph=apple-orange&apple=150&step=backward:2", link
        current = driver.execute_script(
            "const g = document.querySelector('#drawing g.node.current'); return g && g.dataset.node")
        assert current == "2", link  # the + node: the second one backward
        assert driver.execute_script("return location.search") == ""
    shot(driver, tmp_path / f"graphlab-link-{lang}-{width}.png", width)
    # the address follows the page: a step, an input, a selected arrow
    driver.find_element("css selector", "#step-backward").click()
    wait_for(driver, "return location.hash.endsWith('step=backward:3')")
    # a link with mistakes says what it left out, in the page's language
    seen = goto(driver, "graph=apple&apple=abc&pear=2&step=sideways")
    assert seen["notes"].split("\n\n") == [
        t(lang, "link.bad_number", name="apple", text="abc"),
        t(lang, "link.unknown_input", name="pear"),
        t(lang, "link.bad_step", text="sideways")]
    assert seen["rows"]["apple"]["field"] == "100" and seen["hash"] == "#graph=apple"
