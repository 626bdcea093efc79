"""Opening a trained model named on the command line (a run folder or a model file)."""

from __future__ import annotations

from chainrule.cli import CLIError


def open_model(target: str):
    """``(ModelFile, the run's config.json or None)``; a bad target is a one-line error."""
    from chainrule.checkpoint import CheckpointError, read_model
    from chainrule.runs import RunError, find_model

    try:
        path, saved = find_model(target)
        return read_model(path), saved
    except (RunError, CheckpointError, OSError) as exc:
        raise CLIError(str(exc)) from None
