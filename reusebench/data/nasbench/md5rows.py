"""MD5 digests of the rows of a byte matrix, and digests as lower-case hex: the two primitives
of the cell hash (``cellhash``).

Where the compiled extension ``_accel`` was built at install (setup.py; a C compiler is
needed), ``md5_rows`` hashes sixteen rows at a time with vector instructions, without the GIL;
otherwise CPython's own MD5 takes one call per row.
"""

from __future__ import annotations

import binascii
import hashlib
from operator import methodcaller

import numpy as np

from reusebench.data.nasbench.native import accel

try:  # CPython's own MD5 costs about half of OpenSSL's per call on short inputs
    from _md5 import md5 as _md5
except ImportError:  # pragma: no cover - other interpreters
    _md5 = hashlib.md5

HEX_BYTES = 32
_DIGEST = methodcaller("digest")


def md5_rows(messages: np.ndarray) -> np.ndarray:
    """MD5 digests (n, 16) of the rows of a (n, width) uint8 matrix."""
    count, width = messages.shape
    if count == 0:
        return np.zeros((0, 16), dtype=np.uint8)
    if width == 0:
        return np.tile(np.frombuffer(_md5(b"").digest(), dtype=np.uint8), (count, 1))
    messages = np.ascontiguousarray(messages, dtype=np.uint8)
    if accel is not None:
        digests = accel.md5_rows(messages, count, width)
        return np.frombuffer(digests, dtype=np.uint8).reshape(count, 16)
    return python_md5_rows(messages)


def python_md5_rows(messages: np.ndarray) -> np.ndarray:
    """``md5_rows`` with CPython's MD5, one call per row (where the extension is missing)."""
    count, width = messages.shape
    rows = np.ascontiguousarray(messages).view(f"V{width}").ravel().tolist()  # bytes objects
    return np.frombuffer(b"".join(map(_DIGEST, map(_md5, rows))),
                         dtype=np.uint8).reshape(count, 16)


def md5_texts(texts: list[bytes]) -> np.ndarray:
    """MD5 digests (n, 16) of byte strings of any lengths, one call each."""
    return np.frombuffer(b"".join(_md5(text).digest() for text in texts),
                         dtype=np.uint8).reshape(len(texts), 16)


def hex_rows(digests: np.ndarray) -> np.ndarray:
    """Lower-case hex (n, 32) uint8 of digests (n, 16)."""
    text = binascii.hexlify(np.ascontiguousarray(digests).tobytes())
    return np.frombuffer(text, dtype=np.uint8).reshape(len(digests), HEX_BYTES)
