"""Networks: what one must provide (``network``), the book's networks (``two_layer``,
``multilayer``, ``convnets``; a convnet's config checked and its sizes computed before
anything is allocated, ``convshapes``), their optimizers (``optim``), weight initialisation
(``init``), the class registry model files use (``registry``), a one-line description
(``describe``) and one input looked at from every side (``probe``). Built on ``core``
(and ``store`` for ``save_params``)."""
