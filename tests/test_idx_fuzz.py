"""Property-based fuzzing of the IDX reader: any bytes give valid arrays or a DataError, never anything else.

The suite runs a fixed (derandomized) set of examples, so CI is repeatable; for a long random hunt run
``pytest tests/test_idx_fuzz.py --hypothesis-profile=fuzz`` (profiles are registered in conftest.py).
"""

from __future__ import annotations

import gzip

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fashion_lab.errors import DataError
from fashion_lab.idx import IDX_DTYPES, encode_idx, parse_idx, read_file_bytes

SETTINGS = settings(suppress_health_check=[HealthCheck.too_slow])


def _check(data: bytes) -> None:
    try:
        array = parse_idx(data, name="fuzz")
    except DataError:
        return
    # A returned array must be exactly what the header declares.
    assert data[:2] == b"\x00\x00" and data[2] in IDX_DTYPES
    assert array.ndim == data[3]
    assert array.dtype == IDX_DTYPES[data[2]].newbyteorder("=")
    assert 4 + 4 * array.ndim + array.nbytes == len(data)


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes(data):
    _check(data)


@SETTINGS
@given(st.sampled_from(sorted(IDX_DTYPES)), st.integers(0, 4), st.binary(max_size=200))
def test_plausible_headers_with_random_bodies(code, ndim, rest):
    _check(bytes([0, 0, code, ndim]) + rest)


@st.composite
def mutated_idx(draw):
    shape = draw(st.lists(st.integers(0, 5), min_size=1, max_size=3))
    array = np.arange(int(np.prod(shape)), dtype=np.uint8).reshape(shape)
    data = bytearray(encode_idx(array))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "extend", "insert"]))
        if kind == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[draw(st.integers(0, len(data))):]
        elif kind == "extend":
            data += draw(st.binary(min_size=1, max_size=8))
        else:
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=4))
    return bytes(data)


@SETTINGS
@given(mutated_idx())
# Found by CI's fuzzing: a zero dimension makes the sizes add up, but numpy cannot reshape to (0, 0, 5, 2**28.., 2**31..).
@example(bytes.fromhex("00000805" "00000000" "00000000" "00000005" "1c000000" "ea0ea100"))
def test_mutated_valid_files(data):
    _check(data)


@SETTINGS
@given(mutated_idx(), st.integers(0, 64), st.booleans())
def test_mutated_gzip_files(tmp_path_factory, data, cut, flip):
    packed = bytearray(gzip.compress(data))
    if flip and len(packed) > 12:
        packed[10 + cut % (len(packed) - 10)] ^= 0x55
    else:
        del packed[max(2, len(packed) - cut):]
    path = tmp_path_factory.mktemp("fz") / "f.gz"
    path.write_bytes(bytes(packed))
    try:
        raw = read_file_bytes(path)
    except DataError:
        return
    _check(raw)
