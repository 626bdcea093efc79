"""Optional libraries the tests use: skipped without them on a developer's machine,
failed under CI (``CI=true``), where ``pip install '.[test]'`` must have brought them."""

from __future__ import annotations

import importlib
import os

import pytest


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(module: str, install: str = "pip install '.[test]'"):
    """``import module``, or skip (fail under CI) saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        msg = f"{module} is not installed ({install})"
        if under_ci():
            pytest.fail(msg)
        pytest.skip(msg)
