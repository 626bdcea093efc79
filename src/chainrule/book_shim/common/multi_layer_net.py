"""The book's ``common/multi_layer_net.py``: chainrule's ``MultiLayerNet``."""
# ruff: noqa: F401, F403
from chainrule.core.gradient import numerical_gradient
from chainrule.nn.multilayer import MultiLayerNet

from .layers import *
