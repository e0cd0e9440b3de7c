"""The IDX reader: valid files parse; every kind of damage raises a DataError that names the problem."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from fashion_lab.errors import DataError
from fashion_lab.idx import encode_idx, parse_idx, read_file_bytes


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_roundtrip_every_idx_type(dtype):
    a = (np.arange(24) - 5).astype(dtype).reshape(2, 3, 4)
    b = parse_idx(encode_idx(a))
    assert b.dtype == np.dtype(dtype) and b.shape == (2, 3, 4)
    np.testing.assert_array_equal(a, b)


def test_reads_gzip_and_plain_by_content_not_name(tmp_path):
    data = encode_idx(np.arange(10, dtype=np.uint8))
    (tmp_path / "plain.gz").write_bytes(data)  # misleading name: not compressed
    (tmp_path / "packed").write_bytes(gzip.compress(data))
    assert read_file_bytes(tmp_path / "plain.gz") == data
    assert read_file_bytes(tmp_path / "packed") == data


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "too short"),
        (b"\x00\x00\x08", "too short"),
        (b"PK\x03\x04" + b"\x00" * 20, "not an IDX file"),
        (bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]), "not an IDX file"),
        (bytes([0, 0, 0x08, 3, 0, 0, 0, 2]), "damaged header"),
        (encode_idx(np.zeros((4, 28, 28), np.uint8))[:-10], "truncated"),
        (encode_idx(np.zeros((4,), np.uint8)) + b"\x00", "longer than its header says"),
    ],
    ids=["empty", "short", "zip-magic", "bad-type", "short-header", "truncated", "trailing"],
)
def test_malformed_bytes_raise_dataerror(data, message):
    with pytest.raises(DataError, match=message):
        parse_idx(data, name="f")


def test_empty_and_truncated_gzip_files(tmp_path):
    (tmp_path / "empty.gz").write_bytes(b"")
    with pytest.raises(DataError, match="is empty"):
        read_file_bytes(tmp_path / "empty.gz")
    packed = gzip.compress(encode_idx(np.zeros((100, 28, 28), np.uint8)))
    (tmp_path / "cut.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError, match="damaged gzip"):
        read_file_bytes(tmp_path / "cut.gz")
    with pytest.raises(DataError, match="does not exist"):
        read_file_bytes(tmp_path / "absent.gz")
