"""The book's ``common/util.py``: smooth_curve, shuffle_dataset, im2col, col2im, ..."""
# ruff: noqa: F401, F403
from chainrule.book.util import *
