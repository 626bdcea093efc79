"""The im2col page's and the convnet lab's APIs: every number is the library's
(chainrule.core.conv_steps, chainrule.nn.conv_probe, a live run's filters), the convnet
lab picks its network as the README says, and its runs are the lab's runs."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("starlette")
from lab_tools import lab_client, net_lab_app  # noqa: E402

from chainrule.core.conv_steps import col2im_upto, conv_steps  # noqa: E402
from chainrule.nn.conv_probe import conv_probe  # noqa: E402
from chainrule.nn.convnets import SimpleConvNet  # noqa: E402
from chainrule.training.checkpoint import load_model, save_model  # noqa: E402
from chainrule.training.config import TrainConfig  # noqa: E402

DIGITS = {"dataset": "digits", "image_shape": [8, 8], "class_names": [str(c) for c in range(10)]}


def saved_convnet(folder, seed=0):
    net = SimpleConvNet((1, 8, 8), hidden_size=10, weight_init_std=0.3, dtype=np.float32,
                        seed=seed)
    save_model(folder / "model.npz", net, meta=DIGITS)
    return folder / "model.npz"


@pytest.fixture(scope="module")
def conv_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("conv-api")
    return net_lab_app(saved_convnet(tmp), tmp)


# ---------------------------------------------------------------- the im2col page


def test_im2col_starts_with_a_4x4_input_and_a_2x2_filter(conv_app):
    with lab_client(conv_app) as client:
        a = client.post("/api/im2col", json={}).json()
    s = a["sizes"]
    assert (s["h"], s["w"], s["fh"], s["fw"], s["stride"], s["pad"], s["rows"], s["cols"]) == \
        (4, 4, 2, 2, 1, 0, 9, 4)
    assert a["coverage"] == [[[[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]]]]
    assert a["counts"] == a["coverage"] and a["upto"] == 9  # by default: every row added
    steps = conv_steps(a["x"], a["W"], a["b"], a["dout"])
    assert a["col"] == steps.col.tolist() and a["product"] == steps.product.tolist()
    assert a["dcol"] == steps.dcol.tolist() and a["dx"] == steps.dx.tolist()
    assert a["windows"][4] == [0, 1, 1, 1, 1] and a["columns"] == [[0, 0, 0], [0, 0, 1],
                                                                     [0, 1, 0], [0, 1, 1]]
    assert all(c["agree"] for c in a["checks"].values()) and set(a["checks"]) == {
        "forward", "layer", "numerical"}
    assert all(float(v).is_integer() and 0 <= v < 10 for v in np.ravel(a["x"]))  # readable


def test_im2col_takes_the_learners_numbers_and_steps_col2im(conv_app):
    rng = np.random.default_rng(5)
    x, W = rng.normal(size=(2, 3, 5, 6)).round(2), rng.normal(size=(2, 3, 3, 2)).round(2)
    dout = rng.normal(size=(2, 2, 3, 4)).round(2)  # OH = (5 + 2 - 3) // 2 + 1, OW = 4
    body = {"n": 2, "c": 3, "h": 5, "w": 6, "fn": 2, "fh": 3, "fw": 2, "stride": 2, "pad": 1,
            "x": x.tolist(), "W": W.tolist(), "b": [0.5, -1], "dout": dout.tolist()}
    with lab_client(conv_app) as client:
        for upto in (0, 1, 7, 24):
            a = client.post("/api/im2col", json={**body, "upto": upto, "check": upto == 24}).json()
            sums, counts = col2im_upto(np.array(a["dcol"]), x.shape, 3, 2, 2, 1, upto)
            assert a["sums"] == sums.tolist() and a["counts"] == counts.tolist()
        assert a["x"] == x.tolist() and a["sizes"]["rows"] == 2 * 3 * 4
        assert a["checks"]["numerical"]["agree"] and a["dx_numerical"] is not None
        a = client.post("/api/im2col", json={**body, "check": False}).json()
        assert a["dx_numerical"] is None and "numerical" not in a["checks"]
        one = client.post("/api/im2col", json={"seed": 7}).json()
        assert one["x"] == client.post("/api/im2col", json={"seed": 7}).json()["x"]
        edited = client.post("/api/im2col", json={"seed": 7, "x": [[[[9] * 4] * 4]]}).json()
        assert edited["W"] == one["W"] and edited["dout"] == one["dout"]  # the rest as drawn
        bad = client.post("/api/im2col", json={"h": 4, "pad": 0, "fh": 5})
        assert bad.status_code == 400 and bad.json()["code"] == "net.whole_number"
        assert bad.json()["field"] == "fh" and bad.json()["params"]["max"] == 4
        bad = client.post("/api/im2col", json={"x": [[[[1, 2]]]]}).json()
        assert bad["code"] == "im2col.shape" and bad["params"]["shape"] == "1×1×4×4"


# ---------------------------------------------------------------- the convnet lab


def test_probe_sends_the_libraries_maps(conv_app, tmp_path):
    x = np.random.default_rng(1).random(64)
    with lab_client(conv_app) as client:
        info = client.get("/api/conv/model").json()
        assert info["status"] == "ready" and info["model"]["source"] == "given"
        a = client.post("/api/conv/probe", json={"pixels": x.tolist(), "label": 2}).json()
    net = load_model(conv_app.state.lab.netlab.first.path)
    p = conv_probe(net, x, 2)
    assert a["target"] == 2 and a["map_shape"] == [4, 4] and a["pooled_shape"] == [2, 2]
    assert a["filter_shape"] == [1, 5, 5] and a["pool"] == [2, 2, 2]
    for key in ("filters", "conv", "relu", "pooled", "grad_pooled", "grad_relu", "grad_conv"):
        mine = np.array(a[key])
        theirs = getattr(p, key).reshape(len(mine), -1)
        top = np.abs(theirs).max(axis=1, keepdims=True)
        assert np.all(np.abs(mine - theirs) <= 1e-4 * top + 1e-30), key  # 5 digits of each map
    assert a["pool_arg"] == p.pool_arg.reshape(30, -1).tolist()
    assert a["order"] == np.argsort(-p.response, kind="stable").tolist()
    np.testing.assert_allclose(a["input_grad"], p.input_grad.ravel(),
                               atol=1e-4 * np.abs(p.input_grad).max())


def test_the_page_trains_a_convnet_and_sends_its_filters(conv_app):
    lab = conv_app.state.lab.convlab
    with lab_client(conv_app) as client:
        answer = client.post("/api/conv/train", json={"dataset": "digits", "iters": 40,
                                                     "eval_every": 20})
        assert answer.status_code == 200, answer.text
        run = lab.runs.get(answer.json()["run"])
        busy = client.post("/api/conv/train", json={"dataset": "digits", "iters": 40})
        assert busy.status_code == 409 and busy.json()["code"] == "live.busy"
        assert busy.json()["running"] == run.id
        assert run.join(60) and run.status == "completed"
        snaps = [e for e in run.events if e["type"] == "snapshot"]
        assert [e["iteration"] for e in snaps] == [0, 10, 20, 30, 40]
        assert len(snaps[0]["filters"]) == 30 and snaps[0]["filter_shape"] == [1, 5, 5]
        final = load_model(run.path / "model.npz").params["W1"].reshape(30, -1)
        np.testing.assert_allclose(snaps[-1]["filters"], final,
                                   atol=1e-4 * np.abs(final).max())
        assert run.config.network == "simple-conv" and (run.path / "metrics.csv").is_file()
        used = client.post("/api/conv/model", json={"run": run.id}).json()
        assert used["model"]["source"] == "run" and used["model"]["id"] == run.id
        assert client.post("/api/conv/probe", json={"pixels": [0.5] * 64}).status_code == 200
        back = client.post("/api/conv/model", json={"run": "first"}).json()
        assert back["model"]["source"] == "given"


def test_the_convnet_lab_refuses_what_it_cannot_look_into(tmp_path):
    from chainrule import TwoLayerNet

    net = TwoLayerNet(64, 10, 10, dtype=np.float32, seed=0)
    save_model(tmp_path / "mlp.npz", net, meta=DIGITS)
    app = net_lab_app(tmp_path / "mlp.npz", tmp_path, conv_first_iters={"mnist": 20,
                                                                       "digits": 20})
    lab = app.state.lab.netlab
    with lab_client(app) as client:
        mlp = lab.runs.start(TrainConfig(dataset="digits", hidden=5, iters=30000),
                             tmp_path / "mlp-run", plots=False)
        info = client.get("/api/conv/model").json()  # another run trains: the first waits
        assert info["status"] == "waiting" and info["message_code"] == "conv.waiting"
        assert client.post("/api/conv/probe", json={"pixels": [0] * 64}).json()["code"] == \
            "conv.waiting"
        mlp.stop()
        assert mlp.join(30)
        refused = client.post("/api/conv/model", json={"run": mlp.id})
        assert refused.status_code == 409 and refused.json()["code"] == "conv.not_conv"
        info = client.get("/api/conv/model").json()  # now it trains
        assert info["status"] in ("training", "ready")
        deadline = time.monotonic() + 90
        while client.get("/api/conv/model").json()["status"] != "ready":
            assert time.monotonic() < deadline, "the first SimpleConvNet did not finish"
            time.sleep(0.2)
        info = client.get("/api/conv/model").json()
        assert info["model"]["source"] == "first" and "SimpleConvNet" in info["model"]["description"]
    kept = [p.name for p in (tmp_path / "first").iterdir()]
    assert len(kept) == 1 and kept[0].startswith("conv-")  # kept for the next start
    again = net_lab_app(tmp_path / "mlp.npz", tmp_path)
    with lab_client(again) as client:
        assert client.get("/api/conv/model").json()["status"] == "ready"  # no training


def test_the_network_labs_first_network_trains_first(tmp_path):
    """Without --model both labs train a first network, one run at a time: opening the
    convnet lab first starts the network lab's (refused, that one would not be tried
    again), and the convnet lab's waits for it, then trains."""
    app = net_lab_app(None, tmp_path, first_iters={"mnist": 30, "digits": 30},
                      conv_first_iters={"mnist": 20, "digits": 20})
    with lab_client(app) as client:
        info = client.get("/api/conv/model").json()
        assert info["status"] == "waiting" and info["message_code"] == "conv.waiting"
        assert client.get("/api/model").json()["status"] in ("training", "ready")
        deadline = time.monotonic() + 240
        while client.get("/api/conv/model").json()["status"] != "ready":
            assert time.monotonic() < deadline, "the first SimpleConvNet did not come"
            time.sleep(0.2)
        assert client.get("/api/model").json()["status"] == "ready"
        assert "SimpleConvNet" in client.get("/api/conv/model").json()["model"]["description"]


def test_a_training_form_is_bounded(conv_app):
    """The network lab's limits, the evaluations counted also when they are left at once
    per epoch (20000 steps of the 8x8 digits would be 1400 evaluations)."""
    with lab_client(conv_app) as client:
        for body, code in (({"dataset": "digits", "iters": 20000}, "net.too_many_evals"),
                           ({"iters": 50000, "batch_size": 1000, "eval_every": 1000}, "net.too_big"),
                           ({"iters": 10, "epochs": 1}, "net.iters_or_epochs"),
                           ({"hidden": 50}, "net.unknown_option")):
            answer = client.post("/api/conv/train", json=body)
            assert answer.status_code == 400 and answer.json()["code"] == code, body
        assert conv_app.state.lab.netlab.runs.active() is None
