"""chainrule: backpropagation from scratch, after *Deep Learning from Scratch*, chapter 5.

The book's names come first; everything here imports only NumPy, so
``import chainrule`` stays fast (matplotlib and tqdm load only when used).
"""

from chainrule import _startup  # noqa: F401 - first: Ctrl-C while the command starts
from chainrule.core.base import Layer
from chainrule.core.conv import Convolution, Pooling, col2im, im2col
from chainrule.core.functions import (
    cross_entropy_error,
    identity_function,
    mean_squared_error,
    relu,
    relu_grad,
    sigmoid,
    sigmoid_grad,
    softmax,
    softmax_loss,
    step_function,
    sum_squared_error,
)
from chainrule.core.gradient import (
    GradientCheckReport,
    gradient_check,
    numerical_gradient,
    numerical_gradient_2d,
)
from chainrule.core.layers import (
    Affine,
    BatchNormalization,
    Dropout,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
)
from chainrule.core.operations import (
    AddLayer,
    DivLayer,
    ExpLayer,
    LogLayer,
    MulLayer,
    NegLayer,
    PowLayer,
    ReciprocalLayer,
    ReluNode,
    SigmoidNode,
    SubLayer,
    TanhNode,
)
from chainrule.data.idx import IDXError, read_idx
from chainrule.data.load import load_mnist
from chainrule.graph.record import Graph
from chainrule.nn.convnets import DeepConvNet, SimpleConvNet
from chainrule.nn.multilayer import MultiLayerNet, MultiLayerNetExtend
from chainrule.nn.optim import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop
from chainrule.nn.two_layer import TwoLayerNet
from chainrule.store.version import VERSION as __version__  # noqa: F401

__all__ = [
    "MulLayer", "AddLayer", "Relu", "Sigmoid", "Affine", "SoftmaxWithLoss",
    "softmax", "cross_entropy_error", "sigmoid", "numerical_gradient", "gradient_check",
    "TwoLayerNet", "load_mnist", "read_idx", "IDXError", "Graph",
    "ExpLayer", "ReciprocalLayer", "Layer", "GradientCheckReport", "SGD",
    "identity_function", "step_function", "relu", "sigmoid_grad", "mean_squared_error",
    "Tanh", "Dropout", "BatchNormalization", "MultiLayerNet", "MultiLayerNetExtend",
    "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam",
    "relu_grad", "sum_squared_error", "softmax_loss", "numerical_gradient_2d",
    "SubLayer", "DivLayer", "PowLayer", "NegLayer", "LogLayer", "SigmoidNode", "ReluNode",
    "TanhNode",
    "Convolution", "Pooling", "im2col", "col2im", "SimpleConvNet", "DeepConvNet",
]
