"""Bytes on disk, trusting nothing: atomic writes, JSON with limits, ``.npz`` without
pickle (``files``, ``npz``). Imports nothing else of chainrule's."""
