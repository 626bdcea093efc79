"""The book's ``common/gradient.py``: ``numerical_gradient``, ``numerical_gradient_2d``."""
# ruff: noqa: F401, F403
from chainrule.core.gradient import *
