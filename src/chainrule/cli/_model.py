"""Opening a trained model named on the command line (a run folder or a model file)."""

from __future__ import annotations

from chainrule.cli import CLIError


def open_model(target: str):
    """``(ModelFile, the run's config.json or None)``; a bad target is a one-line error.
    The model is checked as ``chainrule.training.checkpoint.read_model`` checks it."""
    from chainrule.training.checkpoint import CheckpointError, read_model
    from chainrule.training.runs import RunError, find_model

    try:
        path, saved = find_model(target)
        return read_model(path), saved
    except (RunError, CheckpointError, OSError) as exc:
        raise CLIError(str(exc)) from None


def model_input(model) -> tuple[int, ...]:
    """The shape of one input of ``model``'s network (checked when the file was read)."""
    from chainrule.training.checkpoint import input_shape

    shape = input_shape(model.config, model.net.params)
    if shape is None:  # pragma: no cover - read_model refuses such files
        raise CLIError(f"{model.path}: the model does not say its input size")
    return shape
