"""Opening a trained model named on the command line (a run folder or a model file)."""

from __future__ import annotations

from chainrule.cli import CLIError
from chainrule.nn.network import input_shape
from chainrule.training.checkpoint import CheckpointError, read_model
from chainrule.training.folder import RunError, find_model


def open_model(target: str):
    """``(ModelFile, the run's config.json or None)``; a bad target is a one-line error.
    The model is checked as ``chainrule.training.checkpoint.read_model`` checks it."""
    try:
        path, saved = find_model(target)
        return read_model(path), saved
    except (RunError, CheckpointError, OSError) as exc:
        raise CLIError(str(exc)) from None


def model_input(model) -> tuple[int, ...]:
    """The shape of one input of ``model``'s network (checked when the file was read)."""
    return input_shape(model.net)
