"""ONNX export of every kind of network: the checker passes, and onnxruntime's
probabilities on 1000 real MNIST test images are chainrule's (within 1e-5, the same
classes), for networks trained on MNIST (float32) and with random weights (float64)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from extras import need
from zoo import KINDS, network

from chainrule.export import to_onnx

onnx = need("onnx")
ort = need("onnxruntime")


def run(model, inputs: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    logits, p = session.run(["logits", "probabilities"], {"image": inputs.astype(np.float32)})
    return {"logits": logits, "probabilities": p}


@pytest.mark.parametrize("trained", [True, False], ids=["trained", "random-float64"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_onnxruntime_gives_chainrules_probabilities(kind, trained, real_data_root, tmp_path):
    net, inputs, ours, _ = network(kind, trained, real_data_root)
    path = tmp_path / "net.onnx"
    to_onnx(net, path)
    model = onnx.load(str(path))  # what was written, read back
    onnx.checker.check_model(model, full_check=True)
    theirs = run(model, inputs)["probabilities"]
    assert theirs.dtype == np.float32 and theirs.shape == (1000, 10)
    assert np.max(np.abs(theirs - ours)) <= 1e-5
    np.testing.assert_array_equal(theirs.argmax(axis=1), ours.argmax(axis=1))


def test_graph_names_batch_and_metadata(real_data_root):
    net, inputs, _, _ = network("simple-conv", True, real_data_root)
    meta = {"dataset": "mnist", "class_names": [str(c) for c in range(10)],
            "image_shape": [28, 28], "input_range": [0.0, 1.0]}
    model = to_onnx(net, meta=meta)
    graph = model.graph
    assert [i.name for i in graph.input] == ["image"]
    assert [o.name for o in graph.output] == ["logits", "probabilities"]
    dims = graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == [1, 28, 28]
    assert [n.name for n in graph.node] == ["Conv1", "Relu1", "Pool1", "Affine1_flatten",
                                           "Affine1", "Relu2", "Affine2", "Softmax"]
    props = {p.key: p.value for p in model.metadata_props}
    assert props["dataset"] == "mnist"
    assert json.loads(props["class_names"]) == meta["class_names"]
    assert json.loads(props["input_range"]) == [0.0, 1.0]
    assert "divided by 255" in props["preprocessing"]
    assert json.loads(props["chainrule.config"]) == net.config()
    # any batch size: 1, 7, and 0 images
    full = run(model, inputs[:7])
    one = run(model, inputs[3:4])
    np.testing.assert_allclose(one["logits"], full["logits"][3:4], rtol=1e-6, atol=1e-6)
    assert run(model, inputs[:0])["probabilities"].shape == (0, 10)
    # logits are chainrule's predict: softmax of them is the other output
    logits = net.predict(inputs[:7])
    np.testing.assert_allclose(full["logits"], logits, rtol=1e-5, atol=1e-5)


def test_the_books_meaning_is_in_the_graph(real_data_root):
    """Batch norm as ONNX's on flattened activations (its epsilon 1e-6), the book's dropout a
    Mul by 1 - ratio, the inverted one ONNX's Dropout (the identity at inference), and the
    book's (in, out) weights kept as they are in Gemm."""
    book, *_ = network("extend-batchnorm-book-dropout", False, real_data_root)
    inverted, *_ = network("tanh-batchnorm-inverted-dropout", False, real_data_root)
    model = to_onnx(book)
    nodes = {n.name: n for n in model.graph.node}
    assert nodes["BatchNorm1"].op_type == "BatchNormalization"
    attrs = {a.name: a.f for a in nodes["BatchNorm1"].attribute}
    assert attrs["epsilon"] == pytest.approx(1e-6) and attrs["momentum"] == pytest.approx(0.9)
    keep = {i.name: i for i in model.graph.initializer}["Dropout1.keep"]
    assert nodes["Dropout1"].op_type == "Mul"
    assert onnx.numpy_helper.to_array(keep) == np.float32(0.8)
    w1 = onnx.numpy_helper.to_array({i.name: i for i in model.graph.initializer}["W1"])
    np.testing.assert_array_equal(w1, book.params["W1"].astype(np.float32))
    assert nodes["Affine1"].op_type == "Gemm" and not nodes["Affine1"].attribute  # no transB
    assert {n.name: n.op_type for n in to_onnx(inverted).graph.node}["Dropout1"] == "Dropout"
