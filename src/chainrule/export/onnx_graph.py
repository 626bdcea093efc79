"""A chainrule network as an ONNX model: its inference graph, named, with its metadata.

The graph takes ``image`` (a dynamic batch ``N`` of the run's inputs: flat rows for the
fully connected networks, ``(N, C, H, W)`` for the convolutional ones, values in the
run's range) and gives ``logits`` (what ``net.predict`` returns) and ``probabilities``
(their softmax). Each layer becomes the node of the same name (:mod:`.plan` says what
each computes): ``Gemm`` with the book's ``(in, out)`` weights as they are, ``Conv``,
``MaxPool``, ``Relu``/``Sigmoid``/``Tanh``; the book's dropout is a ``Mul`` by
``1 - ratio`` (ONNX's ``Dropout`` is the identity at inference, as chainrule's inverted
one, which is exported as that); batch norm is ``BatchNormalization`` on the
flattened activations, so that each activation keeps its own statistics, with the
book's ``epsilon`` 1e-6 and ``momentum``.
"""

from __future__ import annotations

import os

import numpy as np

from chainrule.export.metadata import file_metadata
from chainrule.export.plan import ExportError, Step, inference_steps, need, output_size
from chainrule.store.files import atomic_open

OPSET = 17
"""The ONNX operator set the graphs use (ONNX 1.12, 2022: read by every current runtime)."""
IR_VERSION = 8
"""The file format version that goes with :data:`OPSET`."""
CHECK_TOLERANCE = 1e-4
"""The largest difference in probability :func:`to_onnx`'s own check lets through."""


def to_onnx(net, path: str | os.PathLike | None = None, *, meta=None, check: bool = True):
    """``net`` as an ``onnx.ModelProto`` (written to ``path`` atomically if given).

    ``meta``: what the run recorded (``dataset``, ``class_names``, ``image_shape``,
    ``input_range``; a model file's ``meta``) for the file's metadata. Weights and input
    are float32, whatever the network's dtype (what runtimes run: onnxruntime has no
    float64 ``Conv``). The model passes ``onnx.checker`` with shape inference; with
    ``check``, onnxruntime also runs it on a few inputs and its probabilities must be
    ``net.predict``'s (else :class:`ExportError`).
    """
    onnx = need("onnx", "ONNX export")
    steps = inference_steps(net)
    model = build_model(net, steps, meta)
    try:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        # a bug of this module, said in one line
        raise ExportError(f"the ONNX graph of {type(net).__name__} fails onnx.checker: "
                          f"{str(exc).splitlines()[0]}") from None
    if check:
        check_runtime(model, net, steps)
    if path is not None:
        with atomic_open(path, "wb") as f:
            f.write(model.SerializeToString())
    return model


def build_model(net, steps: list[Step], meta):
    """The float32 ``ModelProto`` of ``steps`` (unchecked, shapes not inferred)."""
    need("onnx", "ONNX export")
    from onnx import TensorProto, helper

    elem = TensorProto.FLOAT
    graph = _Graph(np.dtype(np.float32))
    x = "image"
    for i, step in enumerate(steps):
        x = _NODES[step.op](graph, step, x, "logits" if i == len(steps) - 1 else step.name)
    graph.nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1,
                                        name="Softmax"))
    n_out = output_size(steps)
    props = file_metadata(net, steps, meta)
    doc = (f"{props['network']}, exported by chainrule {props['chainrule.version']}. "
           f"image: {props['input_layout']}, {props['preprocessing']}. {props['outputs']}.")
    g = helper.make_graph(
        graph.nodes, type(net).__name__,
        [helper.make_tensor_value_info("image", elem, ["N", *steps[0].shape_in])],
        [helper.make_tensor_value_info("logits", elem, ["N", n_out]),
         helper.make_tensor_value_info("probabilities", elem, ["N", n_out])],
        graph.initializers, doc_string=doc)
    model = helper.make_model(g, producer_name="chainrule",
                              producer_version=props["chainrule.version"],
                              opset_imports=[helper.make_opsetid("", OPSET)],
                              doc_string=doc)
    model.ir_version = IR_VERSION
    helper.set_model_props(model, props)
    return model


def check_runtime(model, net, steps: list[Step]) -> None:
    """onnxruntime's probabilities for a few inputs (zeros, random values in [0, 1]) equal
    ``softmax(net.predict(x))`` within :data:`CHECK_TOLERANCE`; else :class:`ExportError`."""
    ort = need("onnxruntime", "checking an ONNX export")
    from chainrule.core.functions import softmax

    rng = np.random.default_rng(0)
    x = rng.random((4, *steps[0].shape_in))
    x[0] = 0
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    theirs = session.run(["probabilities"], {"image": x.astype(np.float32)})[0]
    ours = softmax(np.asarray(net.predict(x.astype(net.dtype)), dtype=np.float64))
    worst = float(np.max(np.abs(theirs - ours)))
    if not worst <= CHECK_TOLERANCE:
        raise ExportError(f"the ONNX graph of {type(net).__name__} does not compute what its "
                          f"predict does (probabilities differ by {worst:.3g}): not exported")


# ---------------------------------------------------------------- the nodes


class _Graph:
    """Nodes and initializers as they are made; arrays stored in ``dtype``."""

    def __init__(self, dtype: np.dtype):
        self.dtype, self.nodes, self.initializers = dtype, [], []

    def constant(self, name: str, value) -> str:
        from onnx import numpy_helper

        array = np.array(value, dtype=self.dtype, order="C")  # 0-d stays 0-d
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def ints(self, name: str, value) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.asarray(value, np.int64), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, name: str, doc: str = "",
             **attrs) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [output], name=name, doc_string=doc,
                                           **attrs))
        return output


def _array(graph: _Graph, step: Step, role: str) -> str:
    """An initializer for the step's array ``role``, named as the network names it."""
    return graph.constant(step.names.get(role) or f"{step.name}.{role}", step.arrays[role])


def _linear(graph: _Graph, step: Step, x: str, out: str) -> str:
    return graph.node("Gemm", [x, _array(graph, step, "weight"), _array(graph, step, "bias")],
                      out, step.name, "Affine: x @ W + b, W of shape (in, out) as the book's")


def _conv(graph: _Graph, step: Step, x: str, out: str) -> str:
    p, s = step.attrs["pad"], step.attrs["stride"]
    return graph.node("Conv", [x, _array(graph, step, "weight"), _array(graph, step, "bias")],
                      out, step.name, "Convolution (cross-correlation, as the book's)",
                      kernel_shape=list(step.attrs["kernel"]), strides=[s, s], pads=[p] * 4)


def _maxpool(graph: _Graph, step: Step, x: str, out: str) -> str:
    p, s = step.attrs["pad"], step.attrs["stride"]
    return graph.node("MaxPool", [x], out, step.name, "Pooling (max)",
                      kernel_shape=list(step.attrs["kernel"]), strides=[s, s], pads=[p] * 4)


def _activation(op: str):
    def make(graph: _Graph, step: Step, x: str, out: str) -> str:
        return graph.node(op, [x], out, step.name)
    return make


def _flatten(graph: _Graph, step: Step, x: str, out: str, name: str | None = None) -> str:
    return graph.node("Flatten", [x], out, name or step.name, "(N, C, H, W) to (N, C*H*W)",
                      axis=1)


def _dropout(graph: _Graph, step: Step, x: str, out: str) -> str:
    ratio = step.attrs["ratio"]
    if step.attrs["inverted"]:
        return graph.node("Dropout", [x, graph.constant(f"{step.name}.ratio", ratio)], out,
                          step.name, f"inverted dropout, ratio {ratio:g}: the identity at "
                          "inference (scaled by 1 / (1 - ratio) in training)")
    keep = graph.constant(f"{step.name}.keep", 1.0 - ratio)
    return graph.node("Mul", [x, keep], out, step.name,
                      f"the book's Dropout at test time: x * (1 - {ratio:g}) (in training it "
                      "drops units without scaling)")


def _batchnorm(graph: _Graph, step: Step, x: str, out: str) -> str:
    shape = step.shape_in
    flat = x if len(shape) == 1 else _flatten(graph, step, x, f"{step.name}.flat",
                                                         f"{step.name}_flatten")
    inputs = [flat] + [_array(graph, step, r) for r in ("weight", "bias", "mean", "var")]
    eps, m = step.attrs["eps"], step.attrs["momentum"]
    y = graph.node("BatchNormalization", inputs, out if len(shape) == 1 else f"{step.name}.norm",
                   step.name, f"the book's batch norm (eval): per activation, "
                   f"(x - running_mean) / sqrt(running_var + {eps:g}) * gamma + beta",
                   epsilon=eps, momentum=m)
    if len(shape) == 1:
        return y
    return graph.node("Reshape", [y, graph.ints(f"{step.name}.shape", [-1, *shape])], out,
                      f"{step.name}_reshape")


_NODES = {"linear": _linear, "conv": _conv, "maxpool": _maxpool, "relu": _activation("Relu"),
          "sigmoid": _activation("Sigmoid"), "tanh": _activation("Tanh"),
          "flatten": _flatten, "dropout": _dropout, "batchnorm": _batchnorm}
