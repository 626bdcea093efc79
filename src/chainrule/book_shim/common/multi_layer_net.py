"""The book's ``common/multi_layer_net.py``: chainrule's ``MultiLayerNet``."""
# ruff: noqa: F401, F403
from chainrule.gradient import numerical_gradient
from chainrule.nets import MultiLayerNet

from .layers import *
