"""Helpers for the convolution pages' browser tests: a phone's width, whole-page pictures."""

from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from lab_tools import chrome, screenshot

LANGUAGES = [("en", "en-US"), ("ja", "ja-JP"), ("zh", "zh-CN"), ("zh-Hant", "zh-TW")]
"""(the lab's language, a browser asking for it)"""


@contextmanager
def browser(profile: Path, *, lang: str = "en-US", width: int = 1280, height: int = 900):
    """Headless Chromium in ``lang``; a width under 500 px is a phone's screen, emulated
    (a window cannot be narrower)."""
    with chrome(profile, lang=lang, width=max(width, 500), height=height) as driver:
        if width < 500:
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": True})
        driver.phone_width, driver.phone_height = (width, height) if width < 500 else (None, None)
        yield driver


def whole_page(driver, path: Path) -> Path:
    """A picture of the whole page (a phone's too), also kept in $CHAINRULE_SCREENSHOTS;
    then the window's size as before."""
    if not driver.phone_width:
        size = driver.get_window_size()
        screenshot(driver, path)
        driver.set_window_size(size["width"], size["height"])
        return path
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": driver.phone_width, "height": height, "deviceScaleFactor": 1, "mobile": True})
    time.sleep(0.3)
    window(driver, path)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {  # the phone's screen again
        "width": driver.phone_width, "height": driver.phone_height, "deviceScaleFactor": 1,
        "mobile": True})
    return path


def window(driver, path: Path) -> Path:
    """A picture of what the window shows (a dialog over the page), kept as above."""
    driver.save_screenshot(str(path))
    keep = os.environ.get("CHAINRULE_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


def fits(driver) -> bool:
    """Nothing sticks out sideways."""
    return driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth + 1")


def train_conv_model(out: Path, mnist_arrays, *, iters: int = 300) -> Path:
    """The book's SimpleConvNet trained briefly on real MNIST (Adam 0.001, batch 100), as a
    normal run folder."""
    from chainrule.data.load import Data
    from chainrule.training.config import TrainConfig
    from chainrule.training.runs import Run

    (x, t), (xt, tt) = mnist_arrays
    config = TrainConfig.for_network("simple-conv", iters=iters, eval_every=iters,
                                     eval_samples=500)
    with Run.create(config, out, data=Data(x, t, xt[:1000], tt[:1000])) as run:
        run.train(plots=False, handle_sigint=False)
    return out


def draw_seven(driver) -> None:
    """A 7 on the drawing pad: the bar, then the stroke down to the left."""
    from selenium.webdriver.common.action_chains import ActionChains

    pad = driver.find_element("id", "pad")
    stroke = ActionChains(driver).move_to_element_with_offset(pad, -80, -90).click_and_hold()
    for dx, dy in ((40, 0), (40, 0), (40, 0), (-10, 40), (-15, 40), (-15, 40), (-10, 40)):
        stroke.move_by_offset(dx, dy)
    stroke.release().perform()
