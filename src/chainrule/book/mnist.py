"""The book's ``dataset/mnist.py`` names, backed by :mod:`chainrule.data`.

``load_mnist(normalize=True, flatten=True, one_hot_label=False)`` is chainrule's loader
(found on disk or downloaded from several mirrors, checksum-verified, cached as
``.npy``: no pickle, so the book's ``save_file`` has no counterpart here).
"""

from __future__ import annotations

import numpy as np  # noqa: F401 - the book's module exports it

from chainrule.data.catalog import DATASETS
from chainrule.data.load import load_mnist
from chainrule.data.locate import cache_dir, locate

__all__ = ["np", "load_mnist", "init_mnist", "download_mnist", "url_base", "key_file",
           "dataset_dir", "train_num", "test_num", "img_dim", "img_size"]

_FILES = DATASETS["mnist"].files
url_base = DATASETS["mnist"].mirrors[0]
"""The first mirror tried (the others follow when it fails)."""
key_file = {"train_img": _FILES[0].name, "train_label": _FILES[1].name,
            "test_img": _FILES[2].name, "test_label": _FILES[3].name}
dataset_dir = str(cache_dir() / "mnist")
"""Where downloaded files go (``$CHAINRULE_DATA`` and other places are searched first)."""
train_num = 60000
test_num = 10000
img_dim = (1, 28, 28)
img_size = 784


def download_mnist() -> None:
    """Make sure the four MNIST files are on disk: found and verified, or downloaded
    into :data:`dataset_dir`."""
    locate("mnist")


def init_mnist() -> None:
    """Download (if needed) and parse MNIST once, so later loads are fast."""
    load_mnist(normalize=False)
