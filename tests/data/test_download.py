"""Downloads against a real HTTP server on 127.0.0.1 that serves good, corrupted,
truncated, oversized, slow and missing files: mirror fallback, checksum rejection,
and no partial or wrong file ever left where it would be used. No real network."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import os
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.data import catalog, download, locate
from chainrule.data.catalog import DataFile
from chainrule.data.download import DownloadError, fetch_file
from chainrule.data.load import load_mnist
from chainrule.data.locate import DatasetNotFoundError, fetch_dataset

NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def idx_bytes(a: np.ndarray) -> bytes:
    return bytes([0, 0, 8, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def tiny_gz(seed: int) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    arrays = (rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
              rng.integers(0, 10, 20, dtype=np.uint8),
              rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
              rng.integers(0, 10, 6, dtype=np.uint8))
    return {n + ".gz": gzip.compress(idx_bytes(a), mtime=0)
            for n, a in zip(NAMES, arrays, strict=True)}


FILES = {"mnist": tiny_gz(1), "fashion-mnist": tiny_gz(2)}
BLOB = FILES["mnist"]["train-images-idx3-ubyte.gz"]


class Handler(http.server.BaseHTTPRequestHandler):
    """``/<mode>/<dataset>/<file>``; ``mode`` decides how the file is (mis)served."""

    log: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        self.log.append(self.path)
        parts = self.path.strip("/").split("/")
        mode, dataset, name = (parts + ["", "", ""])[:3]
        body = FILES.get(dataset, {}).get(name)
        if mode == "missing" or body is None:
            self.send_error(404, "Not Found")
            return
        if mode == "forbidden":
            self.send_error(403, "Forbidden")
            return
        if mode == "corrupt":
            body = body[:50] + bytes([body[50] ^ 0xFF]) + body[51:]
        length = len(body)
        if mode == "truncated":  # promises the whole file, sends half, hangs up
            body = body[: len(body) // 2]
        if mode == "short":  # honest about a shorter file
            body = body[:-10]
            length = len(body)
        if mode == "oversized":  # no Content-Length, too many bytes
            body = body + bytes(1000)
        if mode == "dripheaders":  # a status line, then a header a byte at a time, forever
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            return self._drip(b"z" * 10_000)
        self.send_response(200)
        if mode != "oversized":
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if mode == "slow":
            time.sleep(3)
        if mode == "drip":  # every byte promptly, one every 50 ms: never silent, never done
            return self._drip(body)
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _drip(self, data: bytes) -> None:
        try:
            for i in range(len(data)):
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:  # the client gave up: what it should do
            pass
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A private cache, no found files, tiny registered datasets, no real mirrors."""
    Handler.log.clear()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    for var in ("CHAINRULE_DATA", "CHAINRULE_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CHAINRULE_MIRRORS", "http://127.0.0.1:9/never-used-unless-set/")
    for name, blobs in FILES.items():
        files = tuple(DataFile(n, len(b), sha(b), 0, "") for n, b in blobs.items())
        info = dataclasses.replace(catalog.DATASETS[name], files=files, system_dirs=(),
                                   mirrors=("http://127.0.0.1:9/",))
        monkeypatch.setitem(catalog.DATASETS, name, info)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ---------------------------------------------------------------- fetch_file


def test_falls_back_through_every_kind_of_failure(server, tmp_path):
    dest = tmp_path / "out" / "train-images-idx3-ubyte.gz"
    modes = ["missing", "forbidden", "corrupt", "truncated", "short", "oversized", "good"]
    urls = [f"{server}/{m}/mnist/{dest.name}" for m in modes]
    assert fetch_file(urls, dest, size=len(BLOB), sha256=sha(BLOB), progress=False) == dest
    assert dest.read_bytes() == BLOB
    assert Handler.log == [f"/{m}/mnist/{dest.name}" for m in modes]
    assert leftovers(dest.parent) == [dest.name]  # no .part files anywhere


def test_every_failure_is_reported_and_nothing_is_left(server, tmp_path):
    dest = tmp_path / "out" / "train-images-idx3-ubyte.gz"
    modes = ["missing", "forbidden", "corrupt", "truncated", "short", "oversized"]
    urls = [f"{server}/{m}/mnist/{dest.name}" for m in modes] + ["http://127.0.0.1:9/x"]
    with pytest.raises(DownloadError) as info:
        fetch_file(urls, dest, size=len(BLOB), sha256=sha(BLOB), progress=False)
    reasons = dict(info.value.failures)
    assert list(reasons) == urls
    assert reasons[urls[0]] == "HTTP 404 Not Found"
    assert reasons[urls[1]] == "HTTP 403 Forbidden"
    assert reasons[urls[2]].startswith(f"SHA-256 mismatch: expected {sha(BLOB)}, got ")
    assert "IncompleteRead" in reasons[urls[3]] or "incomplete" in reasons[urls[3]]
    assert reasons[urls[4]] == f"server announced {len(BLOB) - 10} bytes, expected {len(BLOB)}"
    assert reasons[urls[5]] == f"server sent more than the expected {len(BLOB)} bytes"
    assert "ConnectionRefused" in reasons[urls[6]]
    message = str(info.value)
    assert all(url in message for url in urls)
    assert leftovers(dest.parent) == []


def test_existing_file_survives_a_failed_download(server, tmp_path):
    dest = tmp_path / "train-images-idx3-ubyte.gz"
    dest.write_bytes(b"old")
    with pytest.raises(DownloadError):
        fetch_file([f"{server}/corrupt/mnist/{dest.name}"], dest, size=len(BLOB),
                   sha256=sha(BLOB), progress=False)
    assert dest.read_bytes() == b"old" and leftovers(tmp_path) == [dest.name]


def test_timeout_moves_on(server, tmp_path):
    dest = tmp_path / "train-images-idx3-ubyte.gz"
    urls = [f"{server}/slow/mnist/{dest.name}", f"{server}/good/mnist/{dest.name}"]
    start = time.perf_counter()
    fetch_file(urls, dest, size=len(BLOB), sha256=sha(BLOB), timeout=0.3, progress=False)
    assert time.perf_counter() - start < 2.5 and dest.read_bytes() == BLOB


def test_interrupted_download_leaves_no_partial_file(server, tmp_path, monkeypatch):
    class Interrupting:
        def update(self, n):
            raise KeyboardInterrupt

        def close(self):
            pass

    monkeypatch.setattr(download, "_progress_bar", lambda *a: Interrupting())
    dest = tmp_path / "train-images-idx3-ubyte.gz"
    with pytest.raises(KeyboardInterrupt):
        fetch_file([f"{server}/good/mnist/{dest.name}"], dest, size=len(BLOB),
                   sha256=sha(BLOB))
    assert leftovers(tmp_path) == []


def test_progress_bar_on_stderr_and_quiet(server, tmp_path, capsys):
    dest = tmp_path / "train-images-idx3-ubyte.gz"
    url = f"{server}/good/mnist/{dest.name}"
    fetch_file([url], dest, size=len(BLOB), sha256=sha(BLOB), progress=True)
    captured = capsys.readouterr()
    assert dest.name in captured.err and captured.out == ""
    dest.unlink()
    fetch_file([url], dest, size=len(BLOB), sha256=sha(BLOB), progress=False)
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------- through load_mnist


def test_load_mnist_downloads_once_into_the_cache(server, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_MIRRORS",
                       f"{server}/missing/{{dataset}}/, {server}/corrupt/{{dataset}}/ "
                       f"{server}/good/{{dataset}}/")
    (x, t), (xt, tt) = load_mnist(dataset="fashion-mnist", progress=False)
    assert x.shape == (20, 784) and xt.shape == (6, 784)
    cache = tmp_path / "xdg" / "chainrule" / "fashion-mnist"
    assert leftovers(cache) == sorted(FILES["fashion-mnist"])
    for name, blob in FILES["fashion-mnist"].items():
        assert (cache / name).read_bytes() == blob
    assert len(Handler.log) == 12  # 3 mirrors x 4 files, the good one last
    Handler.log.clear()
    (x2, _), _ = load_mnist(dataset="fashion-mnist")
    np.testing.assert_array_equal(x, x2)
    assert Handler.log == []  # found in the cache this time


def test_mirrors_keyword(server, tmp_path):
    status = locate.locate("mnist", mirrors=[f"{server}/good/mnist"], progress=False)
    assert all(f.state == "verified" and f.place.label == "downloaded" for f in status)
    assert Handler.log[0] == "/good/mnist/train-images-idx3-ubyte.gz"


def test_offline_means_no_request(server, monkeypatch):
    monkeypatch.setenv("CHAINRULE_MIRRORS", f"{server}/good/{{dataset}}/")
    monkeypatch.setenv("CHAINRULE_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError, match="CHAINRULE_OFFLINE=1"):
        load_mnist()
    monkeypatch.setenv("CHAINRULE_OFFLINE", "0")
    with pytest.raises(DatasetNotFoundError, match="download=False"):
        load_mnist(download=False)
    assert Handler.log == []


def test_nothing_works_lists_every_address(server, tmp_path, monkeypatch):
    mirrors = [f"{server}/missing/{{dataset}}/", f"{server}/corrupt/{{dataset}}/"]
    monkeypatch.setenv("CHAINRULE_MIRRORS", " ".join(mirrors))
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist(progress=False)
    message = str(info.value)
    assert f"{server}/missing/mnist/train-images-idx3-ubyte.gz: HTTP 404" in message
    assert f"{server}/corrupt/mnist/train-images-idx3-ubyte.gz: SHA-256 mismatch" in message
    assert 'dataset="digits"' in message and "by hand" in message
    assert leftovers(tmp_path / "xdg" / "chainrule" / "mnist") == []


# ---------------------------------------------------------------- the CLI


def test_cli_fetch_then_list(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHAINRULE_MIRRORS", f"{server}/truncated/{{dataset}}/ "
                       f"{server}/good/{{dataset}}")
    assert main(["data", "fetch", "mnist", "--dir", str(tmp_path / "store"), "-q"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "store" / "mnist" / "train-images-idx3-ubyte.gz") in out
    assert leftovers(tmp_path / "store" / "mnist") == sorted(FILES["mnist"])
    assert main(["data", "fetch", "fashion-mnist", "-q"]) == 0
    assert leftovers(tmp_path / "xdg" / "chainrule" / "fashion-mnist") == sorted(
        FILES["fashion-mnist"])

    Handler.log.clear()
    paths = fetch_dataset("fashion-mnist", progress=False)  # already there: nothing fetched
    assert Handler.log == [] and len(paths) == 4

    capsys.readouterr()
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "store"))
    assert main(["data"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "found, verified" in lines[0] and str(tmp_path / "store" / "mnist") in lines[0]
    assert "found, verified" in lines[1] and "user cache" in lines[1]


def test_cli_fetch_failure(server, monkeypatch, capsys):
    monkeypatch.setenv("CHAINRULE_MIRRORS", f"{server}/missing/{{dataset}}/")
    assert main(["data", "fetch", "mnist", "-q"]) == 2
    err = capsys.readouterr().err
    assert "HTTP 404" in err and "could not fetch mnist" in err


# ---------------------------------------------------------------- deadlines and signals


@pytest.mark.parametrize("mode", ["drip", "dripheaders"])
def test_a_dripping_mirror_is_given_up_at_the_deadline(server, tmp_path, mode):
    """One byte every 50 ms never trips the per-read timeout; the deadline for the whole
    file does, for the body and for the headers alike, and the next mirror is used."""
    dest = tmp_path / "train-images-idx3-ubyte.gz"
    urls = [f"{server}/{mode}/mnist/{dest.name}", f"{server}/good/mnist/{dest.name}"]
    start = time.perf_counter()
    fetch_file(urls, dest, size=len(BLOB), sha256=sha(BLOB), timeout=5, deadline=0.6,
               progress=False)
    assert time.perf_counter() - start < 4 and dest.read_bytes() == BLOB
    assert leftovers(tmp_path) == [dest.name]
    with pytest.raises(DownloadError, match=r"too slow: \d+ of \d+ bytes after the deadline"
                                            r" of 0.6 s"):
        fetch_file(urls[:1], tmp_path / "other", size=len(BLOB), sha256=sha(BLOB), timeout=5,
                   deadline=0.6, progress=False)
    assert leftovers(tmp_path) == [dest.name]


def test_deadline_from_the_environment(server, tmp_path, monkeypatch):
    assert download.default_deadline(32 * 1024 * 100) == 160.0  # 60 s + 1 s per 32 KiB
    monkeypatch.setenv("CHAINRULE_DOWNLOAD_DEADLINE", "0.5")
    assert download.default_deadline(10**9) == 0.5
    start = time.perf_counter()
    with pytest.raises(DownloadError, match="deadline of 0.5 s"):
        fetch_file([f"{server}/drip/mnist/train-images-idx3-ubyte.gz"], tmp_path / "x",
                   size=len(BLOB),
                   sha256=sha(BLOB), progress=False)
    assert time.perf_counter() - start < 4
    for bad in ("soon", "0", "-1", "inf", "nan"):
        monkeypatch.setenv("CHAINRULE_DOWNLOAD_DEADLINE", bad)
        with pytest.raises(ValueError, match="CHAINRULE_DOWNLOAD_DEADLINE must be a positive"):
            fetch_file([f"{server}/good/mnist/x"], tmp_path / "x", size=1, sha256="0")
    monkeypatch.setenv("CHAINRULE_DOWNLOAD_DEADLINE", "soon")
    monkeypatch.setenv("CHAINRULE_MIRRORS", f"{server}/good/{{dataset}}/")
    assert main(["data", "fetch", "mnist", "-q"]) == 2  # one line, not a traceback


def test_stale_part_files_are_removed(server, tmp_path):
    dest = tmp_path / "train-images-idx3-ubyte.gz"
    stale, fresh = tmp_path / f".{dest.name}.dead.part", tmp_path / f".{dest.name}.live.part"
    other = tmp_path / ".other.gz.dead.part"
    for p in (stale, fresh, other):
        p.write_bytes(b"half")
    old = time.time() - 2 * download.STALE_PART
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    fetch_file([f"{server}/good/mnist/{dest.name}"], dest, size=len(BLOB), sha256=sha(BLOB),
               progress=False)
    assert leftovers(tmp_path) == sorted([fresh.name, other.name, dest.name])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_no_part_file_survives_a_signal(server, tmp_path, sig):
    """A download killed by SIGTERM (what `timeout`, `kill` and schedulers send), Ctrl-C or
    a closed terminal leaves no .part file behind."""
    dest = tmp_path / "train-images-idx3-ubyte.gz"
    code = textwrap.dedent(f"""
        import signal
        from chainrule.data.download import fetch_file
        signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignored
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        fetch_file([{f"{server}/drip/mnist/{dest.name}"!r}], {str(dest)!r}, size={len(BLOB)},
                   sha256={sha(BLOB)!r}, progress=False)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 20
        while not any(p.suffix == ".part" for p in tmp_path.iterdir()):
            assert time.monotonic() < end and child.poll() is None
            time.sleep(0.02)
        time.sleep(0.2)  # some bytes written
        child.send_signal(sig)
        child.wait(timeout=20)
    finally:
        child.kill()
    assert leftovers(tmp_path) == []
    assert child.returncode == -sig  # Python too dies of an unhandled Ctrl-C


def test_odd_addresses_are_failures_not_crashes(server, tmp_path):
    dest = tmp_path / "train-images-idx3-ubyte.gz"
    source = tmp_path / "local.gz"
    source.write_bytes(BLOB)
    urls = ["nonsense", "gopher://127.0.0.1:9/x", "http://", source.as_uri()]
    fetch_file(urls, dest, size=len(BLOB), sha256=sha(BLOB), progress=False)
    assert dest.read_bytes() == BLOB
    with pytest.raises(DownloadError) as info:
        fetch_file(urls[:3], tmp_path / "x", size=1, sha256="0", progress=False)
    assert [url for url, _ in info.value.failures] == urls[:3]
