"""The real MNIST and Fashion-MNIST files from ``$CHAINRULE_DATA`` (see conftest.py):
checksums, shapes, dtypes, label counts, a corrupted copy refused, the CLI report."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest

from chainrule import load_mnist
from chainrule.cli import main
from chainrule.data import catalog
from chainrule.data.catalog import DATASETS
from chainrule.data.download import ChecksumError
from chainrule.data.locate import dataset_status

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("xdg")


@pytest.fixture(autouse=True)
def isolated(module_cache, real_data_root, monkeypatch):
    """Real files through CHAINRULE_DATA, a cache shared by this module only, no network."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(module_cache))
    monkeypatch.setenv("CHAINRULE_DATA", str(real_data_root))
    monkeypatch.setenv("CHAINRULE_OFFLINE", "1")
    monkeypatch.delenv("CHAINRULE_MIRRORS", raising=False)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_checksums_match_registry_and_sha256sums(real_data_root, name):
    folder = real_data_root / name
    listed = dict(reversed(line.split()) for line in
                  (folder / "SHA256SUMS").read_text().splitlines() if line.strip())
    for f in DATASETS[name].files:
        data = (folder / f.name).read_bytes()
        assert len(data) == f.size
        assert hashlib.sha256(data).hexdigest() == f.sha256 == listed[f.name]


def test_mnist_as_the_book_loads_it():
    (x, t), (xt, tt) = load_mnist(one_hot_label=True)
    assert (x.shape, x.dtype, t.shape, t.dtype) == ((60000, 784), np.float32, (60000, 10),
                                                    np.float32)
    assert (xt.shape, tt.shape) == ((10000, 784), (10000, 10))
    assert x.min() == 0 and x.max() == 1
    np.testing.assert_array_equal(t.sum(0), MNIST_TRAIN_COUNTS)
    np.testing.assert_array_equal(tt.sum(0), MNIST_TEST_COUNTS)


def test_mnist_raw_images_and_index_labels():
    (x, t), (xt, tt) = load_mnist(normalize=False, flatten=False)
    assert x.shape == (60000, 1, 28, 28) and x.dtype == np.uint8 and x.max() == 255
    assert t.dtype == np.int64 and t.shape == (60000,)
    np.testing.assert_array_equal(np.bincount(t), MNIST_TRAIN_COUNTS)
    np.testing.assert_array_equal(np.bincount(tt), MNIST_TEST_COUNTS)
    assert list(t[:10]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert int(x.sum(dtype=np.int64)) == 1_567_298_545  # mean 0.1307 * 255, as known


def test_fashion_mnist():
    (x, t), (xt, tt) = load_mnist(dataset="fashion-mnist")
    assert x.shape == (60000, 784) and xt.shape == (10000, 784) and x.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(t), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(tt), [1000] * 10)
    assert catalog.class_names("fashion-mnist")[t[0]] == "Ankle boot"


def test_conftest_style_data_dir(real_data_root):
    (x, t), _ = load_mnist(data_dir=real_data_root / "mnist", download=False)
    assert x.shape == (60000, 784) and t[0] == 5


def test_corrupted_copy_is_refused(real_data_root, tmp_path, module_cache):
    copy = tmp_path / "mnist"
    shutil.copytree(real_data_root / "mnist", copy)
    target = copy / "t10k-images-idx3-ubyte.gz"
    target.chmod(0o644)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    actual = hashlib.sha256(data).hexdigest()
    with pytest.raises(ChecksumError) as info:
        load_mnist(data_dir=copy)
    message = str(info.value)
    assert str(target) in message and actual in message
    assert DATASETS["mnist"].files[2].sha256 in message
    assert not (module_cache / "chainrule" / "arrays" / f"{actual}.npy").exists()


def test_status_and_cli_report_both_verified(real_data_root, capsys):
    for name in ("mnist", "fashion-mnist"):
        status = dataset_status(name)
        assert status.found and status.verified
        assert [p.path for p in status.folders] == [real_data_root / name]
    assert main(["data"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "mnist" and "found, verified" in lines[0]
    assert lines[1].split()[0] == "fashion-mnist" and "found, verified" in lines[1]


def test_load_mnist_returns_plain_arrays_not_the_cache(real_data_root):
    from chainrule import load_mnist

    for normalize in (True, False):
        (x, t), (xt, tt) = load_mnist(normalize=normalize, data_dir=real_data_root / "mnist",
                                      download=False)
        assert all(type(a) is np.ndarray for a in (x, t, xt, tt))
