"""A folder of the book's module names, ``common/`` and ``dataset/``, that re-export chainrule.

Put it first on ``PYTHONPATH`` and the book's own scripts (``ch04`` to ``ch07`` of the
official repository) import chainrule where they import ``common.layers``,
``common.trainer``, ``dataset.mnist`` and the rest::

    cd deep-learning-from-scratch/ch06
    PYTHONPATH=$(python -m chainrule.book_shim) python overfit_dropout.py

or ``chainrule book run overfit_dropout.py``. The scripts append ``os.pardir`` to
``sys.path``; entries of ``PYTHONPATH`` come before it, so the shim wins.
"""

from __future__ import annotations

from pathlib import Path


def path() -> Path:
    """The folder holding ``common/`` and ``dataset/``: the entry for ``PYTHONPATH``."""
    return Path(__file__).resolve().parent
