"""The book's ``common/trainer.py``: :class:`chainrule.trainer.Trainer`."""
# ruff: noqa: F401, F403
from chainrule.trainer import *
