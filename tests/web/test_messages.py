"""Messages as data: every code the lab can send has English and words in every language.

The codes are found in the source, not in a list kept here: every module of the package
is imported (each :class:`~chainrule.core.messages.Catalog` registers itself), and every
string literal of the source that looks like a code of a catalog's prefix is read with
``ast``, so a code raised without English, or with a typo, fails here. Each code must
then have a translation in ``web/static/i18n/messages.<lang>.json`` for every language
but English (English is the catalog's template, sent as ``error``), with the same
``{placeholders}``; no translation may be left over for a code that is gone.
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
import string
from pathlib import Path

import pytest

pytest.importorskip("starlette")

import chainrule  # noqa: E402
from chainrule.core.messages import CATALOGS, CODE, placeholders  # noqa: E402

SRC = Path(chainrule.__file__).parent
I18N = SRC / "web" / "static" / "i18n"
LANGUAGES = ("ja", "zh", "zh-Hant")  # English is the catalogs' own
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def all_codes() -> dict[str, str]:
    """``{code: English template}`` of every catalog in the package."""
    for module in pkgutil.walk_packages(chainrule.__path__, "chainrule."):
        if not module.name.startswith(("chainrule.book_shim", "chainrule.__main__")):
            importlib.import_module(module.name)
    return {code: text for catalog in CATALOGS.values() for code, text in catalog.items()}


CODES = all_codes()


def words(lang: str) -> dict[str, str]:
    return json.loads((I18N / f"messages.{lang}.json").read_text("utf-8"))


def codes_in_source() -> dict[str, list[str]]:
    """Every string literal of the package that looks like ``prefix.name`` for a catalog's
    prefix, with where it is."""
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        pieces = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):  # (an f-string's pieces are not codes: "expr.no_{...}")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and id(node) not in pieces \
                    and CODE.fullmatch(node.value) and node.value.split(".")[0] in CATALOGS:
                found.setdefault(node.value, []).append(f"{path.relative_to(SRC)}:{node.lineno}")
    return found


def test_the_catalogs_cover_every_part_of_the_lab():
    assert {"request", "graph", "net", "expr", "rule", "diverged", "live",
            "runs"} <= set(CATALOGS)
    assert len(CODES) > 100


def test_every_code_in_the_source_has_english():
    unknown = {code: where for code, where in codes_in_source().items() if code not in CODES}
    assert not unknown, f"codes raised without an English template: {unknown}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_code_is_translated_with_the_same_placeholders(lang):
    said = words(lang)
    missing = sorted(code for code in CODES if f"msg.{code}" not in said)
    assert not missing, f"{lang}: no words for {missing}"
    for code, english in CODES.items():
        text = said[f"msg.{code}"]
        assert text.strip(), (lang, code)
        names = set(PLACEHOLDER.findall(text))
        assert names == placeholders(english), (lang, code, text, english)
        assert text.count("{") == text.count("}") == len(PLACEHOLDER.findall(text)), \
            (lang, code, "a brace that is not a placeholder")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_words_are_left_for_a_code_that_is_gone(lang):
    said = words(lang)
    stale = sorted(k for k in said if k.startswith("msg.") and not k.startswith("msg.term.")
                   and k.removeprefix("msg.") not in CODES)
    assert not stale, f"{lang}: words for codes no longer in the source: {stale}"
    assert all(k.startswith("msg.") for k in said), lang


def test_terms_the_server_names_are_translated_everywhere():
    from chainrule.training.live import FINAL
    from chainrule.web.graphs import KINDS

    keys = {lang: {k for k in words(lang) if k.startswith("msg.term.")} for lang in LANGUAGES}
    assert keys["ja"] == keys["zh"] == keys["zh-Hant"]
    needed = {*KINDS.values(), *FINAL, "starting", "running"}
    assert {f"msg.term.{t}" for t in needed} <= keys["ja"]


def test_english_has_no_second_copy():
    """The English of a code is its template, nowhere else: no messages.en.json, and no
    page's English file holds a catalog's sentence."""
    assert not (I18N / "messages.en.json").exists()
    english = {text for page in I18N.glob("*.en.json")
               for text in json.loads(page.read_text("utf-8")).values()}
    assert not english & set(CODES.values())


def test_templates_are_plain():
    for code, text in CODES.items():
        for _, name, spec, conversion in string.Formatter().parse(text):
            assert name is None or (name.isidentifier() and not spec
                                    and conversion in (None, "r")), code


def test_library_errors_carry_their_code_and_say_the_same_in_english():
    from chainrule.core.messages import say
    from chainrule.graph.expression import ExpressionError, InputError, build, parse
    from chainrule.graph.record import Graph

    for text in ("2x", "sin(x)", "x.y", "x ** 1000", "x +", "(x", "x)", "x < y", "x # c",
                 "exp(x, y)", "exp", "x ** y", "1e400 * x", "x[0]", "'a' + x", "x; y"):
        with pytest.raises(ExpressionError) as info:
            parse(text)
        e = info.value
        assert e.code in CODES and e.reason == say(e.code, **e.params), text
        assert str(e).startswith(e.reason)
    with pytest.raises(InputError) as info:
        build(parse("x * 2"), {"x": 1, "y": 2}, Graph())
    assert info.value.code == "expr.input_unused" and info.value.params["used"] == ["x"]
    assert str(info.value) == say("expr.input_unused", **info.value.params)


def test_the_diverged_message_is_its_template():
    from chainrule.core.messages import say
    from chainrule.training.loop import TrainingDiverged

    e = TrainingDiverged(41, 5000.0, 10.0, factor=1000.0, first=2.3026)
    assert str(e) == say(e.code, **e.params) == (
        "training diverged at iteration 41: the loss is 5000, more than 1000 times the "
        "first step's (2.303); try a lower learning rate (now 10)")
    assert e.reason == "the loss is 5000, more than 1000 times the first step's (2.303)"
    nan = TrainingDiverged(3, float("nan"), 0.1)
    assert nan.code == "diverged.loss" and str(nan).endswith("the loss is nan; try a lower "
                                                              "learning rate (now 0.1)")


def test_rule_lines_with_words_carry_their_code():
    import numpy as np

    from chainrule.core.layers import Relu
    from chainrule.graph.explain import rule
    from chainrule.graph.record import Graph

    with Graph() as g:
        (x,) = g.inputs(x=np.array([[1.0, -2.0]]))
        Relu().forward(x)
    g.backward(np.ones((1, 2)))
    r = rule(g.nodes[0])
    assert r["backward"] == ["dx = dout where x > 0, else 0: (1, 2)"]
    assert r["backward_code"] == ["rule.relu_where"]
    assert r["backward_params"] == [{"shape": "(1, 2)"}]
    assert "forward_code" not in r  # max(x, 0): symbols only


def test_the_readmes_example_of_an_error(tmp_path):
    from lab_tools import lab_client, net_lab_app

    client = lab_client(net_lab_app(None, tmp_path))
    r = client.post("/api/train", json={"lr": 1000})
    assert r.status_code == 400 and r.json() == {
        "error": "lr must be a number above 0 and at most 100, got 1000",
        "code": "net.number_above", "params": {"field": "lr", "min": 0, "max": 100,
                                               "got": 1000}, "field": "lr"}
    ja = words("ja")["msg.net.number_above"]
    assert ja == "{field} は {min} より大きく {max} 以下の数値にしてください（受け取った値：{got}）"
