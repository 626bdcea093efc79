"""The book's ``common/trainer.py``: :class:`chainrule.book.trainer.Trainer`."""
# ruff: noqa: F401, F403
from chainrule.book.trainer import *
