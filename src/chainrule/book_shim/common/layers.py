"""The book's ``common/layers.py``: chainrule's layers, ``Convolution`` and ``Pooling``
(chapter 7), with the functions, ``im2col`` and ``col2im`` that the book's module imports
(and so exports) too."""
# ruff: noqa: F401, F403
from chainrule.book.util import col2im, im2col
from chainrule.core.conv import Convolution, Pooling
from chainrule.core.functions import *
from chainrule.core.layers import *
