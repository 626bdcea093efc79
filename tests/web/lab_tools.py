"""Helpers for the lab's tests: a test client, a real server on 127.0.0.1, headless Chromium,
and for the network lab an app with its own folders and a small network trained on MNIST.

Chromium and chromedriver are Debian's (``/usr/bin/chromium``, ``/usr/bin/chromedriver``);
nothing downloads a browser: the driver's path is given, so Selenium Manager never
runs. Without them a browser test is skipped, except under CI (``CI=true``), where it
fails. ``CHAINRULE_SCREENSHOTS=DIR`` keeps a copy of every screenshot in ``DIR``.
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def lab_client(app):
    """Starlette's TestClient (its note about httpx's successor silenced)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx`")
        from starlette.testclient import TestClient
    return TestClient(app, raise_server_exceptions=False)


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install '.[test]')")
    if missing:
        msg = "no browser for the lab's tests: " + ", ".join(missing) + \
            " (apt-get install chromium chromium-driver)"
        if under_ci():
            pytest.fail(msg)
        pytest.skip(msg)


def net_lab_app(model: Path | None, tmp: Path, **options):
    """The lab's app for the network lab's tests: offline, its runs and first network in
    ``tmp``, no plots; ``app.state.lab.netlab`` is the :class:`NetLab`."""
    from chainrule.web import create_app

    options.setdefault("download", False)
    options.setdefault("plots", False)
    return create_app(model=None if model is None else str(model), runs_dir=tmp / "runs",
                      first_root=tmp / "first", **options)


def train_mnist_model(out: Path, mnist_arrays, *, hidden: int = 30, iters: int = 400) -> Path:
    """A TwoLayerNet trained briefly on real MNIST, saved as a normal run folder."""
    from chainrule.data.load import Data
    from chainrule.training.config import TrainConfig
    from chainrule.training.runs import Run

    (x, t), (xt, tt) = mnist_arrays
    with Run.create(TrainConfig(hidden=hidden, iters=iters, eval_every=iters), out,
                    data=Data(x, t, xt, tt)) as run:
        run.train(plots=False, handle_sigint=False)
    return out


@contextmanager
def running_lab(app=None, **options):
    """``app`` (default: the lab made from ``options``) served by uvicorn from a thread,
    on a free port of 127.0.0.1; ``.url`` ends with ``/``."""
    from chainrule.web import serve

    running = serve(app, host="127.0.0.1", port=0, open_browser=False, background=True,
                    announce=None, **options)
    try:
        yield running
    finally:
        running.stop()


@contextmanager
def chrome(profile: Path, *, lang: str = "en", width: int = 1280, height: int = 800):
    """Headless Chromium driven by Selenium, with ``lang`` as the browser's language."""
    need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--hide-scrollbars",
                "--force-device-scale-factor=1", f"--user-data-dir={profile}",
                f"--lang={lang}", f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver, script: str, timeout: float = 10.0, *args):
    """Run ``script`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script, *args)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {script}")
        time.sleep(0.05)


def screenshot(driver, path: Path, *, full_page: bool = True) -> Path:
    """Save a PNG of the page (the whole page, not only the window)."""
    if full_page:
        width, height, extra_w, extra_h = driver.execute_script(
            "const d = document.documentElement; return [d.clientWidth, d.scrollHeight, "
            "window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]")
        driver.set_window_size(width + extra_w, height + extra_h)
        driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(path))
    keep = os.environ.get("CHAINRULE_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


def assert_coded(answer: dict, where: str = "") -> None:
    """An error body in the lab's one shape: its English ``error``, a ``code`` with an
    English template and the ``params`` that fill it in (the English starts with it: an
    expression's error adds where it is)."""
    from chainrule.core.messages import say

    assert isinstance(answer, dict) and isinstance(answer.get("error"), str), where
    assert isinstance(answer.get("code"), str) and isinstance(answer.get("params"), dict), \
        (where, answer)
    assert answer["error"].startswith(say(answer["code"], **answer["params"])), (where, answer)
