"""Network classes by name: what a model file's ``"class"`` may say.

The book's five networks are here from the start; :func:`register_net` adds a
learner's own class, so that its model files can be read too.
"""

from __future__ import annotations

from chainrule.nn.convnets import DeepConvNet, SimpleConvNet
from chainrule.nn.multilayer import MultiLayerNet, MultiLayerNetExtend
from chainrule.nn.two_layer import TwoLayerNet

NET_CLASSES: dict[str, type] = {cls.__name__: cls for cls in (
    TwoLayerNet, MultiLayerNet, MultiLayerNetExtend, SimpleConvNet, DeepConvNet)}
"""Network classes by name: the built-in ones and those given to :func:`register_net`."""


class UnknownNetwork(ValueError):
    """No network class has this name."""


def register_net(cls: type) -> type:
    """Make ``cls`` loadable from files (the built-in networks need not register).

    A network class needs ``params``, ``config()`` (a JSON-able dict with ``"class"``)
    and a ``from_config(config, params)`` classmethod; one with ``buffers()`` also
    needs ``from_config(config, params, buffers=...)`` (see
    :class:`~chainrule.nn.network.Network`). Usable as a decorator.
    """
    NET_CLASSES[cls.__name__] = cls
    return cls


def net_class(name: str) -> type:
    """The network class called ``name``; :class:`UnknownNetwork` if there is none."""
    if not isinstance(name, str):
        raise UnknownNetwork(f"the network class must be a name, got {name!r}")
    cls = NET_CLASSES.get(name)
    if cls is None:
        raise UnknownNetwork(f"unknown network class {name!r}: not one of chainrule's "
                             f"({', '.join(NET_CLASSES)}) and not registered with "
                             "chainrule.nn.registry.register_net")
    return cls
