"""load_mnist on tiny IDX files made here: every option, the search order, verification,
the .npy cache, digits, the status report and the CLI listing. No network, no real cache."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

import chainrule
from chainrule.cli import main
from chainrule.data import catalog, load, locate
from chainrule.data.catalog import DataFile, class_names
from chainrule.data.download import ChecksumError
from chainrule.data.idx import IDXError
from chainrule.data.load import load_mnist
from chainrule.data.locate import DatasetNotFoundError, dataset_status, search_places

NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def idx_bytes(a: np.ndarray) -> bytes:
    return bytes([0, 0, 8, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def tiny_arrays(seed: int, n_train: int = 12, n_test: int = 5, side: int = 28):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
            ((np.arange(n_train) + seed) % 10).astype(np.uint8),  # every class, seeded
            rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
            rng.permutation(10)[:n_test].astype(np.uint8))


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


class Tiny:
    """A tiny dataset registered under a real name, with its files' bytes."""

    def __init__(self, monkeypatch, name: str, seed: int):
        self.name, self.arrays = name, tiny_arrays(seed)
        self.raw = {n: idx_bytes(a) for n, a in zip(NAMES, self.arrays, strict=True)}
        self.gz = {n + ".gz": gzip.compress(r, mtime=0) for n, r in self.raw.items()}
        files = tuple(DataFile(n + ".gz", len(self.gz[n + ".gz"]), sha(self.gz[n + ".gz"]),
                               len(self.raw[n]), sha(self.raw[n])) for n in NAMES)
        info = dataclasses.replace(catalog.DATASETS[name], files=files, system_dirs=())
        monkeypatch.setitem(catalog.DATASETS, name, info)
        for f in files:
            monkeypatch.setitem(locate._KNOWN, f.sha256, (name, f.name))
            monkeypatch.setitem(locate._KNOWN, f.raw_sha256, (name, f.name))

    def write(self, folder: Path, gz: bool = True) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for n, b in (self.gz if gz else self.raw).items():
            (folder / n).write_bytes(b)
        return folder


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A private cache, no CHAINRULE_DATA, and the network off: nothing real is touched."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CHAINRULE_DATA", raising=False)
    monkeypatch.delenv("CHAINRULE_MIRRORS", raising=False)
    monkeypatch.setenv("CHAINRULE_OFFLINE", "1")
    for name in catalog.DATASETS:
        info = dataclasses.replace(catalog.DATASETS[name], system_dirs=())
        monkeypatch.setitem(catalog.DATASETS, name, info)


@pytest.fixture
def mnist(monkeypatch):
    return Tiny(monkeypatch, "mnist", seed=1)


@pytest.fixture
def fashion(monkeypatch):
    return Tiny(monkeypatch, "fashion-mnist", seed=2)


# ---------------------------------------------------------------- the book's options


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("flatten", [True, False])
@pytest.mark.parametrize("one_hot", [True, False])
def test_every_option(tmp_path, mnist, normalize, flatten, one_hot):
    folder = mnist.write(tmp_path / "d")
    (x, t), (xt, tt) = load_mnist(normalize=normalize, flatten=flatten,
                                  one_hot_label=one_hot, data_dir=folder)
    x_ref, t_ref, xt_ref, tt_ref = mnist.arrays
    for got, ref, labels, ref_labels in ((x, x_ref, t, t_ref), (xt, xt_ref, tt, tt_ref)):
        n = len(ref)
        assert got.shape == ((n, 784) if flatten else (n, 1, 28, 28))
        if normalize:
            assert got.dtype == np.float32 and 0 <= got.min() and got.max() <= 1
            expected = ref.astype(np.float32)
            expected /= 255.0  # the book's arithmetic, bit for bit
            np.testing.assert_array_equal(got.reshape(ref.shape), expected)
        else:
            assert got.dtype == np.uint8
            np.testing.assert_array_equal(got.reshape(ref.shape), ref)
        if one_hot:
            assert labels.shape == (n, 10) and labels.dtype == np.float32
            np.testing.assert_array_equal(labels.argmax(1), ref_labels)
            np.testing.assert_array_equal(labels.sum(1), 1)
        else:
            assert labels.shape == (n,) and labels.dtype == np.int64
            np.testing.assert_array_equal(labels, ref_labels)
        assert got.flags.writeable and labels.flags.writeable


def test_positional_book_call_and_dtype(tmp_path, mnist):
    folder = mnist.write(tmp_path / "d")
    (x, t), _ = load_mnist(True, False, True, data_dir=folder, dtype=np.float64)
    assert x.dtype == np.float64 and t.dtype == np.float64 and x.shape == (12, 1, 28, 28)


def test_bad_arguments(tmp_path, mnist):
    folder = mnist.write(tmp_path / "d")
    with pytest.raises(ValueError, match="floating"):
        load_mnist(data_dir=folder, dtype=np.int32)
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        load_mnist(dataset="cifar")


def test_class_names():
    assert class_names() == tuple("0123456789")
    assert class_names("fashion-mnist")[0] == "T-shirt/top"
    assert class_names("fashion-mnist")[9] == "Ankle boot"
    assert class_names("digits") == tuple("0123456789")


# ---------------------------------------------------------------- where files are found


def test_search_order(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_DATA", f"{tmp_path / 'e1'}{os.pathsep}{tmp_path / 'e2'}")
    info = dataclasses.replace(catalog.DATASETS["fashion-mnist"], system_dirs=("/deb",))
    monkeypatch.setitem(catalog.DATASETS, "fashion-mnist", info)
    places = search_places("fashion-mnist", tmp_path / "arg")
    assert [(p.label, p.path) for p in places] == [
        ("data_dir argument", tmp_path / "arg" / "fashion-mnist"),
        ("data_dir argument", tmp_path / "arg"),
        ("CHAINRULE_DATA", tmp_path / "e1" / "fashion-mnist"),
        ("CHAINRULE_DATA", tmp_path / "e1"),
        ("CHAINRULE_DATA", tmp_path / "e2" / "fashion-mnist"),
        ("CHAINRULE_DATA", tmp_path / "e2"),
        ("user cache", tmp_path / "xdg" / "chainrule" / "fashion-mnist"),
        ("Debian package", Path("/deb")),
    ]


def test_cache_dir_default(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert locate.cache_dir() == tmp_path / ".cache" / "chainrule"


def _where(name="mnist", **kw):
    return {f.place.label for f in dataset_status(name, **kw).files if f.place}


def test_found_in_each_place(tmp_path, monkeypatch, mnist, fashion):
    fashion.write(tmp_path / "xdg" / "chainrule" / "fashion-mnist")
    assert _where("fashion-mnist") == {"user cache"}
    debian = fashion.write(tmp_path / "debian")
    info = dataclasses.replace(catalog.DATASETS["fashion-mnist"], system_dirs=(str(debian),))
    monkeypatch.setitem(catalog.DATASETS, "fashion-mnist", info)
    assert _where("fashion-mnist") == {"user cache"}  # the cache comes before Debian
    for f in (tmp_path / "xdg" / "chainrule" / "fashion-mnist").iterdir():
        f.unlink()
    assert _where("fashion-mnist") == {"Debian package"}
    (x, _), _ = load_mnist(dataset="fashion-mnist", normalize=False)
    np.testing.assert_array_equal(x.reshape(-1, 28, 28), fashion.arrays[0])

    mnist.write(tmp_path / "env" / "mnist")
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "env"))
    assert _where() == {"CHAINRULE_DATA"}
    mnist.write(tmp_path / "arg")
    assert _where(data_dir=tmp_path / "arg") == {"data_dir argument"}


def test_both_datasets_side_by_side_and_flat(tmp_path, monkeypatch, mnist, fashion):
    """CHAINRULE_DATA may hold mnist/ and fashion-mnist/, or one set of files directly;
    a file that is the other dataset's (same names!) is skipped, never used."""
    mnist.write(tmp_path / "root" / "mnist")
    fashion.write(tmp_path / "root" / "fashion-mnist")
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "root"))
    (xm, _), _ = load_mnist(normalize=False)
    (xf, _), _ = load_mnist(normalize=False, dataset="fashion-mnist")
    np.testing.assert_array_equal(xm.reshape(-1, 28, 28), mnist.arrays[0])
    np.testing.assert_array_equal(xf.reshape(-1, 28, 28), fashion.arrays[0])

    monkeypatch.setenv("CHAINRULE_DATA", str(mnist.write(tmp_path / "flat")))
    assert dataset_status("mnist").verified
    status = dataset_status("fashion-mnist")
    assert not status.found and all(f.state == "missing" for f in status.files)
    with pytest.raises(DatasetNotFoundError, match="is mnist's train-images-idx3-ubyte.gz"):
        load_mnist(dataset="fashion-mnist")


def test_gunzipped_files_are_accepted(tmp_path, mnist):
    folder = mnist.write(tmp_path / "raw", gz=False)
    status = dataset_status("mnist", folder)
    assert status.verified and all(f.path.suffix != ".gz" for f in status.files)
    (x, t), _ = load_mnist(normalize=False, data_dir=folder)
    np.testing.assert_array_equal(x.reshape(-1, 28, 28), mnist.arrays[0])


# ---------------------------------------------------------------- verification


@pytest.mark.parametrize("damage", ["truncate", "flip", "foreign"])
def test_bad_file_is_refused_loudly_and_never_used(tmp_path, mnist, damage):
    folder = mnist.write(tmp_path / "d")
    target = folder / "train-images-idx3-ubyte.gz"
    good = target.read_bytes()
    bad = {"truncate": good[: len(good) // 2],
           "flip": good[:100] + bytes([good[100] ^ 1]) + good[101:],
           "foreign": b"hello"}[damage]
    target.write_bytes(bad)
    with pytest.raises(ChecksumError) as info:
        load_mnist(data_dir=folder)
    message = str(info.value)
    assert str(target) in message and sha(good) in message and sha(bad) in message
    assert f"{len(bad)} bytes" in message and "verify=False" in message
    arrays = tmp_path / "xdg" / "chainrule" / "arrays"
    assert not arrays.exists() or not any(sha(bad) in p.name for p in arrays.iterdir())
    # a good copy further down the search order does not hide the bad one
    mnist.write(tmp_path / "xdg" / "chainrule" / "mnist")
    with pytest.raises(ChecksumError):
        load_mnist(data_dir=folder)
    status = dataset_status("mnist", folder)
    assert status.files[0].state == "corrupt" and not status.found


def test_file_changed_after_verification_is_caught(tmp_path, mnist):
    folder = mnist.write(tmp_path / "d")
    load_mnist(data_dir=folder)
    target = folder / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(target.read_bytes())
    data[20] ^= 0xFF
    target.write_bytes(bytes(data))  # same size, new mtime
    os.utime(target, ns=(1, 1))
    with pytest.raises(ChecksumError, match="t10k-labels"):
        load_mnist(data_dir=folder)


def test_hashes_are_remembered_by_size_and_mtime(tmp_path, mnist, monkeypatch):
    folder = mnist.write(tmp_path / "d")
    load_mnist(data_dir=folder)
    memo = tmp_path / "xdg" / "chainrule" / "hashes.json"
    assert memo.is_file() and str(folder / NAMES[0]) in memo.read_text()
    calls = []
    with monkeypatch.context() as m:
        m.setattr(locate, "sha256_file", lambda p: calls.append(p) or "x")
        load_mnist(data_dir=folder)
    assert calls == []
    memo.write_text("{not json")
    load_mnist(data_dir=folder)  # a broken memo is rebuilt, not trusted
    assert str(folder / NAMES[0]) in memo.read_text()


def test_verify_false_reads_custom_idx(tmp_path, mnist):
    folder = tmp_path / "custom"
    folder.mkdir()
    rng = np.random.default_rng(5)
    custom = (rng.integers(0, 256, (6, 5, 7), dtype=np.uint8), np.arange(6, dtype=np.uint8),
              rng.integers(0, 256, (2, 5, 7), dtype=np.uint8), np.array([1, 2], np.uint8))
    for n, a in zip(NAMES, custom, strict=True):
        (folder / n).write_bytes(idx_bytes(a))
    with pytest.raises(ChecksumError):
        load_mnist(data_dir=folder)
    (x, t), (xt, tt) = load_mnist(data_dir=folder, verify=False, flatten=False)
    assert x.shape == (6, 1, 5, 7) and xt.shape == (2, 1, 5, 7)
    np.testing.assert_array_equal(t, np.arange(6))
    (folder / NAMES[1]).write_bytes(idx_bytes(np.array([0, 1, 2, 3, 4, 10], np.uint8)))
    with pytest.raises(ValueError, match="label 10 out of range"):
        load_mnist(data_dir=folder, verify=False, one_hot_label=True)
    (folder / NAMES[1]).write_bytes(idx_bytes(np.zeros((6, 2), np.uint8)))
    with pytest.raises(IDXError, match="expected labels"):
        load_mnist(data_dir=folder, verify=False)
    (folder / NAMES[1]).write_bytes(idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(ValueError, match="6 images but 5 labels"):
        load_mnist(data_dir=folder, verify=False)


# ---------------------------------------------------------------- not found


def test_not_found_says_everything(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "env"))
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist(data_dir=tmp_path / "arg")
    message = str(info.value)
    for text in [str(tmp_path / "arg"), str(tmp_path / "env" / "mnist"),
                 str(tmp_path / "xdg" / "chainrule" / "mnist"), "CHAINRULE_OFFLINE=1",
                 "train-images-idx3-ubyte.gz  9912422 bytes", "ossci-datasets", "cvdf-datasets",
                 'dataset="digits"', "place the files by hand"]:
        assert text in message
    assert isinstance(info.value, FileNotFoundError)
    monkeypatch.delenv("CHAINRULE_OFFLINE")
    with pytest.raises(DatasetNotFoundError, match=r"off \(download=False\)"):
        load_mnist(download=False)


# ---------------------------------------------------------------- the .npy cache


def test_npy_cache_is_used_and_safe(tmp_path, mnist, monkeypatch):
    folder = mnist.write(tmp_path / "d")
    (x1, t1), _ = load_mnist(normalize=False, data_dir=folder)
    arrays = tmp_path / "xdg" / "chainrule" / "arrays"
    cached = sorted(p.name for p in arrays.iterdir())
    assert cached == sorted(f"{f.sha256}.npy" for f in catalog.DATASETS["mnist"].files)
    for p in arrays.iterdir():
        np.load(p, allow_pickle=False)  # plain arrays: loadable without pickle
    x1[:] = 0  # the caller's arrays are their own; the cache is untouched
    t1[:] = 0

    def no_parsing(path, **kw):
        raise AssertionError("parsed again")

    with monkeypatch.context() as m:
        m.setattr(load, "read_idx", no_parsing)
        (x2, t2), _ = load_mnist(normalize=False, data_dir=folder)
    np.testing.assert_array_equal(x2.reshape(-1, 28, 28), mnist.arrays[0])
    np.testing.assert_array_equal(t2, mnist.arrays[1])
    assert x2.flags.writeable and type(x2.base) is np.ndarray and x2.base.flags.owndata

    broken = arrays / f"{catalog.DATASETS['mnist'].files[0].sha256}.npy"
    broken.write_bytes(broken.read_bytes()[:200])  # truncated cache: rebuilt
    (x3, _), _ = load_mnist(normalize=False, data_dir=folder)
    np.testing.assert_array_equal(x3.reshape(-1, 28, 28), mnist.arrays[0])
    assert broken.stat().st_size > 200


def test_unwritable_cache_still_loads(tmp_path, mnist, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    folder = mnist.write(tmp_path / "d")
    (x, _), _ = load_mnist(normalize=False, data_dir=folder)
    assert x.shape == (12, 784)


def test_nothing_written_inside_the_package(tmp_path, mnist):
    package = Path(chainrule.__file__).parent

    def snapshot():
        return {p for p in package.rglob("*") if "__pycache__" not in p.parts}

    before = snapshot()
    load_mnist(data_dir=mnist.write(tmp_path / "d"))
    assert snapshot() == before


# ---------------------------------------------------------------- digits


def test_digits():
    pytest.importorskip("sklearn")
    (x, t), (xt, tt) = load_mnist(dataset="digits")
    assert x.shape == (1438, 64) and xt.shape == (359, 64) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() == 1 and t.dtype == np.int64 and set(t) == set(range(10))
    (x2, t2), (xt2, tt2) = load_mnist(dataset="digits")
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(tt, tt2)
    (xr, tr), (xtr, _) = load_mnist(False, False, True, dataset="digits")
    assert xr.shape == (1438, 1, 8, 8) and xr.dtype == np.uint8 and xr.max() == 16
    assert tr.shape == (1438, 10) and xtr.shape == (359, 1, 8, 8)
    from sklearn.datasets import load_digits

    every = load_digits().data.astype(np.uint8)
    together = np.concatenate([xr.reshape(-1, 64), xtr.reshape(-1, 64)])
    assert sorted(map(bytes, together)) == sorted(map(bytes, every))  # a true split


def test_digits_without_sklearn(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError("no sklearn")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"chainrule\[digits\]"):
        load_mnist(dataset="digits")


# ---------------------------------------------------------------- status and CLI


def test_status_and_cli_listing(tmp_path, monkeypatch, capsys, mnist, fashion):
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "root"))
    mnist.write(tmp_path / "root" / "mnist")
    assert main(["data"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "found, verified" in lines["mnist"] and str(tmp_path / "root" / "mnist") in out
    assert "missing" in lines["fashion-mnist"]
    assert "chainrule data fetch fashion-mnist" in lines["fashion-mnist"]

    assert main(["data", "-v"]) == 0
    out = capsys.readouterr().out
    assert "looked in, in order:" in out and str(tmp_path / "xdg") in out

    bad = fashion.write(tmp_path / "root" / "fashion-mnist") / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(b"junk")
    assert main(["data"]) == 1
    out = capsys.readouterr().out
    assert "CORRUPT" in out and str(bad) in out


def test_cli_fetch_refusals(capsys):
    assert main(["data", "fetch", "digits"]) == 2
    assert "scikit-learn" in capsys.readouterr().err
    assert main(["data", "fetch", "cifar"]) == 2
    assert main(["data", "fetch", "mnist"]) == 2  # offline
    assert "CHAINRULE_OFFLINE" in capsys.readouterr().err


# ---------------------------------------------------------------- the cache cannot be poisoned


def _arrays(tmp_path) -> Path:
    return tmp_path / "xdg" / "chainrule" / "arrays"


def _keep_stat(path: Path, data: bytes) -> None:
    """Rewrite ``path`` with ``data`` of the same size, its mtime put back."""
    st = path.stat()
    assert len(data) == st.st_size
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_source_changed_with_size_and_mtime_kept_is_not_verified(tmp_path, mnist, capsys,
                                                                 monkeypatch):
    """The change time (which no program can set back) is part of what a remembered hash
    is tied to, so such a file is hashed again and refused."""
    folder = mnist.write(tmp_path / "d", gz=False)
    load_mnist(data_dir=folder)
    target = folder / NAMES[1]
    data = bytearray(target.read_bytes())
    data[-1] = (data[-1] + 1) % 10
    _keep_stat(target, bytes(data))
    status = dataset_status("mnist", folder)
    assert status.files[1].state == "corrupt" and not status.verified
    with pytest.raises(ChecksumError, match=NAMES[1]):
        load_mnist(data_dir=folder)
    monkeypatch.setenv("CHAINRULE_DATA", str(folder))
    assert main(["data"]) == 1
    assert "CORRUPT" in capsys.readouterr().out


def test_stale_hash_never_stores_a_bad_parse(tmp_path, mnist):
    """Even when the remembered hash is stale (here: forged to match), the parse is checked
    against the official checksum of the uncompressed file before it is cached."""
    folder = mnist.write(tmp_path / "d", gz=False)
    load_mnist(data_dir=folder)
    shutil.rmtree(_arrays(tmp_path))
    target = folder / NAMES[1]
    data = bytearray(target.read_bytes())
    data[-1] = (data[-1] + 1) % 10
    _keep_stat(target, bytes(data))
    memo_path = tmp_path / "xdg" / "chainrule" / "hashes.json"
    memo = json.loads(memo_path.read_text())
    entry = memo[str(target.resolve())]
    entry.update(locate._identity(target.stat()))  # the memo now vouches for the new bytes
    memo_path.write_text(json.dumps(memo))
    with pytest.raises(ChecksumError, match="changed after it was verified"):
        load_mnist(data_dir=folder)
    genuine = catalog.DATASETS["mnist"].files[1]
    assert not (_arrays(tmp_path) / f"{genuine.raw_sha256}.npy").exists()
    assert str(target.resolve()) not in json.loads(memo_path.read_text())  # forgotten
    assert dataset_status("mnist", folder).files[1].state == "corrupt"


def _cached(tmp_path, i: int) -> Path:
    return _arrays(tmp_path) / f"{catalog.DATASETS['mnist'].files[i].sha256}.npy"


@pytest.mark.parametrize("damage", ["flip a byte", "wrong labels", "labels out of range",
                                    "another shape", "not npy"])
def test_a_damaged_cache_is_detected_and_rebuilt(tmp_path, mnist, damage):
    folder = mnist.write(tmp_path / "d")
    load_mnist(data_dir=folder)
    images, labels = _cached(tmp_path, 0), _cached(tmp_path, 1)
    if damage == "flip a byte":
        data = bytearray(images.read_bytes())
        data[-5] ^= 0x40
        images.write_bytes(bytes(data))
    elif damage == "wrong labels":
        np.save(labels, (mnist.arrays[1] + 1) % 10)
    elif damage == "labels out of range":
        np.save(labels, np.full(len(mnist.arrays[1]), 200, np.uint8))
    elif damage == "another shape":
        np.save(images, mnist.arrays[0][:, :14])
    else:
        images.write_bytes(b"junk")
    (x, t), _ = load_mnist(data_dir=folder, normalize=False, one_hot_label=True)
    np.testing.assert_array_equal(x.reshape(-1, 28, 28), mnist.arrays[0])
    np.testing.assert_array_equal(t.argmax(1), mnist.arrays[1])
    np.testing.assert_array_equal(np.load(images), mnist.arrays[0])  # rebuilt
    np.testing.assert_array_equal(np.load(labels), mnist.arrays[1])


def test_a_good_cache_is_used_without_parsing(tmp_path, mnist, monkeypatch):
    folder = mnist.write(tmp_path / "d")
    load_mnist(data_dir=folder)
    monkeypatch.setattr(load, "read_idx", lambda *a, **k: pytest.fail("parsed again"))
    (x, _), _ = load_mnist(data_dir=folder, normalize=False)
    np.testing.assert_array_equal(x.reshape(-1, 28, 28), mnist.arrays[0])


def test_unverified_files_are_checked_against_their_recorded_checksum(tmp_path):
    folder = tmp_path / "custom"
    folder.mkdir()
    arrays = (np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4), np.array([1, 2], np.uint8),
              np.ones((1, 4, 4), np.uint8), np.array([3], np.uint8))
    for n, a in zip(NAMES, arrays, strict=True):
        (folder / n).write_bytes(idx_bytes(a))
    load_mnist(data_dir=folder, verify=False)
    key = sha(idx_bytes(arrays[1]))
    sidecar = _arrays(tmp_path) / f"{key}.json"
    assert json.loads(sidecar.read_text()) == {"idx_sha256": key}
    np.save(_arrays(tmp_path) / f"{key}.npy", np.array([7, 7], np.uint8))
    (_, t), _ = load_mnist(data_dir=folder, verify=False)
    np.testing.assert_array_equal(t, [1, 2])
    sidecar.unlink()  # no record: parsed again, not trusted
    np.save(_arrays(tmp_path) / f"{key}.npy", np.array([7, 7], np.uint8))
    (_, t), _ = load_mnist(data_dir=folder, verify=False)
    np.testing.assert_array_equal(t, [1, 2])


def test_a_deeply_nested_hash_memo_is_ignored(tmp_path, mnist):
    folder = mnist.write(tmp_path / "d")
    memo = tmp_path / "xdg" / "chainrule" / "hashes.json"
    memo.parent.mkdir(parents=True)
    memo.write_text("[" * 200_000 + "]" * 200_000)
    (x, _), _ = load_mnist(data_dir=folder, normalize=False)
    assert x.shape == (12, 784) and str(folder / NAMES[0]) in memo.read_text()


@pytest.mark.parametrize("bad", [123, 4.5, ["a"], b"bytes"])
def test_data_dir_must_be_a_path(bad):
    with pytest.raises(TypeError, match="data_dir must be a folder path"):
        load_mnist(data_dir=bad)


@pytest.mark.parametrize("bad", [3, None, ["mnist"]])
def test_dataset_must_be_a_name(bad):
    with pytest.raises(ValueError, match="unknown dataset"):
        load_mnist(dataset=bad)


def test_unreadable_file_is_reported_not_raised(tmp_path, mnist, monkeypatch, capsys):
    """Tests run as root, where chmod 000 reads anyway: the read is made to fail instead."""
    folder = mnist.write(tmp_path / "d")
    target = folder / "t10k-images-idx3-ubyte.gz"
    real = locate.sha256_file

    def denied(path):
        if Path(path) == target:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(locate, "sha256_file", denied)
    status = dataset_status("mnist", folder)
    assert status.files[2].state == "unreadable" and "Permission denied" in str(
        status.files[2].error)
    with pytest.raises(OSError, match="cannot be read .Permission denied.; fix its perm"):
        load_mnist(data_dir=folder)
    monkeypatch.setenv("CHAINRULE_DATA", str(folder))
    assert main(["data"]) == 1
    captured = capsys.readouterr()
    assert "UNREADABLE" in captured.out and str(target) in captured.out
    assert "Traceback" not in captured.err
