"""The book's ``common/layers.py``: chainrule's layers, ``Convolution`` and ``Pooling``
(chapter 7), with the functions, ``im2col`` and ``col2im`` that the book's module imports
(and so exports) too."""
# ruff: noqa: F401, F403
from chainrule.conv import Convolution, Pooling
from chainrule.functions import *
from chainrule.layers import *
from chainrule.util import col2im, im2col
