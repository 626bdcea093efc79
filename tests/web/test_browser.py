"""A real browser opens the drawn graph: headless Chromium takes a screenshot.

Chromium is found on PATH (or at ``$CHROMIUM``). Without it the test is skipped,
except under CI (``CI=true``), where it fails: CI installs Debian's ``chromium``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.graph.layout import GRAD_COLOR, text_width

SVG = "{http://www.w3.org/2000/svg}"


def find_chromium() -> str:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser",
                 "google-chrome", "google-chrome-stable", "chrome"):
        path = name and shutil.which(name)
        if path:
            return path
    msg = "no Chromium found (apt-get install chromium, or set CHROMIUM)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(msg)
    pytest.skip(msg)


def screenshot(chromium: str, page, out, width: int, height: int, profile) -> None:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--hide-scrollbars", "--force-device-scale-factor=1",
           f"--user-data-dir={profile}", f"--screenshot={out}",
           f"--window-size={width},{height}", page.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and out.is_file(), done.stderr[-2000:]


def test_chromium_renders_the_apple_orange_graph(tmp_path, capsys):
    from PIL import Image

    chromium = find_chromium()
    svg = tmp_path / "g.svg"
    assert main(["graph", "apple-orange", "--out", str(svg)]) == 0
    capsys.readouterr()
    root = ET.parse(svg).getroot()
    width, height = int(root.get("width")), int(root.get("height"))

    png = tmp_path / "shot.png"
    screenshot(chromium, svg, png, width, height, tmp_path / "profile")
    image = Image.open(png).convert("RGB")
    assert image.size == (width, height)
    pixels = np.asarray(image).astype(int)
    flat = pixels.reshape(-1, 3)
    assert len(np.unique(flat, axis=0)) > 20  # antialiased text and lines: not blank
    ink = (flat.sum(axis=1) < 600).mean()
    assert 0.01 < ink < 0.5

    # every number is drawn where the SVG says, values dark and gradients red
    red = np.array([int(GRAD_COLOR[i:i + 2], 16) for i in (1, 3, 5)])
    checked = 0
    for text in root.iter(f"{SVG}text"):
        if text.get("class") not in ("value", "grad"):
            continue
        x, y = float(text.get("x")), float(text.get("y"))
        half = text_width(text.text, float(text.get("font-size"))) / 2
        box = pixels[int(y - 11):int(y + 2), int(x - half - 1):int(x + half + 2)].reshape(-1, 3)
        if text.get("class") == "grad":
            near = np.abs(box - red).sum(axis=1) < 90
        else:
            near = box.sum(axis=1) < 200
        assert near.sum() >= 5, f"{text.get('class')} {text.text!r} not drawn at ({x}, {y})"
        checked += 1
    assert checked == 18  # 9 edges, each with a value and a gradient
