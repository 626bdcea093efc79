"""chainrule's version, the stamp on everything it writes (a run folder's config, an
exported model's metadata) and what ``chainrule --version`` prints. Its one home:
``pyproject.toml`` reads it from here (``[tool.setuptools.dynamic]``)."""

VERSION = "0.1.0"
"""``chainrule.__version__``."""
