"""The book's ``common/functions.py``: chainrule's functions (and ``np``)."""
# ruff: noqa: F401, F403
from chainrule.core.functions import *
