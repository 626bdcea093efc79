"""The network lab's API on real MNIST: predictions, dL/dx, one step of learning, samples."""

from __future__ import annotations

import base64
import hashlib
import io

import numpy as np
import pytest

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")
from lab_tools import net_lab_app, running_lab, train_mnist_model  # noqa: E402

from chainrule.core.functions import softmax  # noqa: E402
from chainrule.training.checkpoint import load_model  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, mnist_arrays):
    return train_mnist_model(tmp_path_factory.mktemp("model") / "run", mnist_arrays)


@pytest.fixture(scope="module")
def client(model_dir, tmp_path_factory, real_data_root):
    app = net_lab_app(model_dir, tmp_path_factory.mktemp("lab"),
                      data_dir=real_data_root / "mnist")
    with running_lab(app) as lab, httpx.Client(base_url=lab.url, timeout=30) as c:
        c.netlab = app.state.lab.netlab  # the server's state, for a test that fixes its draws
        yield c


def png_url(gray: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(gray, dtype=np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_predict_on_real_test_images_agrees_with_net_predict(client, model_dir, mnist_arrays):
    net = load_model(model_dir / "model.npz")
    _, (x_test, t_test) = mnist_arrays
    for i in (0, 1, 2, 3, 4):
        answer = client.post("/api/predict", json={"pixels": x_test[i].tolist()}).json()
        scores = net.predict(x_test[i:i + 1])[0]
        np.testing.assert_allclose(answer["probabilities"], softmax(scores), rtol=1e-6,
                                   atol=1e-9)
        assert answer["predicted"] == int(np.argmax(scores)) == answer["target"]
        hidden = np.maximum(x_test[i] @ net.params["W1"] + net.params["b1"], 0)
        assert [h["layer"] for h in answer["hidden"]] == ["Relu1"]
        np.testing.assert_allclose(answer["hidden"][0]["values"], hidden, rtol=1e-5, atol=1e-6)
        assert len(answer["input_grad"]) == 784 and answer["shape"] == [28, 28]
    assert answer["class_names"] == [str(c) for c in range(10)]


def test_input_grad_is_the_numerical_gradient_of_the_loss(client, model_dir, mnist_arrays):
    net = load_model(model_dir / "model.npz").astype(np.float64)  # differences in float64
    _, (x_test, _) = mnist_arrays
    x = x_test[7].astype(np.float64)
    for label in (None, 3):
        body = {"pixels": x.tolist(), **({} if label is None else {"label": label})}
        answer = client.post("/api/predict", json=body).json()
        target = answer["target"]
        assert target == (label if label is not None else answer["predicted"])
        grad = np.array(answer["input_grad"])
        h = 1e-4

        def loss(v: np.ndarray, target: int = target) -> float:
            return net.lastLayer.forward(net.predict(v[None]), np.array([target]))

        biggest = np.argsort(-np.abs(grad))[:4]
        some = np.random.default_rng(0).choice(np.flatnonzero(grad), 4, replace=False)
        for i in (*biggest, *some):
            up, down = x.copy(), x.copy()
            up[i] += h
            down[i] -= h
            numerical = (loss(up) - loss(down)) / (2 * h)
            assert grad[i] == pytest.approx(numerical, rel=2e-3, abs=1e-7), i


def test_a_blank_canvas_is_a_valid_input(client):
    black = np.zeros((280, 280))
    for body in ({"image": png_url(black)}, {"pixels": [0] * 784}):
        answer = client.post("/api/predict", json=body)
        assert answer.status_code == 200, answer.text
        data = answer.json()
        assert sum(data["probabilities"]) == pytest.approx(1)
        assert data["input"] == [0.0] * 784
        assert data["blank"] is True and data["too_small"] is False
    assert data["ink_extent"] is None  # pixels are the input as it is: nothing was scaled


def test_a_dot_is_too_small_to_read_and_the_page_is_told(client):
    """A dot on the 280-pixel pad is blown up into a disc by the preprocessing; the answer
    says how much of the picture the ink spans and that it is too small to read."""
    from chainrule.data.preprocess import ink_extent, prepare_image

    yy, xx = np.mgrid[:280, :280]
    dot = np.where((yy - 140) ** 2 + (xx - 140) ** 2 <= 11 ** 2, 255, 0)
    data = client.post("/api/predict", json={"image": png_url(dot)}).json()
    assert data["blank"] is False and data["too_small"] is True
    assert data["ink_extent"] == pytest.approx(ink_extent(dot.astype(float))) == pytest.approx(
        23 / 280)
    np.testing.assert_allclose(data["input"], prepare_image(dot.astype(float)).reshape(-1),
                               atol=1e-12)  # the disc the network gets, as the page shows it
    bar = np.zeros((280, 280))
    bar[40:240, 130:150] = 255  # a "1" drawn the height of the pad
    data = client.post("/api/predict", json={"image": png_url(bar)}).json()
    assert data["too_small"] is False and data["ink_extent"] == pytest.approx(200 / 280)


def test_a_drawn_picture_is_centred_and_scaled_by_preprocess(client, mnist_arrays):
    from PIL import Image

    from chainrule.data.preprocess import prepare_image

    _, (x_test, t_test) = mnist_arrays
    digit = (x_test[0].reshape(28, 28) * 255).astype(np.uint8)
    # the digit small and off-centre on a big white page, dark ink: as a phone photo might be
    page = np.full((300, 260), 255, dtype=np.uint8)
    small = np.asarray(Image.fromarray(digit).resize((112, 112)))
    page[20:132, 120:232] = 255 - small
    answer = client.post("/api/predict", json={"image": png_url(page)}).json()
    expected = prepare_image(page.astype(np.float64), (28, 28)).reshape(-1)
    np.testing.assert_allclose(answer["input"], expected, atol=1e-12)
    assert answer["predicted"] == t_test[0] and answer["blank"] is False


def test_one_step_of_learning_moves_the_copy_not_the_model(client, model_dir, mnist_arrays):
    from chainrule.nn.probe import learn_step

    _, (x_test, _) = mnist_arrays
    x = x_test[11].tolist()
    on_disk = hashlib.sha256((model_dir / "model.npz").read_bytes()).hexdigest()
    before = client.post("/api/predict", json={"pixels": x}).json()
    wrong = (before["predicted"] + 1) % 10
    step = client.post("/api/learn", json={"pixels": x, "label": wrong, "lr": 0.5}).json()
    assert step["label"] == wrong and step["lr"] == 0.5
    np.testing.assert_allclose(step["before"]["probabilities"], before["probabilities"])
    assert step["after"]["probabilities"][wrong] > step["before"]["probabilities"][wrong]
    assert step["after"]["loss"] < step["before"]["loss"]
    y, t = np.array(step["y"]), np.array(step["t"])
    np.testing.assert_allclose(step["dout"], y - t, rtol=1e-6, atol=1e-9)  # (y - t) / N, N = 1
    assert [layer["layer"] for layer in step["layers"]] == [
        "Softmax-with-Loss", "Affine2", "Relu1", "Affine1", "input"]
    assert [len(layer["grad"]) for layer in step["layers"]] == [10, 10, 30, 30, 784]
    np.testing.assert_allclose(step["layers"][-1]["grad"], client.post(
        "/api/predict", json={"pixels": x, "label": wrong}).json()["input_grad"])
    expected = learn_step(load_model(model_dir / "model.npz"), x_test[11], wrong, 0.5, top=12)
    assert [(c["param"], tuple(c["index"])) for c in step["changes"]] == [
        (c.param, c.index) for c in expected.changes]
    first_w1 = next(c for c in step["changes"] if c["param"] == "W2")
    assert first_w1["to_class"] == first_w1["index"][1]
    # the model in use and the file on disk are unchanged
    assert client.post("/api/predict", json={"pixels": x}).json() == before
    assert hashlib.sha256((model_dir / "model.npz").read_bytes()).hexdigest() == on_disk


def test_sample_is_a_real_test_image(client, mnist_arrays):
    _, (x_test, t_test) = mnist_arrays
    s = client.get("/api/sample?index=3").json()
    assert s["label"] == t_test[3] and s["index"] == 3 and s["dataset"] == "mnist"
    np.testing.assert_array_equal(np.array(s["pixels"], dtype=np.float32), x_test[3])
    r = client.get("/api/sample").json()
    assert 0 <= r["index"] < 10000 and r["label"] == t_test[r["index"]]
    for bad in ("index=10000", "index=-1", "index=x", "n=3"):
        answer = client.get(f"/api/sample?{bad}")
        assert answer.status_code == 400 and "error" in answer.json()


def test_model_info_and_switching(client, model_dir):
    info = client.get("/api/model").json()
    assert info["status"] == "ready" and info["model"]["description"] == "TwoLayerNet 784-30-10"
    assert info["model"]["dataset"] == "mnist" and info["model"]["image_shape"] == [28, 28]
    assert info["model"]["source"] == "given" and info["model"]["iterations"] == 400
    assert client.post("/api/model", json={"run": "first"}).status_code == 200
    missing = client.post("/api/model", json={"run": "20990101-000000"})
    assert missing.status_code == 404 and "no run" in missing.json()["error"]


def test_the_page_is_one_of_the_labs_pages(client):
    """/net is a page of the shared app: listed, with the shared header, words and style."""
    pages = client.get("/api/pages").json()["pages"]
    assert pages[:2] == [
        {"id": "graph", "path": "/"}, {"id": "net", "path": "/net"}]  # then the chapters' pages
    assert {"id": "im2col", "path": "/im2col", "group": "ch7"} in pages
    assert {"id": "conv", "path": "/conv", "group": "ch7"} in pages
    page = client.get("/net")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<header class="chrome"></header>' in page.text
    assert '/static/common.css' in page.text
    assert '<script type="module" src="/static/net.js">' in page.text
    script = client.get("/static/net.js").text
    assert 'from "./chrome.js"' in script and 'from "./i18n.js"' in script
    for name in ("net.js", "net.css", "i18n/net.en.json", "i18n/net.ja.json",
                 "i18n/net.zh.json", "i18n/net.zh-Hant.json", "i18n/common.ja.json",
                 "i18n/messages.zh-Hant.json"):
        assert client.get(f"/static/{name}").status_code == 200


def test_translations_have_every_key():
    import json
    import re
    from pathlib import Path

    import chainrule.web.netlab as netlab

    folder = Path(netlab.__file__).parent / "static"

    def words(part: str, lang: str) -> dict:
        return json.loads((folder / "i18n" / f"{part}.{lang}.json").read_text(encoding="utf-8"))

    english = words("net", "en")
    used = set(re.findall(r'data-i18n="([\w.]+)"', (folder / "net.html").read_text()))
    for script in sorted(folder.glob("net*.js")):  # net.js and the modules it imports
        used |= set(re.findall(r'\bt\("([\w.]+)"', script.read_text()))
    assert used <= set(english) | set(words("common", "en")), used - set(english)
    assert not set(english) & set(words("common", "en"))  # the header's words live in common
    for lang in ("ja", "zh", "zh-Hant"):
        translated = words("net", lang)
        assert set(translated) == set(english), lang
        for key, text in english.items():
            assert set(re.findall(r"\{\w+\}", translated[key])) == set(
                re.findall(r"\{\w+\}", text)), (lang, key)


def test_the_lab_app_state_plugs_in(model_dir, tmp_path):
    """What the shared lab app hands the page: model, options, start and stop hooks."""
    from chainrule.web.kit import LabState
    from chainrule.web.netlab import PAGE, routes
    from chainrule.web.netlab_state import LabError

    state = LabState(model=model_dir, options={"runs_dir": tmp_path, "plots": False,
                                               "graph_option": 1})
    paths = {r.path for r in routes(state)}
    assert PAGE == {"id": "net", "path": "/net"} and "/net" in paths and "/api/predict" in paths
    lab = state.netlab
    assert lab.model.description == "TwoLayerNet 784-30-10" and lab.runs.root == tmp_path
    assert state.on_startup == [] and state.on_shutdown == [lab.close]
    routes(state)  # a second call reuses the same lab
    assert state.netlab is lab and len(state.on_shutdown) == 1
    eager = LabState(options={"train_first": True, "first_root": tmp_path / "first"})
    routes(eager)  # chainrule serve: the first network starts with the server
    assert eager.on_startup == [eager.netlab.start]
    with pytest.raises(LabError, match="no such run folder"):
        routes(LabState(model=tmp_path / "nothing"))


def test_requests_at_once_each_get_their_own_numbers(client, mnist_arrays):
    """The layers cache their inputs; concurrent requests must not mix them up."""
    from concurrent.futures import ThreadPoolExecutor

    _, (x_test, _) = mnist_arrays
    bodies = [{"pixels": x_test[i].tolist(), "label": i % 10} for i in range(24)]
    alone = [client.post("/api/predict", json=b).json() for b in bodies]
    learn = {"pixels": bodies[0]["pixels"], "label": 4}
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda b: client.post("/api/predict", json=b).json(),
                                 bodies))
        steps = list(pool.map(lambda _: client.post("/api/learn", json=learn).json(), range(6)))
    assert together == alone
    assert all(s == steps[0] for s in steps)


def test_unusable_models_are_refused_in_one_line(tmp_path):
    from chainrule import TwoLayerNet
    from chainrule.training.checkpoint import save_model
    from chainrule.web.netlab_state import LabError, load_lab_model

    save_model(tmp_path / "odd.npz", TwoLayerNet(10, 5, 3, seed=0))
    with pytest.raises(LabError, match="10 inputs are not a square image"):
        load_lab_model(tmp_path / "odd.npz")
    net = TwoLayerNet(784, 5, 10, seed=0)
    net.params["W2"][0, 0] = np.nan
    save_model(tmp_path / "nan.npz", net)
    with pytest.raises(LabError, match="NaN or infinite"):
        load_lab_model(tmp_path / "nan.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(LabError, match="not an .npz file"):
        load_lab_model(tmp_path / "junk.npz")


def test_a_step_among_training_images_is_the_batch_mean(client, model_dir, mnist_arrays):
    """The step on the digit among 99 random training images: the library's learn_step
    with those images (the batch's mean loss, as the book trains), the digit's (y - t)
    divided by N = 100; the answer names the images and says how the scores moved."""
    import math

    from chainrule.nn.probe import learn_step

    (x_train, t_train), (x_test, _) = mnist_arrays
    x = x_test[30]
    wrong = (client.post("/api/predict", json={"pixels": x.tolist()}).json()["predicted"] + 1) % 10
    # the lab draws the 99 images: fixed here, so that the test does not depend on the
    # draws of the tests before it (a step of lr 0.5 raises some batches' mean loss)
    client.netlab.rng = np.random.default_rng(0)
    body = {"pixels": x.tolist(), "label": wrong, "lr": 0.2}
    alone = client.post("/api/learn", json=body).json()
    batch = client.post("/api/learn", json={**body, "among": 99}).json()
    assert alone["n"] == 1 and alone["among"] is None and batch["n"] == 100
    idx = batch["among"]["indices"]
    assert len(set(idx)) == 99 and idx == sorted(idx) and 0 <= idx[0] and idx[-1] < 60000
    assert batch["among"]["labels"] == t_train[idx].tolist()
    np.testing.assert_allclose(batch["dout"], np.array(alone["dout"]) / 100, rtol=1e-5,
                               atol=1e-12)
    expected = learn_step(load_model(model_dir / "model.npz"), x, wrong, 0.2, top=12,
                          among=(x_train[idx], t_train[idx]))
    assert batch["batch_loss"]["before"] == pytest.approx(expected.batch_loss[0], rel=1e-9)
    assert batch["batch_loss"]["after"] == pytest.approx(expected.batch_loss[1], rel=1e-9)
    assert batch["batch_loss"]["after"] < batch["batch_loss"]["before"]
    np.testing.assert_allclose(batch["after"]["probabilities"], expected.after.probabilities)
    assert [(c["param"], tuple(c["index"])) for c in batch["changes"]] == [
        (c.param, c.index) for c in expected.changes]
    # a hundredth of the push: the digit's label gains less than alone
    gain = [a["after"]["probabilities"][wrong] - a["before"]["probabilities"][wrong]
            for a in (alone, batch)]
    assert 0 < gain[1] < gain[0]
    for answer in (alone, batch):
        s = answer["scores"]
        np.testing.assert_allclose(s["change"], np.array(s["after"]) - s["before"], rtol=1e-6,
                                   atol=1e-6)
        assert answer["rival"] != wrong and answer["rival"] == int(np.argmax(
            [p if c != wrong else -1 for c, p in enumerate(answer["y"])]))
        for when in ("before", "after"):
            loss = answer[when]["loss"]
            assert loss >= 0 and math.copysign(1, loss) == 1  # never -0.0
    # a huge step: the wrong label wins outright; the loss after is the small number it is
    big = client.post("/api/learn", json={**body, "lr": 20}).json()
    assert big["large"] is True and big["after"]["predicted"] == wrong
    assert 0 <= big["after"]["loss"] < 1e-3 and math.copysign(1, big["after"]["loss"]) == 1
    assert big["after"]["loss"] == pytest.approx(learn_step(
        load_model(model_dir / "model.npz"), x, wrong, 20).after.loss, rel=1e-9, abs=1e-300)


def test_the_model_and_its_runs_are_sent_as_fields_the_page_words(client):
    info = client.get("/api/model").json()["model"]
    assert info["architecture"] == {"class": "TwoLayerNet", "dropout": 0.0,
                                    "sizes": [784, 30, 10]}


def test_a_step_among_training_images_without_them_is_refused_in_one_line(tmp_path,
                                                                          monkeypatch):
    from lab_tools import assert_coded, lab_client

    from chainrule import TwoLayerNet
    from chainrule.training.checkpoint import save_model

    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    save_model(tmp_path / "model.npz", TwoLayerNet(784, 5, 10, seed=0))
    (tmp_path / "empty").mkdir()
    client = lab_client(net_lab_app(tmp_path / "model.npz", tmp_path,
                                    data_dir=tmp_path / "empty"))
    body = {"pixels": [0.5] * 784, "label": 3}
    assert client.post("/api/learn", json=body).status_code == 200  # alone: no data needed
    answer = client.post("/api/learn", json={**body, "among": 9})
    assert answer.status_code == 409 and answer.json()["code"] == "net.no_train_images"
    assert_coded(answer.json())
    assert answer.json()["params"]["dataset"] == "mnist"
