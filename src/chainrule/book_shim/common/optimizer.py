"""The book's ``common/optimizer.py``: chainrule's optimizers (and ``np``)."""
# ruff: noqa: F401, F403
from chainrule.nn.optim import *
