"""Take a network further: ONNX and PyTorch (``pip install 'chainrule[export]'``).

- :func:`to_onnx` (:mod:`.onnx_graph`): the network's inference graph as an ONNX model;
- :func:`to_torch`, :func:`save_torch`, :func:`from_torch` (:mod:`.torch_io`): a
  PyTorch module with the same outputs, its weights as ``.safetensors`` with a small
  module definition beside them, and back to the chainrule network, bit for bit.

What each layer becomes is read in one place, :mod:`.plan`; what the files say about
the network (dataset, classes, input, preprocessing), in :mod:`.metadata`. Importing
this package imports none of onnx, onnxruntime, safetensors or torch: each function
imports what it needs, and a missing one is a :class:`MissingExtra` naming the extra.
"""

from chainrule.export.onnx_graph import to_onnx
from chainrule.export.plan import ExportError, MissingExtra
from chainrule.export.torch_io import from_torch, save_torch, to_torch

__all__ = ["to_onnx", "to_torch", "save_torch", "from_torch", "ExportError", "MissingExtra"]
