"""read_idx: round trips, every malformation, and fuzzing (only IDXError may come out)."""

from __future__ import annotations

import gzip
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrule.data.idx import IDX_TYPES, IDXError, read_idx

CODES = {np.dtype(v).newbyteorder("="): k for k, v in IDX_TYPES.items()}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` as IDX (big-endian)."""
    code = CODES[array.dtype.newbyteorder("=")]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path: Path, data: bytes, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 5), (2, 1, 3, 2), (0, 28, 28)])
def test_round_trip(tmp_path, gz, dtype, shape):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal(shape) * 100).astype(dtype)
    out = read_idx(write(tmp_path / "a.idx", idx_bytes(array), gz))
    assert out.dtype == np.dtype(dtype).newbyteorder("=") and out.dtype.isnative
    assert out.shape == shape and out.flags.writeable
    np.testing.assert_array_equal(out, array)


def test_gzip_detected_by_content_not_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(read_idx(write(tmp_path / "raw.gz", idx_bytes(array))), array)
    np.testing.assert_array_equal(read_idx(write(tmp_path / "z", idx_bytes(array), True)), array)


GOOD = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "ends inside the IDX header"),
        (b"\x00\x00\x08", "ends inside the IDX header"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "ends inside the IDX header"),
        (b"\x01\x02" + GOOD[2:], "not an IDX file"),
        (b"PK\x03\x04" + GOOD[4:], "not an IDX file"),
        (b"\x00\x00\x07" + GOOD[3:], "unknown IDX type code 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (GOOD[:-1], "should have 40 bytes, but it has 39"),
        (GOOD + b"\x00", "should have 40 bytes, but it has 41"),
        (GOOD[:4] + struct.pack(">3I", 60000, 28, 28) + GOOD[16:], "47040016"),
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_malformed(tmp_path, data, message, gz):
    path = write(tmp_path / "bad.idx", data, gz)
    if gz and "should have" in message:
        message = "truncated" if len(data) < len(GOOD) else "more data follows"
    if gz and "47040016" in message:
        message = "truncated"
    with pytest.raises(IDXError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_broken_gzip(tmp_path):
    packed = gzip.compress(GOOD * 50)
    for data in (packed[: len(packed) // 2], packed[:-3] + b"\xff\xff\xff", packed + b"junk"):
        with pytest.raises(IDXError, match="gzip|truncated|more data"):
            read_idx(write(tmp_path / "bad.gz", data))


def test_missing_file_is_not_an_idx_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.idx")


def test_max_bytes(tmp_path):
    path = write(tmp_path / "a.idx", GOOD)
    with pytest.raises(IDXError, match="limit of 10 bytes"):
        read_idx(path, max_bytes=10)
    assert read_idx(path, max_bytes=None).shape == (2, 3, 4)


@pytest.mark.parametrize("gz", [False, True])
def test_lying_header_allocates_nothing_big(tmp_path, gz):
    """A header declaring ~1 GB (or 2**96 bytes) over 100 real bytes fails fast and small."""
    for dims in [(1000, 1000, 1000), (2**32 - 1, 2**32 - 1, 2**32 - 1)]:
        data = b"\x00\x00\x08\x03" + struct.pack(">3I", *dims) + bytes(100)
        path = write(tmp_path / "liar.idx", data, gz)
        tracemalloc.start()
        try:
            with pytest.raises(IDXError):
                read_idx(path, max_bytes=None)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 16 * 2**20


@pytest.fixture(scope="module")
def fuzz_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "fuzz.idx"


def _read_bytes(path: Path, data: bytes) -> None:
    """Only an array or IDXError may come out, whatever the bytes."""
    path.write_bytes(data)
    try:
        out = read_idx(path, max_bytes=1 << 24)
    except IDXError:
        return
    assert isinstance(out, np.ndarray)


FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_arbitrary_bytes(fuzz_file, data):
    _read_bytes(fuzz_file, data)


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_arbitrary_gzipped_bytes(fuzz_file, data):
    _read_bytes(fuzz_file, gzip.compress(data))


REAL_HEADERS = [
    b"\x00\x00\x08\x03" + struct.pack(">3I", 60000, 28, 28),
    b"\x00\x00\x08\x01" + struct.pack(">I", 60000),
    b"\x00\x00\x08\x03" + struct.pack(">3I", 10000, 28, 28),
    b"\x00\x00\x08\x01" + struct.pack(">I", 10000),
]


@FUZZ
@given(
    header=st.sampled_from(REAL_HEADERS),
    edits=st.lists(st.tuples(st.integers(0, 15), st.integers(0, 255)), max_size=4),
    body=st.binary(max_size=64),
    gz=st.booleans(),
)
def test_fuzz_mutated_real_headers(fuzz_file, header, edits, body, gz):
    mutated = bytearray(header)
    for position, value in edits:
        if position < len(mutated):
            mutated[position] = value
    data = bytes(mutated) + body
    _read_bytes(fuzz_file, gzip.compress(data) if gz else data)


@FUZZ
@given(cut=st.integers(0, 200), flip=st.integers(0, 300), bit=st.integers(0, 7))
def test_fuzz_damaged_gzip_of_valid_file(fuzz_file, cut, flip, bit):
    packed = bytearray(gzip.compress(GOOD * 4))
    if flip < len(packed):
        packed[flip] ^= 1 << bit
    _read_bytes(fuzz_file, bytes(packed[: len(packed) - cut]))
