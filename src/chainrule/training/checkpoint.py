"""Networks and training state on disk: ``.npz`` files, no pickle, atomic writes.

A **model file** (``model.npz``) holds a network's parameters as ``params/<name>``
arrays, its buffers if it has any (``buffers/<name>``: batch-norm running statistics),
its architecture as ``net`` (the JSON of ``net.config()``, a 0-d unicode array) and
free-form ``meta`` JSON (dataset, class names, image shape). A **checkpoint**
(``checkpoint.npz``) holds the same plus what resuming needs: the optimizer's arrays
(``optimizer/<name>``), the history (``history/<column>``) and ``trainer`` JSON
(iteration, the states of the batch generator and of the network's own generator).

Reading trusts nothing (see :mod:`chainrule.store.npz`): no pickle ever; the zip directory and
every entry's header are checked before any data is decompressed (entry names the
format has, plain numeric dtypes, sizes within :data:`chainrule.store.npz.LIMITS`); the JSON
entries are size- and depth-limited; the parameters must be float32 or float64, one
dtype for all, finite, and fit the architecture: a pass forward and backward through a
zero-filled copy of the network, on one zero input, must give every parameter a
gradient of its own shape; a convolutional network's activations, computed from its
``net`` entry, must fit this machine's memory for 100 images at a time (what
``chainrule evaluate`` predicts at once) before anything is allocated. ``meta``'s
``class_names`` (a name for every output) and ``image_shape`` (as many pixels as
inputs) are checked too. A checkpoint's history holds no more than its iteration's
steps and rows, its optimizer arrays have the parameters' shapes: checked from the
headers before they are read. Anything else raises :class:`CheckpointError` with one
line that names the file.

Every write goes to a temporary file in the destination folder, is flushed to disk,
then renamed over the destination (``os.replace``): a crash leaves the old file or
the new one, never half of one.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.nn.network import buffers_of
from chainrule.nn.registry import UnknownNetwork, net_class
from chainrule.store.files import JSON_MAX_DEPTH, loads_json
from chainrule.store.npz import LIMITS, Limits, NpzError, json_array, read_npz, write_npz
from chainrule.training.build import CONVNETS, check_conv_memory

MODEL_FORMAT = "chainrule.model/1"
CHECKPOINT_FORMAT = "chainrule.checkpoint/1"

MAX_INPUT_VALUES = 1 << 22
"""The most input values (pixels times channels) a model file's network may take: the
size of the zero input its parameters are checked with (a 2048x2048 picture)."""
MAX_NAME_CHARS = 200
"""The longest class name a model file may hold."""
ENTRIES = ("format", "net", "meta", "trainer")
"""The single (JSON text) entries of the formats; ``trainer`` is a checkpoint's only."""
GROUPS = ("params", "buffers", "optimizer", "history")
"""The array groups (``<group>/<name>``); ``optimizer`` and ``history`` are a checkpoint's only."""
_MODEL_ONLY = {"format", "net", "meta", "params", "buffers"}
_MEMBER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*")

class CheckpointError(ValueError):
    """A file is not a readable chainrule model or checkpoint."""


def _top(key: str) -> str:
    return key.split("/", 1)[0]


def _known(key: str) -> bool:
    """Whether ``key`` is an entry the formats have (a single entry or ``group/name``)."""
    if key in ENTRIES:
        return True
    group, _, name = key.partition("/")
    return group in GROUPS and bool(name) and len(name) <= 200 and bool(_MEMBER.fullmatch(name))


def _read_npz(path: Path, limits: Limits, *, model_only: bool) -> dict[str, np.ndarray]:
    """The entries of a model (``model_only``: a checkpoint's optimizer and history are
    checked but not read) or of a whole checkpoint."""
    keys: list[str] = []

    def accept(key: str) -> bool:
        keys.append(key)
        return _known(key)

    try:
        arrays = read_npz(path, accept=accept, limits=limits,
                          read=(lambda k: _top(k) in _MODEL_ONLY) if model_only else
                          (lambda k: True), kind="chainrule model or checkpoint",
                          check=None if model_only else _state_sizes(path))
    except NpzError as exc:
        raise CheckpointError(str(exc)) from None
    if _format(arrays) == MODEL_FORMAT:
        extra = sorted({_top(k) for k in keys} - _MODEL_ONLY)
        if extra:
            raise CheckpointError(f"{path}: a model file has no {', '.join(extra)} entries")
    return arrays


def _state_sizes(path: Path):
    """A ``read_npz`` check: a checkpoint's history and optimizer arrays are only as large
    as its run and its network allow (their headers against the ``trainer`` iteration and
    the parameters' shapes), refused before they are read."""
    def check(texts: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]]) -> None:
        iteration = _iteration(texts, path)
        for key, shape in shapes.items():
            group, _, name = key.partition("/")
            if group == "history":
                size = math.prod(shape)
                if len(shape) > 1 or size > max(iteration, 1):
                    raise NpzError(f"{path}: {key} holds {size} values in shape {shape}, more "
                                   f"than a run at iteration {iteration} can have")
            elif group == "optimizer" and name != "t":
                param = shapes.get(f"params/{name.partition('/')[2]}")
                if param is None or shape != param:
                    raise NpzError(f"{path}: {key} has shape {shape}, not the shape of a "
                                   f"parameter of the network ({param})")
    return check


def _iteration(texts: dict[str, np.ndarray], path: Path) -> int:
    """The ``trainer`` entry's iteration, checked."""
    a = texts.get("trainer")
    if a is None or a.ndim != 0:
        raise NpzError(f"{path}: no 'trainer' entry; not a chainrule checkpoint")
    try:
        trainer = loads_json(str(a), max_depth=JSON_MAX_DEPTH, where=f"{path}: 'trainer'")
    except ValueError as exc:
        raise NpzError(str(exc)) from None
    iteration = trainer.get("iteration") if isinstance(trainer, dict) else None
    if not isinstance(iteration, int) or isinstance(iteration, bool) or iteration < 0:
        raise NpzError(f"{path}: the 'trainer' iteration must be a count, got {iteration!r}")
    return iteration


def _json(arrays: dict[str, np.ndarray], key: str, path: Path) -> Any:
    if key not in arrays:
        raise CheckpointError(f"{path}: no {key!r} entry; not a chainrule file")
    a = arrays[key]
    if a.ndim != 0 or a.dtype.kind != "U":
        raise CheckpointError(f"{path}: {key!r} must be JSON text, got {a.dtype} {a.shape}")
    try:
        return loads_json(str(a), max_depth=JSON_MAX_DEPTH, where=f"{path}: {key!r}")
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None


def _format(arrays: dict[str, np.ndarray]) -> str | None:
    a = arrays.get("format")
    return str(a) if a is not None and a.ndim == 0 and a.dtype.kind == "U" else None


def _group(arrays: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) + 1:]: v for k, v in arrays.items() if k.startswith(prefix + "/")}


def _flat(prefix: str, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {f"{prefix}/{k}": np.asarray(v) for k, v in arrays.items()}


# ---------------------------------------------------------------- models


@dataclass
class ModelFile:
    """A loaded model file: the network, its architecture and its metadata."""

    net: Any
    config: dict
    meta: dict = field(default_factory=dict)
    path: Path | None = None


def save_model(path: str | os.PathLike, net, *, meta: Mapping | None = None) -> Path:
    """Save ``net`` (parameters and ``net.config()``) to ``path`` atomically."""
    path = Path(path)
    arrays = {"format": np.array(MODEL_FORMAT), "net": json_array(net.config()),
              "meta": json_array(dict(meta or {})), **_net_arrays(net)}
    write_npz(path, arrays)
    return path


def _net_arrays(net) -> dict[str, np.ndarray]:
    return {**_flat("params", net.params), **_flat("buffers", buffers_of(net))}


def _net_from(arrays: dict[str, np.ndarray], path: Path) -> tuple[Any, dict, int]:
    """The network, its config and its number of outputs, checked (see the module
    docstring)."""
    config = _json(arrays, "net", path)
    if not isinstance(config, dict) or "class" not in config:
        raise CheckpointError(f"{path}: the 'net' entry has no \"class\"")
    try:
        cls = net_class(config["class"])
    except UnknownNetwork as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    params = _group(arrays, "params")
    if not params:
        raise CheckpointError(f"{path}: no parameters (params/...) in the file")
    buffers = _group(arrays, "buffers")
    _check_floats(path, "params", params, one_dtype=True)
    _check_floats(path, "buffers", buffers)
    kwargs = {"buffers": buffers} if buffers else {}
    if config["class"] in CONVNETS:  # its activations follow from the config: check first
        try:
            check_conv_memory(config, next(iter(params.values())).dtype,
                              batch=getattr(cls, "chunk_size", None) or 1)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise CheckpointError(f"{path}: {exc}") from None
    try:
        net = cls.from_config(config, params, **kwargs)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise CheckpointError(f"{path}: parameters do not fit the architecture: {exc}") from None
    outputs = _check_fits(cls, config, params, buffers, path)
    return net, config, outputs


def _check_floats(path: Path, group: str, arrays: Mapping[str, np.ndarray], *,
                  one_dtype: bool = False) -> None:
    """float32 or float64 (one dtype for all, if asked), and finite."""
    for k, a in arrays.items():
        if a.dtype not in (np.float32, np.float64):
            raise CheckpointError(f"{path}: {group}/{k} is {a.dtype}; chainrule networks "
                                  "hold float32 or float64")
        bad = _non_finite(a)
        if bad:
            raise CheckpointError(f"{path}: {group}/{k} holds {bad} NaN or infinite values "
                                  f"(of {a.size}): the network is unusable (a run that "
                                  "diverged, or a damaged file)")
    dtypes = sorted({str(a.dtype) for a in arrays.values()})
    if one_dtype and len(dtypes) > 1:
        raise CheckpointError(f"{path}: the parameters mix {' and '.join(dtypes)}")


def _non_finite(a: np.ndarray, chunk: int = 1 << 20) -> int:
    """How many values of ``a`` are NaN or infinite (counted in chunks: little memory)."""
    flat = a.reshape(-1)
    return sum(int(part.size - np.count_nonzero(np.isfinite(part)))
               for part in (flat[i:i + chunk] for i in range(0, flat.size, chunk)))


def declared_input_shape(config: Mapping,
                         params: Mapping[str, np.ndarray]) -> tuple[int, ...] | None:
    """The shape of one input that a file's ``config`` declares (before any network is
    built from it; a built network's is :func:`chainrule.nn.network.input_shape`): its
    ``input_dim`` (the book's convolutional networks: channels, height, width), else its
    ``input_size``, else the rows of a 2-D ``W1``; None when none of these says."""
    dims = config.get("input_dim", config.get("input_size"))
    if dims is None:
        w1 = params.get("W1")
        dims = w1.shape[0] if w1 is not None and w1.ndim == 2 else None
    dims = [dims] if isinstance(dims, (int, np.integer)) else dims
    if (not isinstance(dims, (list, tuple)) or not 1 <= len(dims) <= 3 or not all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0
            for d in dims)):
        return None
    return tuple(int(d) for d in dims)


def _check_fits(cls: type, config: dict, params: Mapping[str, np.ndarray],
                buffers: Mapping[str, np.ndarray], path: Path) -> int:
    """Run a zero-filled copy of the network forward and (when it has ``gradient``)
    backward on one zero input; every parameter must get a gradient of its own shape.
    Returns the number of outputs. Zero-filled arrays cost no memory until written."""
    shape = declared_input_shape(config, params)
    if shape is None:
        raise CheckpointError(f"{path}: the 'net' entry does not say the input size")
    if math.prod(shape) > MAX_INPUT_VALUES:
        raise CheckpointError(f"{path}: inputs of shape {shape}, more than the limit of "
                              f"{MAX_INPUT_VALUES} values")
    dtype = next(iter(params.values())).dtype
    zeros = {k: np.zeros(a.shape, a.dtype) for k, a in params.items()}
    kwargs = {"buffers": {k: np.zeros(a.shape, a.dtype) for k, a in buffers.items()}} \
        if buffers else {}
    x, t = np.zeros((1, *shape), dtype), np.zeros(1, dtype=np.int64)
    try:
        with np.errstate(all="ignore"):
            probe = cls.from_config(config, zeros, **kwargs)
            scores = np.asarray(probe.predict(x))
            grads = probe.gradient(x, t) if callable(getattr(probe, "gradient", None)) else None
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise CheckpointError(f"{path}: parameters do not fit the architecture: {exc}") from None
    if scores.shape[:1] != (1,) or scores.ndim != 2 or scores.shape[1] < 1:
        raise CheckpointError(f"{path}: the network gives scores of shape {scores.shape} "
                              "for one input; expected (1, classes)")
    for k, a in params.items():
        g = None if grads is None else grads.get(k)
        if grads is not None and (g is None or np.shape(g) != a.shape):
            raise CheckpointError(f"{path}: parameters do not fit the architecture: "
                                  f"params/{k} has shape {a.shape}, the network uses "
                                  f"{'none' if g is None else np.shape(g)}")
    return int(scores.shape[1])


def _check_meta(meta: Any, path: Path, inputs: int, outputs: int) -> dict:
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: 'meta' must be a JSON object")
    names = meta.get("class_names")
    if names is not None and not (
            isinstance(names, list) and outputs <= len(names) <= max(outputs, 1000)
            and all(isinstance(n, str) and 0 < len(n) <= MAX_NAME_CHARS for n in names)):
        raise CheckpointError(f"{path}: meta class_names must name each of the network's "
                              f"{outputs} outputs (1 to {MAX_NAME_CHARS} characters each)")
    shape = meta.get("image_shape")
    if shape is not None and not (
            isinstance(shape, list) and len(shape) == 2
            and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
            and math.prod(shape) == inputs):
        raise CheckpointError(f"{path}: meta image_shape must be [height, width] "
                              f"holding the network's {inputs} inputs")
    if not isinstance(meta.get("dataset", ""), str):
        raise CheckpointError(f"{path}: meta dataset must be a name")
    return meta


def read_model(path: str | os.PathLike, *, limits: Limits = LIMITS) -> ModelFile:
    """Load a model file (or the network inside a checkpoint) with its metadata, checked
    (see the module docstring); raises :class:`CheckpointError`."""
    path = Path(path)
    arrays = _read_npz(path, limits, model_only=True)
    fmt = _format(arrays)
    if fmt not in (MODEL_FORMAT, CHECKPOINT_FORMAT):
        raise CheckpointError(f"{path}: not a chainrule model (format {fmt!r})")
    net, config, outputs = _net_from(arrays, path)
    meta = _json(arrays, "meta", path) if "meta" in arrays else {}
    inputs = math.prod(declared_input_shape(config, _group(arrays, "params")) or (0,))
    return ModelFile(net, config, _check_meta(meta, path, inputs, outputs), path)


def load_model(path: str | os.PathLike):
    """The network saved in ``path`` (a model file or a checkpoint)."""
    return read_model(path).net


# ---------------------------------------------------------------- checkpoints


def _check_history(history: Mapping[str, np.ndarray], iteration: int, path: Path) -> None:
    """The history of a run at ``iteration``: rows measured before it, and no more step
    losses than steps (``step_loss_from`` counts those left out)."""
    start = history.get("step_loss_from")
    if start is not None:
        if start.ndim != 0 or start.dtype.kind not in "iu":
            raise CheckpointError(f"{path}: history/step_loss_from must be a count")
        steps = int(start) + math.prod(history.get("step_loss", np.empty(0)).shape)
        if not 0 <= int(start) <= iteration or steps > iteration:
            raise CheckpointError(f"{path}: history/step_loss_from ({int(start)}) and the "
                                  f"step losses after it do not fit a run at iteration "
                                  f"{iteration}")
    rows = history.get("iteration")
    if rows is not None and rows.size and (rows.dtype.kind not in "iu" or rows.min() < 0
                                           or rows.max() >= iteration):
        raise CheckpointError(f"{path}: history/iteration holds rows outside the run's "
                              f"{iteration} steps")



def save_checkpoint(path: str | os.PathLike, loop, *, meta: Mapping | None = None,
                    all_steps: bool = True) -> Path:
    """Save everything needed to resume ``loop`` exactly (see ``TrainingLoop.state_dict``;
    ``all_steps=False`` keeps only the step losses since the last evaluation)."""
    path = Path(path)
    state = loop.state_dict(all_steps=all_steps)
    arrays = {
        "format": np.array(CHECKPOINT_FORMAT),
        "net": json_array(loop.net.config()),
        "meta": json_array(dict(meta or {})),
        "trainer": json_array({"iteration": state["iteration"], "rng": state["rng"],
                               "net_rng": state.get("net_rng")}),
        **_flat("params", state["params"]),
        **_flat("buffers", state.get("buffers", {})),
        **_flat("optimizer", state["optimizer"]),
        **_flat("history", state["history"]),
    }
    write_npz(path, arrays)
    return path


def load_checkpoint(path: str | os.PathLike, *, limits: Limits = LIMITS) -> dict:
    """A checkpoint's state, in the form ``TrainingLoop.load_state_dict`` takes.

    Also holds ``"net"`` (the architecture) and ``"meta"``. Checked as :func:`read_model`
    checks a model (the optimizer's arrays must be finite too); raises
    :class:`CheckpointError`.
    """
    path = Path(path)
    arrays = _read_npz(path, limits, model_only=False)
    fmt = _format(arrays)
    if fmt != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a chainrule checkpoint (format {fmt!r})")
    trainer = _json(arrays, "trainer", path)
    if not isinstance(trainer, dict) or not {"iteration", "rng"} <= trainer.keys():
        raise CheckpointError(f"{path}: the 'trainer' entry lacks iteration or rng")
    if not isinstance(trainer["iteration"], int) or trainer["iteration"] < 0:
        raise CheckpointError(f"{path}: the 'trainer' iteration must be a count, got "
                              f"{trainer['iteration']!r}")
    _net_from(arrays, path)
    _check_history(_group(arrays, "history"), int(trainer["iteration"]), path)
    optimizer = _group(arrays, "optimizer")
    for k, a in optimizer.items():
        if a.dtype.kind == "f" and _non_finite(a):
            raise CheckpointError(f"{path}: optimizer/{k} holds NaN or infinite values")
    return {
        "net": _json(arrays, "net", path),
        "meta": _json(arrays, "meta", path) if "meta" in arrays else {},
        "iteration": int(trainer["iteration"]),
        "rng": trainer["rng"],
        "net_rng": trainer.get("net_rng"),
        "params": _group(arrays, "params"),
        "buffers": _group(arrays, "buffers"),
        "optimizer": _group(arrays, "optimizer"),
        "history": _group(arrays, "history"),
    }
