"""The network lab with a convnet (chainrule serve --model a SimpleConvNet run): its hidden
activations are small maps per channel (the first few, all on request), the gradient
arriving at the convolution and pooling layers is maps, not bars, and the page stays about
as tall as with an MLP. In each language, at a desktop's and a phone's width."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette")
from conv_tools import LANGUAGES, browser, draw_seven, fits, train_conv_model, whole_page  # noqa: E402
from lab_tools import (  # noqa: E402
    need_browser,
    net_lab_app,
    running_lab,
    train_mnist_model,
    wait_for,
)

READY = "return document.getElementById('model-dot').classList.contains('ready')"


@pytest.fixture(scope="module")
def labs(tmp_path_factory, mnist_arrays, real_data_root):
    need_browser()
    tmp = tmp_path_factory.mktemp("netlab-conv")
    conv = train_conv_model(tmp / "conv", mnist_arrays)
    mlp = train_mnist_model(tmp / "mlp", mnist_arrays)
    data = real_data_root / "mnist"
    with running_lab(net_lab_app(conv, tmp / "a", data_dir=data)) as a, \
            running_lab(net_lab_app(mlp, tmp / "b", data_dir=data)) as b:
        yield {"conv": a.url, "mlp": b.url}


def draw_and_learn(d) -> None:
    from selenium.webdriver.common.by import By

    wait_for(d, READY, 30)
    draw_seven(d)
    wait_for(d, "return document.querySelector('#bars .bar.top')", 30)
    d.find_element(By.CSS_SELECTOR, '#learn-label button[data-class="7"]').click()
    d.find_element(By.ID, "learn-go").click()
    wait_for(d, "return !document.getElementById('learn-out').hidden", 30)


def test_a_convnets_layers_are_maps_and_the_page_stays_short(labs, tmp_path):
    from selenium.webdriver.common.by import By

    heights = {}
    for name in ("mlp", "conv"):
        with browser(tmp_path / name) as d:
            d.get(labs[name] + "net")
            draw_and_learn(d)
            heights[name] = d.execute_script("return document.documentElement.scrollHeight")
            if name == "mlp":
                assert not d.find_elements(By.CSS_SELECTOR, ".channel-layer")
                continue
            layer = d.find_element(By.CSS_SELECTOR, '#hidden .channel-layer[data-layer="Relu1"]')
            assert layer.get_attribute("data-shape") == "30x24x24"
            assert len(layer.find_elements(By.TAG_NAME, "canvas")) == 6
            assert "30 channels of 24×24" in layer.text
            answer = d.execute_async_script("""
                const done = arguments[0];
                fetch('/api/predict', {method: 'POST', headers: {'Content-Type': 'application/json'},
                      body: JSON.stringify({image: document.getElementById('pad').toDataURL('image/png')})})
                  .then((r) => r.json()).then(done);""")
            relu1 = next(h for h in answer["hidden"] if h["layer"] == "Relu1")
            assert relu1["shape"] == [30, 24, 24]
            top = max(relu1["values"][:576])
            title = layer.find_element(By.TAG_NAME, "canvas").get_attribute("title")
            assert title.startswith("channel 0 (largest ") and title != "channel 0 (largest –)"
            assert top > 0
            layer.find_element(By.CSS_SELECTOR, "button.more").click()
            wait_for(d, "return document.querySelectorAll("
                     "'#hidden .channel-layer[data-layer=\"Relu1\"] canvas').length === 30", 10)
            # the gradient flow: maps at Conv1, Relu1 and Pool1, bars at the affine layers
            stages = {s.find_element(By.CLASS_NAME, "name").text: s
                      for s in d.find_elements(By.CSS_SELECTOR, "#flow .stage")}
            for name_, shape in (("arriving at Pool1", "30x12x12"), ("arriving at Relu1", "30x24x24"),
                                 ("arriving at Conv1", "30x24x24")):
                maps = stages[name_].find_element(By.CLASS_NAME, "channel-layer")
                assert maps.get_attribute("data-shape") == shape
                assert not stages[name_].find_elements(By.TAG_NAME, "svg")
            assert stages["arriving at Affine1"].find_elements(By.TAG_NAME, "svg")
            layer = d.find_element(By.CSS_SELECTOR, '#hidden .channel-layer[data-layer="Relu1"]')
            layer.find_element(By.CSS_SELECTOR, "button.more").click()  # back to a few
            wait_for(d, "return document.querySelectorAll("
                     "'#hidden .channel-layer[data-layer=\"Relu1\"] canvas').length === 6", 10)
            heights["conv"] = d.execute_script("return document.documentElement.scrollHeight")
            whole_page(d, tmp_path / "netlab-conv.png")
    assert heights["conv"] <= 1.25 * heights["mlp"], heights  # not ~9600 px


@pytest.mark.parametrize("lang, tag", LANGUAGES)
@pytest.mark.parametrize("width", [1280, 390])
def test_the_network_lab_with_a_convnet_in_each_language_and_width(labs, tmp_path, lang, tag,
                                                                    width):
    with browser(tmp_path / "profile", lang=tag, width=width) as d:
        d.get(labs["conv"] + "net")
        draw_and_learn(d)
        assert fits(d), "the page sticks out sideways"
        whole_page(d, tmp_path / f"netlab-conv-{lang}-{width}.png")
