"""Networks and training state on disk: ``.npz`` files, no pickle, atomic writes.

A **model file** (``model.npz``) holds a network's parameters as ``params/<name>``
arrays, its buffers if it has any (``buffers/<name>``: batch-norm running statistics),
its architecture as ``net`` (the JSON of ``net.config()``, a 0-d unicode array) and
free-form ``meta`` JSON (dataset, class names, image shape). A **checkpoint**
(``checkpoint.npz``) holds the same plus what resuming needs: the optimizer's arrays
(``optimizer/<name>``), the history (``history/<column>``) and ``trainer`` JSON
(iteration, the states of the batch generator and of the network's own generator). Both load with
``allow_pickle=False``, so a file from a stranger cannot run code.

Every write goes to a temporary file in the destination folder, is flushed to disk,
then renamed over the destination (``os.replace``): a crash leaves the old file or
the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.files import atomic_open, write_json, write_text  # noqa: F401 - re-exported

MODEL_FORMAT = "chainrule.model/1"
CHECKPOINT_FORMAT = "chainrule.checkpoint/1"

NET_CLASSES: dict[str, type] = {}
"""Network classes by name, beyond those in :mod:`chainrule.nets` (see :func:`register_net`)."""


class CheckpointError(ValueError):
    """A file is not a readable chainrule model or checkpoint."""


def register_net(cls: type) -> type:
    """Make ``cls`` loadable from files (classes in :mod:`chainrule.nets` need not register).

    A network class needs ``params``, ``config()`` (a JSON-able dict with ``"class"``)
    and a ``from_config(config, params)`` classmethod; one with ``buffers()`` also
    needs ``from_config(config, params, buffers=...)``. Usable as a decorator.
    """
    NET_CLASSES[cls.__name__] = cls
    return cls


def net_class(name: str) -> type:
    """The network class called ``name``: registered, else found in :mod:`chainrule.nets`."""
    if name in NET_CLASSES:
        return NET_CLASSES[name]
    from chainrule import nets

    cls = getattr(nets, str(name), None)
    if isinstance(cls, type) and callable(getattr(cls, "from_config", None)):
        return cls
    raise CheckpointError(f"unknown network class {name!r}: not in chainrule.nets and not "
                          "registered with chainrule.checkpoint.register_net")


# ---------------------------------------------------------------- atomic writes


def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Save ``arrays`` uncompressed to ``path`` atomically (no object arrays allowed)."""
    for key, a in arrays.items():
        if np.asarray(a).dtype == object:
            raise TypeError(f"write_npz: {key!r} is an object array; it would need pickle")
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)


def json_array(obj: Any) -> np.ndarray:
    """``obj`` as JSON text in a 0-d unicode array: storable in an npz without pickle."""
    return np.array(json.dumps(obj))


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with open(path, "rb") as f:
            zipped = f.read(4) == b"PK\x03\x04"
        if not zipped:  # np.load would call it pickled data and suggest allow_pickle=True
            raise CheckpointError(f"{path}: not an .npz file (an .npz is a zip archive "
                                  "of .npy arrays; this file is not one)")
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (FileNotFoundError, CheckpointError):
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path}: not a readable .npz file ({exc})") from exc


def _json(arrays: dict[str, np.ndarray], key: str, path: Path) -> Any:
    if key not in arrays:
        raise CheckpointError(f"{path}: no {key!r} entry; not a chainrule file")
    a = arrays[key]
    if a.ndim != 0 or a.dtype.kind != "U":
        raise CheckpointError(f"{path}: {key!r} must be JSON text, got {a.dtype} {a.shape}")
    try:
        return json.loads(str(a))
    except ValueError as exc:
        raise CheckpointError(f"{path}: {key!r} is not valid JSON ({exc})") from exc


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
    buffers = net.buffers() if callable(getattr(net, "buffers", None)) else {}
    return {**_flat("params", net.params), **_flat("buffers", buffers)}


def _net_from(arrays: dict[str, np.ndarray], path: Path) -> tuple[Any, dict]:
    config = _json(arrays, "net", path)
    if not isinstance(config, dict) or "class" not in config:
        raise CheckpointError(f"{path}: the 'net' entry has no \"class\"")
    params = {k: np.array(v) for k, v in _group(arrays, "params").items()}
    if not params:
        raise CheckpointError(f"{path}: no parameters (params/...) in the file")
    buffers = {k: np.array(v) for k, v in _group(arrays, "buffers").items()}
    kwargs = {"buffers": buffers} if buffers else {}
    try:
        net = net_class(config["class"]).from_config(config, params, **kwargs)
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: parameters do not fit the architecture: {exc}") from exc
    return net, config


def read_model(path: str | os.PathLike) -> ModelFile:
    """Load a model file (or the network inside a checkpoint) with its metadata."""
    path = Path(path)
    arrays = _read_npz(path)
    fmt = str(arrays["format"]) if "format" in arrays else None
    if fmt not in (MODEL_FORMAT, CHECKPOINT_FORMAT):
        raise CheckpointError(f"{path}: not a chainrule model (format {fmt!r})")
    net, config = _net_from(arrays, path)
    meta = _json(arrays, "meta", path) if "meta" in arrays else {}
    return ModelFile(net, config, meta if isinstance(meta, dict) else {}, path)


def load_model(path: str | os.PathLike):
    """The network saved in ``path`` (a model file or a checkpoint)."""
    return read_model(path).net


# ---------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | os.PathLike, trainer, *, meta: Mapping | None = None,
                    all_steps: bool = True) -> Path:
    """Save everything needed to resume ``trainer`` exactly (see ``Trainer.state_dict``;
    ``all_steps=False`` keeps only the step losses since the last evaluation)."""
    path = Path(path)
    state = trainer.state_dict(all_steps=all_steps)
    arrays = {
        "format": np.array(CHECKPOINT_FORMAT),
        "net": json_array(trainer.net.config()),
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


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint's state, in the form ``Trainer.load_state_dict`` takes.

    Also holds ``"net"`` (the architecture) and ``"meta"``.
    """
    path = Path(path)
    arrays = _read_npz(path)
    fmt = str(arrays["format"]) if "format" in arrays else None
    if fmt != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a chainrule checkpoint (format {fmt!r})")
    trainer = _json(arrays, "trainer", path)
    if not isinstance(trainer, dict) or not {"iteration", "rng"} <= trainer.keys():
        raise CheckpointError(f"{path}: the 'trainer' entry lacks iteration or rng")
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
