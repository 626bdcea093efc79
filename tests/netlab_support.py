"""Helpers for the network-lab tests: a small trained model, a real server, a browser."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def train_mnist_model(out: Path, mnist_arrays, *, hidden: int = 30, iters: int = 400) -> Path:
    """A TwoLayerNet trained briefly on real MNIST, saved as a normal run folder."""
    from chainrule.runs import Run
    from chainrule.train import Data, TrainConfig

    (x, t), (xt, tt) = mnist_arrays
    run = Run.create(TrainConfig(hidden=hidden, iters=iters, eval_every=iters), out,
                     data=Data(x, t, xt, tt))
    run.train(plots=False, handle_sigint=False)
    return out


def lab_app(model: Path | None, tmp: Path, **options):
    """The network lab's own app (``/net``, its API and ``/static``), offline."""
    from chainrule.web.netlab import create_app

    options.setdefault("download", False)
    options.setdefault("plots", False)
    return create_app(None if model is None else str(model), runs_dir=tmp / "runs",
                      first_root=tmp / "first", **options)


@contextlib.contextmanager
def serve(app) -> Iterator[str]:
    """``app`` served by uvicorn on 127.0.0.1 (a free port) in a thread; yields its URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def chromium_paths() -> tuple[str, str]:
    """Debian's chromium and chromedriver; skip without them (fail under CI)."""
    browser = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not (Path(browser).is_file() and Path(driver).is_file()):
        msg = "no chromium/chromedriver (apt-get install chromium chromium-driver)"
        if CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return browser, driver


@contextlib.contextmanager
def chrome(width: int = 1280, height: int = 800, lang: str = "en"):
    """A headless Chromium driven by Selenium; nothing is downloaded."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        if CI:
            pytest.fail("selenium is not installed")
        pytest.skip("selenium is not installed")
    browser, driver_path = chromium_paths()
    profile = tempfile.mkdtemp(prefix="chainrule-chrome-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--hide-scrollbars",
                "--force-device-scale-factor=1", f"--user-data-dir={profile}",
                f"--window-size={width},{height}", f"--lang={lang}"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def save_screenshot(driver, tmp: Path, name: str) -> Path:
    """A PNG of the page in ``tmp`` (and in ``$CHAINRULE_SCREENSHOTS`` when set)."""
    path = tmp / name
    driver.save_screenshot(str(path))
    target = os.environ.get("CHAINRULE_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / name)
    return path
