"""Reading IDX files, the format Fashion-MNIST and MNIST are distributed in.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
one big-endian uint32 per dimension, then the values in C order. Files may be gzip-compressed;
the reader looks at the bytes, not the file name, to tell.

Example:
    >>> import numpy as np
    >>> data = bytes([0, 0, 0x08, 1]) + (3).to_bytes(4, "big") + bytes([7, 8, 9])
    >>> parse_idx(data)
    array([7, 8, 9], dtype=uint8)
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from .errors import DataError

# Type code (third byte of the magic number) -> numpy dtype, as in the IDX specification.
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

GZIP_MAGIC = b"\x1f\x8b"


class IdxFormatError(DataError):
    """The bytes are not a well-formed IDX file (or a gzip of one)."""


def read_file_bytes(path: str | Path) -> bytes:
    """Return the IDX bytes of ``path``, decompressing it when it is gzip.

    Raises:
        DataError: the file is missing, empty, unreadable, or a truncated/corrupt gzip.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"data file {path} does not exist.") from None
    except OSError as e:
        raise DataError(f"cannot read data file {path}: {e.strerror or e}.") from None
    if not raw:
        raise DataError(f"data file {path} is empty (0 bytes); it was probably cut off while being copied or downloaded.")
    if raw[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            raise DataError(
                f"data file {path} is a damaged gzip file ({e}); it was probably cut off while being copied or downloaded."
            ) from None
    return raw


def parse_idx(data: bytes, *, name: str = "IDX data") -> np.ndarray:
    """Parse IDX bytes into a numpy array in native byte order.

    Args:
        data: the uncompressed IDX bytes.
        name: how to refer to the data in error messages (usually the file path).

    Raises:
        IdxFormatError: wrong magic number, unknown type code, or a size that does not match the header.
    """
    if len(data) < 4:
        raise IdxFormatError(f"{name} is too short to be an IDX file ({len(data)} bytes; the header alone is at least 4).")
    if data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise IdxFormatError(
            f"{name} is not an IDX file: its magic number is {data[:4].hex()} "
            f"(an IDX file starts with 0000 followed by a type code, e.g. 00000803 for images)."
        )
    dtype = IDX_DTYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise IdxFormatError(f"{name} has a damaged header: it declares {ndim} dimensions but has {len(data)} bytes.")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + math.prod(dims) * dtype.itemsize  # Python ints: no overflow on absurd headers
    if len(data) != expected:
        raise IdxFormatError(
            f"{name} is {'truncated' if len(data) < expected else 'longer than its header says'}: "
            f"its header declares shape {dims} ({expected} bytes in all) but the data has {len(data)} bytes."
        )
    try:
        array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    except ValueError:
        # An empty array whose other dimensions are absurd (e.g. (0, 469762048, 3926827264)): the sizes add up,
        # but numpy cannot hold such a shape.
        raise IdxFormatError(
            f"{name} has a damaged header: it declares shape {dims}, which no array can have."
        ) from None
    return array.astype(dtype.newbyteorder("="), copy=False) if dtype.byteorder == ">" else array


def encode_idx(array: np.ndarray) -> bytes:
    """Encode an array as IDX bytes (the inverse of :func:`parse_idx`); used to write test fixtures.

    Example:
        >>> import numpy as np
        >>> a = np.arange(6, dtype=np.uint8).reshape(2, 3)
        >>> bool((parse_idx(encode_idx(a)) == a).all())
        True
    """
    codes = {np.dtype(v).newbyteorder("=").str: k for k, v in IDX_DTYPES.items()}
    array = np.asarray(array)
    key = array.dtype.newbyteorder("=").str
    if key not in codes:
        raise ValueError(f"dtype {array.dtype} cannot be written as IDX; use one of uint8, int8, int16, int32, float32, float64.")
    code = codes[key]
    head = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return head + array.astype(IDX_DTYPES[code], copy=False).tobytes()
