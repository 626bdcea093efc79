"""``python -m chainrule.book_shim``: print the folder to put first on ``PYTHONPATH``."""

from chainrule.book_shim import path

print(path())
