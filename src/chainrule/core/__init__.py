"""The math: layers with their forward and local gradient side by side, the numerical
gradient and the gradient check, im2col and the convolution, randomness, and the
batch split over the cores. NumPy and the standard library only; nothing here knows of
files, loops, screens or servers.

``base`` (the Layer protocol), ``functions`` (softmax, cross-entropy, ...),
``operations`` (the graphs' one-operation layers: MulLayer, AddLayer, ...), ``layers``
(Relu, Affine, SoftmaxWithLoss, Dropout, BatchNormalization, ...), ``conv``
(Convolution, Pooling), ``grid`` (stride-1 convolutions on the padded grid),
``gradient``, ``rng``, ``floats``, ``parallel``, ``checks``;
and ``messages``: what every floor's errors and explanations say, as a code, its params
and one English template (the lab words them in the learner's language).
"""
