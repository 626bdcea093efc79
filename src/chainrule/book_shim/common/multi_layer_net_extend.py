"""The book's ``common/multi_layer_net_extend.py``: chainrule's ``MultiLayerNetExtend``."""
# ruff: noqa: F401, F403
from chainrule.core.gradient import numerical_gradient
from chainrule.nn.multilayer import MultiLayerNetExtend

from .layers import *
