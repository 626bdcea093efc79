"""A chainrule network in PyTorch and back: :func:`to_torch`, :func:`save_torch`,
:func:`from_torch`.

Each layer becomes the PyTorch module of the same name (:mod:`.plan` says what each
computes): ``nn.Linear`` holding ``W.T`` (PyTorch's weight is ``(out, in)``, the book's
``(in, out)``), ``nn.Conv2d``, ``nn.MaxPool2d``, ``nn.ReLU``/``nn.Sigmoid``/``nn.Tanh``,
``nn.Flatten`` before an ``Affine`` that takes images, ``nn.Dropout`` for chainrule's
inverted dropout, and :class:`~.torch_layers.BookDropout` and
:class:`~.torch_layers.BookBatchNorm` for the book's dropout and batch norm, which
PyTorch's do not compute. The module keeps the network's dtype, so the way back gives
the same bits.

:func:`save_torch` writes the weights as ``.safetensors`` (named as ``state_dict()``
names them; the architecture and the run's metadata in its header) and, beside them, a
module definition that needs torch and safetensors only. Neither direction pickles,
and reading a file runs none of its contents.
"""

from __future__ import annotations

import json
import os
import pprint
from collections import OrderedDict
from importlib import resources
from pathlib import Path

import numpy as np

from chainrule.export.metadata import file_metadata
from chainrule.export.plan import ExportError, Step, inference_steps, need
from chainrule.nn.network import buffers_of
from chainrule.nn.registry import net_class
from chainrule.store.files import atomic_open, loads_json
from chainrule.store.npz import LIMITS

FORMAT = "chainrule.torch/1"
"""What the ``chainrule`` entry of a module and of a weights file says it is."""

_ATTRS = {"linear": {"weight": ("weight", True), "bias": ("bias", False)},
          "conv": {"weight": ("weight", False), "bias": ("bias", False)},
          "batchnorm": {"weight": ("weight", False), "bias": ("bias", False),
                        "mean": ("running_mean", False), "var": ("running_var", False)}}
"""For each step with arrays: its roles' PyTorch attribute and whether it is transposed."""


# ---------------------------------------------------------------- what the module holds


def module_specs(steps: list[Step]) -> list[tuple[str, str, tuple, dict]]:
    """``(layer name, class, args, kwargs)`` of each PyTorch module, in order; a class
    ``nn.X`` is PyTorch's, any other one of :mod:`.torch_layers`."""
    specs = []
    for s in steps:
        a = s.attrs
        if s.op == "linear":
            spec = ("nn.Linear", (s.shape_in[0], s.shape_out[0]), {})
        elif s.op == "conv":
            spec = ("nn.Conv2d", (s.shape_in[0], s.shape_out[0], tuple(a["kernel"])),
                    {"stride": a["stride"], "padding": a["pad"]})
        elif s.op == "maxpool":
            if 2 * a["pad"] > min(a["kernel"]):
                raise ExportError(f"cannot export layer {s.name!r} (Pooling) to PyTorch: "
                                  "MaxPool2d pads by at most half its window")
            spec = ("nn.MaxPool2d", (tuple(a["kernel"]),),
                    {"stride": a["stride"], "padding": a["pad"]})
        elif s.op == "dropout":
            spec = ("nn.Dropout", (a["ratio"],), {}) if a["inverted"] else \
                ("BookDropout", (a["ratio"],), {})
        elif s.op == "batchnorm":
            spec = ("BookBatchNorm", (int(np.prod(s.shape_in)),),
                    {"eps": a["eps"], "momentum": a["momentum"]})
        else:
            spec = ({"relu": "nn.ReLU", "sigmoid": "nn.Sigmoid", "tanh": "nn.Tanh",
                     "flatten": "nn.Flatten"}[s.op], (), {})
        specs.append((s.name, *spec))
    return specs


def array_entries(net, steps: list[Step]) -> list[dict]:
    """Where each of the network's arrays is in the module's ``state_dict``: ``name``
    (``W1``), ``key`` (``layers.Affine1.weight``), ``transpose``, ``buffer``."""
    entries = []
    for s in steps:
        for role, (attr, transpose) in _ATTRS.get(s.op, {}).items():
            name = s.names.get(role)
            if name is None:
                raise ExportError(f"cannot export layer {s.name!r} to PyTorch: its {role} is "
                                  f"not one of {type(net).__name__}'s params or buffers")
            entries.append({"name": name, "key": f"layers.{s.name}.{attr}",
                            "transpose": transpose, "buffer": name not in net.params})
    return entries


def _described(net, meta=None) -> tuple[list[Step], dict, dict[str, np.ndarray]]:
    """The steps, the ``chainrule`` entry and the ``state_dict`` arrays of ``net``."""
    config = getattr(net, "config", None)
    if not callable(config):
        raise ExportError(f"cannot export {type(net).__name__} to PyTorch: it has no "
                          "config() to rebuild it from")
    steps = inference_steps(net)
    entries = array_entries(net, steps)
    arrays = {**net.params, **buffers_of(net)}
    state = {e["key"]: np.array(arrays[e["name"]].T if e["transpose"] else arrays[e["name"]],
                                order="C") for e in entries}
    about = file_metadata(net, steps, meta)
    about.pop("chainrule.config", None)  # the config is a field of its own here
    try:  # the run's own metadata, as a model file holds it (what from_torch gives back)
        run_meta = json.loads(json.dumps(dict(meta or {})))
    except (TypeError, ValueError) as exc:
        raise ExportError(f"the metadata must be JSON: {exc}") from None
    info = {"format": FORMAT, "config": net.config(), "arrays": entries, "meta": run_meta,
            "about": about}
    return steps, info, state


# ---------------------------------------------------------------- to PyTorch


def to_torch(net, *, meta=None):
    """``net`` as a :class:`~.torch_layers.ChainruleNet` in eval mode: the same logits
    from ``forward`` (and probabilities from ``probabilities``), in ``net``'s dtype."""
    torch = need("torch", "PyTorch export")
    from chainrule.export import torch_layers

    steps, info, state = _described(net, meta)
    layers = OrderedDict()
    for name, cls, args, kwargs in module_specs(steps):
        maker = getattr(torch.nn, cls[3:]) if cls.startswith("nn.") else \
            getattr(torch_layers, cls)
        layers[name] = maker(*args, **kwargs)
    module = torch_layers.ChainruleNet(layers, info).to(_torch_dtype(torch, net.dtype))
    module.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    return module.eval()


def _torch_dtype(torch, dtype):
    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[
        np.dtype(dtype)]


def save_torch(net, path: str | os.PathLike, *, meta=None) -> tuple[Path, Path]:
    """Write ``net``'s weights to ``path`` (``.safetensors``) and the module definition
    that loads them beside it (the same name ending in ``.py``), each atomically;
    returns both paths. Needs safetensors, not torch."""
    st = need("safetensors.numpy", "PyTorch export")
    path = Path(path)
    code = path.with_suffix(".py")
    if code == path:
        raise ExportError(f"{path}: the weights file cannot end in .py (the module "
                          "definition goes beside it as NAME.py)")
    steps, info, state = _described(net, meta)
    blob = st.save(state, metadata={"format": FORMAT, "chainrule": json.dumps(info)})
    text = module_source(steps, info, path.name, code.stem)
    with atomic_open(code, "w") as f, atomic_open(path, "wb") as g:
        f.write(text)
        g.write(blob)
    return path, code


def module_source(steps: list[Step], info: dict, weights: str, module: str) -> str:
    """The module definition :func:`save_torch` writes: :mod:`.torch_layers` (its code,
    not its docstring), the network's layers, ``build()`` and ``load()``."""
    layers = resources.files("chainrule.export").joinpath("torch_layers.py").read_text("utf-8")
    layers = layers[layers.index("from collections import OrderedDict"):]
    lines = []
    for name, cls, args, kwargs in module_specs(steps):
        params = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        lines.append(f"        ({name!r}, {cls}({', '.join(params)})),")
    meta = info["about"]
    use = (f"from {module} import load" if module.isidentifier() else
           f"load = runpy.run_path({module + '.py'!r})['load']")
    dtype = "float64" if _dtype_of(steps) == np.float64 else "float32"
    return _TEMPLATE.format(
        network=meta["network"], version=meta["chainrule.version"], weights=weights,
        use=use, layout=meta["input_layout"], preprocessing=meta["preprocessing"],
        layers=layers, info=pprint.pformat(info, width=96, sort_dicts=False),
        modules="\n".join(lines), dtype=dtype)


def _dtype_of(steps: list[Step]) -> np.dtype:
    return next(a.dtype for s in steps for a in s.arrays.values())


_TEMPLATE = '''"""A PyTorch module for the weights in {weights}, exported by chainrule {version}:
{network}.

    {use}
    model = load()                      # the weights in {weights}, beside this file
    probabilities = model.probabilities(images)
    # images: {layout};
    # {preprocessing}

Needs torch and safetensors (not chainrule). {weights} holds model.state_dict();
chainrule.export.from_torch(model) or from_torch("{weights}") gives the chainrule
network back.
"""

{layers}

CHAINRULE = {info}


def build() -> ChainruleNet:
    """The network, its weights as PyTorch initializes them (load() puts in the trained ones)."""
    return ChainruleNet(OrderedDict([
{modules}
    ]), CHAINRULE).to(torch.{dtype})


def load(path=None) -> ChainruleNet:
    """The trained network in eval mode; ``path``: the weights (default: {weights} here)."""
    from pathlib import Path

    from safetensors.torch import load_file

    model = build()
    model.load_state_dict(load_file(path or Path(__file__).with_name({weights!r})))
    return model.eval()
'''


# ---------------------------------------------------------------- back to chainrule


def from_torch(source, *, with_meta: bool = False, seed=None, rng=None):
    """The chainrule network of a module made by :func:`to_torch` (or a
    ``load()``/``build()`` of a written definition), trained further or not, or of a
    ``.safetensors`` file written by :func:`save_torch` (read with safetensors and
    NumPy: torch is not needed). Every array comes back as it is in the module, bit for
    bit (``W`` as ``weight.T``). ``with_meta``: also return the run's metadata, as
    given to the export (what ``chainrule.training.checkpoint.save_model`` takes, so that
    the network can be saved and opened in the lab). ``seed``/``rng``: the generator of
    the network's dropout masks. :class:`ExportError` for anything that is not such a
    module or file."""
    if isinstance(source, (str, os.PathLike)):
        info, state = _read_weights(Path(source))
        where = str(source)
    else:
        info, state = _module_state(source)
        where = f"the {type(source).__name__} module"
    net = _rebuild(info, state, where, seed, rng)
    return (net, dict(info.get("meta") or {})) if with_meta else net


def _module_state(module) -> tuple[dict, dict[str, np.ndarray]]:
    info = getattr(module, "chainrule", None)
    if not isinstance(info, dict) or not callable(getattr(module, "state_dict", None)):
        raise ExportError(f"a {type(module).__name__} is not a module made by "
                          "chainrule.export.to_torch (it has no chainrule entry)")
    state = {}
    for k, v in module.state_dict().items():
        try:
            state[k] = v.detach().cpu().numpy()
        except (TypeError, RuntimeError) as exc:
            raise ExportError(f"{k}: {exc}") from None
    return info, state


def _read_weights(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    st = need("safetensors", "reading a .safetensors file")
    if not path.is_file():
        raise ExportError(f"{path}: no such file" if not path.exists() else
                          f"{path}: not a file")
    if path.stat().st_size > LIMITS.total_bytes:
        raise ExportError(f"{path}: {path.stat().st_size} bytes, more than the "
                          f"{LIMITS.total_bytes} a network file may have")
    try:
        with st.safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (st.SafetensorError, OSError, ValueError, TypeError) as exc:
        raise ExportError(f"{path}: not a .safetensors file ({str(exc).splitlines()[0]})") \
            from None
    if header.get("format") != FORMAT or not isinstance(header.get("chainrule"), str):
        raise ExportError(f"{path}: not written by chainrule.export.save_torch (its header "
                          f"has no {FORMAT} entry)")
    try:
        info = loads_json(header["chainrule"], expect=dict, where=f"{path}")
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    return info, state


def _rebuild(info: dict, state: dict[str, np.ndarray], where: str, seed, rng):
    """The network of ``info`` with ``state``'s arrays, checked against the layout that
    network has (so a file cannot misplace an array)."""
    entries, config = info.get("arrays"), info.get("config")
    if info.get("format") != FORMAT or not isinstance(config, dict) or not _entries_ok(entries):
        raise ExportError(f"{where}: its chainrule entry is not {FORMAT}")
    expected = {e["key"] for e in entries}
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise ExportError(f"{where}: expected the arrays of {config.get('class')!r}; "
                          f"missing {missing[:4]}, unknown {extra[:4]}")
    arrays = {}
    for e in entries:
        a = state[e["key"]]
        if a.dtype not in (np.float32, np.float64):
            raise ExportError(f"{where}: {e['key']} is {a.dtype}; chainrule networks hold "
                              f"float32 or float64 (convert the module with .float())")
        arrays[e["name"]] = np.array(a.T if e["transpose"] else a, order="C")
    dtypes = sorted({str(a.dtype) for a in arrays.values()})
    if len(dtypes) > 1:
        raise ExportError(f"{where}: its arrays mix {' and '.join(dtypes)}; a chainrule "
                          "network holds one dtype (convert the module with .float())")
    params = {e["name"]: arrays[e["name"]] for e in entries if not e["buffer"]}
    buffers = {e["name"]: arrays[e["name"]] for e in entries if e["buffer"]}
    try:
        cls = net_class(config.get("class"))
        kwargs = {"buffers": buffers} if buffers else {}
        net = cls.from_config(config, params, **kwargs, **_rng_kwargs(seed, rng))
        again = array_entries(net, inference_steps(net))
    except (ValueError, TypeError, KeyError) as exc:
        raise ExportError(f"{where}: {str(exc).splitlines()[0]}") from None
    if again != entries:
        raise ExportError(f"{where}: its arrays are not laid out as a {config['class']}'s")
    return net


def _rng_kwargs(seed, rng) -> dict:
    return {k: v for k, v in (("seed", seed), ("rng", rng)) if v is not None}


def _entries_ok(entries) -> bool:
    return isinstance(entries, list) and bool(entries) and all(
        isinstance(e, dict) and set(e) == {"name", "key", "transpose", "buffer"}
        and isinstance(e["name"], str) and isinstance(e["key"], str)
        and isinstance(e["transpose"], bool) and isinstance(e["buffer"], bool)
        for e in entries)
