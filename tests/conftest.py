"""Shared fixtures.

Real-data tests read the official files from ``$CHAINRULE_DATA`` (a folder holding
``mnist/`` and ``fashion-mnist/``; ``.ci/run`` points it at ``../shared/datasets``).
Outside CI a missing folder skips those tests; under CI (``CI=true``) it fails them,
so a broken CI set-up can never pass silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _real_data_root() -> Path:
    root = os.environ.get("CHAINRULE_DATA")
    if root and (Path(root) / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        # Absolute: the README's relative ../shared/datasets must still point at the data
        # when a test hands it to a process started in another folder.
        return Path(root).resolve()
    msg = (
        "real MNIST not found: set CHAINRULE_DATA to a folder holding mnist/ and "
        f"fashion-mnist/ (got CHAINRULE_DATA={root!r})"
    )
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Keep the user's real cache (``~/.cache/chainrule``) out of every test."""
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def real_data_root() -> Path:
    """The folder holding the real ``mnist/`` and ``fashion-mnist/`` folders."""
    return _real_data_root()


@pytest.fixture(scope="session")
def mnist_arrays(real_data_root):
    """Real MNIST as the book loads it: normalized float32, flat, index labels."""
    from chainrule import load_mnist

    return load_mnist(data_dir=real_data_root / "mnist", download=False)
