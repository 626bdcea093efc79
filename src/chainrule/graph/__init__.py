"""Computational graphs you can see: recording layer calls (``record``: ``Graph``; its
``parts``: ``Edge``, ``Node``), arithmetic text to a graph (``expression``), a node's
local rule in words (``explain``), where everything goes in a drawing (``layout``) and
the drawing written as SVG, PNG, DOT or Mermaid (``draw``). Built on ``core``."""
