"""The package's version: one home, read by ``chainrule.__version__``, run folders and
``chainrule --version``."""

__version__ = "0.1.0"
