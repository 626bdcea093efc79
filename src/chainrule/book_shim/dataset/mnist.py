"""The book's ``dataset/mnist.py``: chainrule's loader (no pickle, verified downloads)."""
# ruff: noqa: F401, F403
from chainrule.book.mnist import *
