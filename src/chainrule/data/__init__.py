"""Datasets: one catalog of what they are (``catalog``), finding, verifying and
downloading their files (``locate``, ``download``, ``idx``), loading them as arrays
(``load``: the book's ``load_mnist``), uint8 images read as floats (``images``) and a
learner's own picture made MNIST-like (``preprocess``). Built on ``core`` and ``store``."""
