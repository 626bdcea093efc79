"""Messages as data: a stable code, its parameters, and the English words, in one place.

Whatever the lab can show a learner in words (an error, a rule's explanation, a note at
the end of a run) is a *message*: a ``code`` such as ``"expr.call"``, its ``params``
(JSON values: ``{"name": "sin", "allowed": ["exp", "log", ...]}``) and one English
template, ``"calling {name} is not allowed: the functions are {allowed}"``. The
template lives in a :class:`Catalog` next to the code that raises the message (one
catalog per module or page; the prefix before the dot names it); the English text
is made from it (:func:`say`) for the command line and for scripts, and the lab's page
words the same code and params in the learner's language from
``web/static/i18n/messages.<lang>.json`` (keys ``msg.<code>``, same ``{placeholders}``).

Templates use ``{name}`` placeholders only (``{name!r}`` to quote a string in English);
:func:`say` writes numbers the short way (``100``, ``0.1``, ``1e+27``) and lists
joined with ", ". ``tests/web/test_messages.py`` finds every code in the source and
fails when one has no English, or a translation is missing or names other placeholders.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterator, Mapping
from typing import Any

CODE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")
"""What a code looks like: ``prefix.name`` (lower case, digits, underscores, dots)."""

CATALOGS: dict[str, Catalog] = {}
"""Every catalog made so far, by prefix (a module's catalog registers when imported)."""


def placeholders(template: str) -> set[str]:
    """The ``{names}`` a template fills in."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class Catalog(Mapping):
    """The English templates of one group of codes, all starting with ``prefix + "."``."""

    def __init__(self, prefix: str, templates: dict[str, str]):
        for code, template in templates.items():
            if not CODE.fullmatch(code) or not code.startswith(prefix + "."):
                raise ValueError(f"message code {code!r} must look like {prefix}.name")
            for _, name, spec, conversion in string.Formatter().parse(template):
                if name is not None and (not name.isidentifier() or spec
                                         or conversion not in (None, "r")):
                    raise ValueError(f"{code}: use plain {{name}} placeholders in {template!r}")
        if prefix in CATALOGS and CATALOGS[prefix].templates != templates:
            raise ValueError(f"two catalogs of message codes {prefix}.*")
        self.prefix, self.templates = prefix, dict(templates)
        CATALOGS[prefix] = self

    def __getitem__(self, code: str) -> str:
        return self.templates[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self.templates)

    def __len__(self) -> int:
        return len(self.templates)

    def say(self, code: str, **params: Any) -> str:
        """The English text of ``code`` with ``params`` filled in."""
        return fill(self.templates[code], params)


def template(code: str) -> str:
    """The English template of any registered ``code`` (KeyError if there is none)."""
    catalog = CATALOGS.get(code.split(".", 1)[0])
    if catalog is None or code not in catalog:
        raise KeyError(f"no English for message code {code!r}")
    return catalog[code]


def say(code: str, **params: Any) -> str:
    """The English text of any registered ``code`` with ``params`` filled in."""
    return fill(template(code), params)


def fill(text: str, params: Mapping[str, Any]) -> str:
    """``text`` with each ``{name}`` replaced by ``params[name]`` written in English."""
    class Shown(dict):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    shown = Shown({k: _English(v) if not isinstance(v, str) else v for k, v in params.items()})
    return string.Formatter().vformat(text, (), shown)


class _English:
    """A parameter as the English text shows it (``str`` and ``repr`` alike)."""

    def __init__(self, value: Any):
        self.value = value

    def __str__(self) -> str:
        return number_text(self.value)

    __repr__ = __str__


def number_text(value: Any) -> str:
    """A number the short way (``100``, ``0.1``, ``1e+27``, ``nan``); a list joined with
    ``", "``; true/false; anything else as ``str``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(number_text(v) for v in value)
    return str(value)


def json_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` as JSON can hold them: NaN and infinities become ``"NaN"``,
    ``"Infinity"``, ``"-Infinity"``; tuples lists; other objects their text."""
    def plain(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if hasattr(v, "item"):  # a NumPy scalar
            return plain(v.item())
        return str(v)

    return {str(k): plain(v) for k, v in params.items()}


class Coded:
    """Mixin for an exception the lab words itself: ``code`` and ``params`` (JSON-able);
    its English message stays ``str(exc)``."""

    code: str = ""
    params: dict[str, Any] = {}

    @classmethod
    def said(cls, code: str, **params: Any):
        """The error whose message is the English of ``code`` (``raise Err.said(...)``)."""
        return cls(say(code, **params)).coded(code, **params)

    def coded(self, code: str, **params: Any):
        """Set ``code`` and ``params``; returns the exception (``raise Err(...).coded(...)``)."""
        template(code)  # an unknown code fails here, loudly, not on the page
        self.code, self.params = code, json_params(params)
        return self


class Said(str):
    """An English text that also carries its ``code`` and ``params`` (:func:`said`):
    it is the plain string everywhere a string goes (JSON, print), and a page can word
    it again from the code."""

    code: str
    params: dict[str, Any]


def said(code: str, **params: Any) -> Said:
    """The English of ``code`` with ``params``, as a :class:`Said` string."""
    text = Said(say(code, **params))
    text.code, text.params = code, json_params(params)
    return text


def coded_fields(name: str, text: Any) -> dict[str, Any]:
    """``{name + "_code": ..., name + "_params": ...}`` for a :class:`Said` string or a
    :class:`Coded` error (``{}`` for another text); for a list of texts, two lists (None
    where an item has no code; ``{}`` when none has). What an answer sends beside the
    English ``name`` (as an error body sends ``code`` and ``params`` beside ``error``)."""
    if isinstance(text, (list, tuple)):
        codes = [getattr(t, "code", "") or None for t in text]
        if not any(codes):
            return {}
        params = [dict(t.params) if c else None for t, c in zip(text, codes, strict=True)]
        return {f"{name}_code": codes, f"{name}_params": params}
    code = getattr(text, "code", "")
    return {f"{name}_code": code, f"{name}_params": dict(text.params)} if code else {}
