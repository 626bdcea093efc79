"""Bytes on disk, trusting nothing: atomic writes, JSON with limits, ``.npz`` without
pickle (``files``, ``npz``), and the version stamped on what is written (``version``).
Imports nothing else of chainrule's."""
