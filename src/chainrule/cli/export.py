"""``chainrule export``: a trained network as ONNX, or as PyTorch weights with their module."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from chainrule.cli import CLIError, printable
from chainrule.cli._model import open_model
from chainrule.export.plan import ExportError, MissingExtra
from chainrule.nn.network import buffers_of

FORMATS = {"onnx": ".onnx", "torch": ".safetensors"}
"""The formats, and the ending of the file each writes by default."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a trained network as ONNX, or as PyTorch weights and module",
        description="Write the network of a run folder or model file for other tools. "
        "onnx: its inference graph (input 'image' as the run's inputs, outputs 'logits' "
        "and 'probabilities', any batch size, the dataset, classes and preprocessing in "
        "its metadata), checked with onnx.checker and run by onnxruntime against "
        "chainrule's own predictions. torch: the weights as .safetensors and, beside "
        "them, NAME.py, a PyTorch module that loads them (from NAME import load); read "
        "back into chainrule to check that every parameter comes back bit for bit. "
        "Needs pip install 'chainrule[export]'.",
    )
    p.add_argument("target", metavar="RUN_DIR_OR_MODEL", help="a run folder or a model.npz")
    p.add_argument("--format", metavar="FORMAT",
                   help="onnx or torch (default: from OUT's ending, .onnx or .safetensors; "
                   "else onnx)")
    p.add_argument("-o", "--out", metavar="OUT",
                   help="the file to write (default: model.onnx or model.safetensors beside "
                   "the model)")
    p.set_defaults(func=run)


def _format(args: argparse.Namespace) -> str:
    fmt = args.format
    if fmt is None:
        ending = Path(args.out).suffix.lower() if args.out else ""
        fmt = next((f for f, e in FORMATS.items() if e == ending), "onnx")
    if fmt not in FORMATS:
        raise CLIError(f"unknown format {fmt!r}: choose onnx or torch")
    return fmt


def _writable(path: Path) -> None:
    """A file can be made at ``path``: its folder exists, and it is not a folder itself."""
    if path.is_dir():
        raise CLIError(f"cannot write {path}: it is a folder")
    if path.parent.exists() and not path.parent.is_dir():
        raise CLIError(f"cannot write {path}: {str(path.parent)!r} is not a folder")
    if not path.parent.is_dir():
        raise CLIError(f"cannot write {path}: the folder {str(path.parent)!r} does not exist")


def run(args: argparse.Namespace) -> int:
    fmt = _format(args)
    model, saved = open_model(args.target)
    out = Path(args.out) if args.out else model.path.with_name("model" + FORMATS[fmt])
    _writable(out)
    if out.resolve() == model.path.resolve():
        raise CLIError(f"cannot write {out}: it is the model being exported")
    if fmt == "torch":
        _writable(out.with_suffix(".py"))
    meta = dict(model.meta)
    if saved and isinstance(saved.get("dataset"), str):
        meta.setdefault("dataset", saved["dataset"])
    try:
        lines = _onnx(model.net, out, meta) if fmt == "onnx" else _torch(model.net, out, meta)
    except (ExportError, MissingExtra) as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"cannot write {out}: {exc.strerror or exc}") from None
    for line in [_describe(model), *lines]:
        print(printable(line))
    return 0


def _describe(model) -> str:
    from chainrule.nn.describe import describe_net

    return f"{describe_net(model.config)} from {model.path}"


def _onnx(net, out: Path, meta: dict) -> list[str]:
    from chainrule.export.onnx_graph import CHECK_TOLERANCE, OPSET, to_onnx

    onnx_model = to_onnx(net, out, meta=meta)
    graph = onnx_model.graph
    shape = ["N" if d.dim_param else str(d.dim_value)
             for d in graph.input[0].type.tensor_type.shape.dim]
    n_out = graph.output[0].type.tensor_type.shape.dim[1].dim_value
    return [f"wrote {out} (ONNX, opset {OPSET}, {_size(out)}): input 'image' "
            f"({', '.join(shape)}) float32, outputs 'logits' and 'probabilities' (N, {n_out})",
            f"checked: onnx.checker passes; onnxruntime's probabilities are chainrule's "
            f"within {CHECK_TOLERANCE:g}"]


def _torch(net, out: Path, meta: dict) -> list[str]:
    from chainrule.export.torch_io import from_torch, save_torch

    weights, code = save_torch(net, out, meta=meta)
    back = from_torch(weights)
    for k, p in {**net.params, **buffers_of(net)}.items():
        theirs = {**back.params, **buffers_of(back)}[k]
        if theirs.dtype != p.dtype or not np.array_equal(theirs, p):
            raise ExportError(f"{weights}: {k} does not come back as written")
    use = f"from {code.stem} import load" if code.stem.isidentifier() else "runpy.run_path"
    return [f"wrote {weights} (the weights, safetensors, {_size(weights)}) and {code} (the "
            f"PyTorch module that loads them: {use})",
            "checked: read back, every parameter and buffer is the network's, bit for bit"]


def _size(path: Path) -> str:
    n = path.stat().st_size
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"
