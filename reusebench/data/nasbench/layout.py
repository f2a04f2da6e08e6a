"""NAS-Bench-101 records in the exact form ``json.dumps`` writes them, taken apart by position.

    ["<32-character hash>", <epochs>, "<n*n characters 0/1>", "<operations>", "<base64>"]

This is how every record of NAS-Bench-101 (and of our own writer) looks. For many records at
once, each field is found from the previous one by fixed offsets and short windows, never by
scanning whole records: the hash has 32 characters, the epochs are found in a window of digits,
the adjacency is the run of 0/1 after it (n*n long, n <= 7), the operations end at the first
quote of a window, and the base64 text runs to the closing ``"]``. Every byte between the
strings is checked, the hash and operations must be characters JSON keeps as written (printable
ASCII, no quote or backslash) and the base64 text must decode strictly; a record that fails any
check is left to the general reader (``records``), so both read the same.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

import numpy as np

from reusebench.data.nasbench.native import accel
from reusebench.data.nasbench.proto import byte_rows

HASH_CHARS = 32
MAX_EPOCH_DIGITS = 9
MAX_VERTICES = 7
MAX_OPERATION_CHARS = 128
QUOTE, BACKSLASH = ord('"'), ord("\\")
_HEAD = 2 + HASH_CHARS + 3 + MAX_EPOCH_DIGITS + 4  # ["hash", digits, "
_ADJACENCY_WINDOW = MAX_VERTICES**2 + 5  # 0/1 characters, then ", " and one more
_SEPARATOR = np.frombuffer(b'", "', dtype=np.uint8)
_BASE64 = np.zeros(256, dtype=bool)
_BASE64[list(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")] = True
_SQUARES = np.full(_ADJACENCY_WINDOW + 1, -1, dtype=np.int64)
_SQUARES[[n * n for n in range(1, MAX_VERTICES + 1)]] = np.arange(1, MAX_VERTICES + 1)


@dataclass
class Located:
    """The fields of the records ``rows`` (indices into the records given) in this layout."""

    rows: np.ndarray
    epochs: np.ndarray
    hashes: np.ndarray  # (m, 32) uint8
    adjacency: np.ndarray  # (m, 49) uint8, zero after each record's n*n characters
    n_vertices: np.ndarray
    operations: np.ndarray  # (m, width) uint8, zero after each record's text
    operations_length: np.ndarray
    metrics_start: np.ndarray  # base64 text: offsets in the buffer and lengths
    metrics_length: np.ndarray

    def subset(self, keep: np.ndarray) -> Located:
        return Located(*(getattr(self, name)[keep] for name in self.__dataclass_fields__))


def _plain(rows: np.ndarray) -> np.ndarray:
    """Characters a JSON string holds as they are written: printable ASCII, no \" or \\."""
    return (rows >= 0x20) & (rows < 0x7F) & (rows != QUOTE) & (rows != BACKSLASH)


def _first_false(flags: np.ndarray) -> np.ndarray:
    """Index of the first False of each row; the row width where there is none."""
    padded = np.concatenate([flags, np.zeros((len(flags), 1), dtype=bool)], axis=1)
    return np.argmin(padded, axis=1)


def _at(rows: np.ndarray, columns: np.ndarray, width: int) -> np.ndarray:
    """rows[i, columns[i]:columns[i] + width] (columns clipped to stay inside the rows)."""
    index = np.minimum(columns[:, None] + np.arange(width), rows.shape[1] - 1)
    return np.take_along_axis(rows, index, axis=1)


def _head(buffer: np.ndarray, starts: np.ndarray):
    """Hash rows, epochs, where the adjacency starts, and whether all of it is in layout."""
    head = byte_rows(buffer, starts, _HEAD)
    ok = (head[:, 0] == ord("[")) & (head[:, 1] == QUOTE) & (head[:, 2 + HASH_CHARS] == QUOTE)
    ok &= (head[:, 3 + HASH_CHARS] == ord(",")) & (head[:, 4 + HASH_CHARS] == ord(" "))
    hashes = head[:, 2:2 + HASH_CHARS]
    ok &= _plain(hashes).all(axis=1)
    text = head[:, 5 + HASH_CHARS:]
    digit = (text >= ord("0")) & (text <= ord("9"))
    count = _first_false(digit[:, :MAX_EPOCH_DIGITS + 1])
    ok &= (count >= 1) & (count <= MAX_EPOCH_DIGITS)
    ok &= (count == 1) | (text[:, 0] != ord("0"))  # JSON forbids leading zeros
    ok &= (_at(text, count, 3) == np.frombuffer(b', "', dtype=np.uint8)).all(axis=1)
    values = text[:, :MAX_EPOCH_DIGITS].astype(np.int64) - ord("0")
    powers = 10 ** np.clip(count[:, None] - 1 - np.arange(MAX_EPOCH_DIGITS), 0, None)
    epochs = np.where(np.arange(MAX_EPOCH_DIGITS) < count[:, None], values * powers, 0).sum(1)
    return hashes, epochs, starts + 5 + HASH_CHARS + count + 3, ok


def locate(buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> Located:
    """The records of ``buffer[starts[i]:ends[i]]`` that are in the layout, and their fields.

    ``buffer`` may end right after the last record (windows are zero-padded)."""
    hashes, epochs, adjacency_start, ok = _head(buffer, starts)
    window = byte_rows(buffer, adjacency_start, _ADJACENCY_WINDOW)
    binary = (window == ord("0")) | (window == ord("1"))
    length = _first_false(binary)
    n_vertices = _SQUARES[length]
    ok &= n_vertices > 0
    ok &= (_at(window, length, 4) == _SEPARATOR).all(axis=1)
    adjacency = np.where(np.arange(MAX_VERTICES**2) < length[:, None],
                         window[:, :MAX_VERTICES**2], 0).astype(np.uint8)
    operations_start = adjacency_start + length + 4
    text = byte_rows(buffer, operations_start, MAX_OPERATION_CHARS + 4)
    closing = np.argmax(text == QUOTE, axis=1)
    ok &= (closing > 0) & (closing <= MAX_OPERATION_CHARS)
    text = text[:, :int(closing[ok].max(initial=0)) + 4]  # no record of ``ok`` uses more
    inside = np.arange(text.shape[1]) < closing[:, None]
    ok &= (_plain(text) | ~inside).all(axis=1)
    ok &= (_at(text, closing, 4) == _SEPARATOR).all(axis=1)
    metrics_start = operations_start + closing + 4
    metrics_length = ends - 2 - metrics_start
    ok &= metrics_length >= 0  # every byte checked so far lies inside the record
    ok &= (buffer[np.maximum(ends - 2, 0)] == QUOTE) & (buffer[np.maximum(ends - 1, 0)]
                                                        == ord("]"))
    operations = np.where(inside, text, 0).astype(np.uint8)
    located = Located(np.arange(len(starts)), epochs, hashes, adjacency, n_vertices,
                      operations, closing, metrics_start, metrics_length)
    return located.subset(np.flatnonzero(ok))


def _accel_decode(buffer: np.ndarray, starts: np.ndarray, rows: np.ndarray,
                  length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``decode_base64``'s work for texts of one length in compiled code: (the rows whose
    text is base64, their decoded bytes, their padding)."""
    decoded, valid, padding = accel.b64decode_ranges(
        buffer, np.ascontiguousarray(starts, dtype=np.int64), len(starts), length)
    valid = np.frombuffer(valid, dtype=bool)
    decoded = np.frombuffer(decoded, dtype=np.uint8).reshape(len(starts), length // 4 * 3)
    padding = np.frombuffer(padding, dtype=np.int64)
    if valid.all():
        return rows, decoded, padding
    return rows[valid], decoded[valid], padding[valid]


def decode_base64(buffer: np.ndarray, starts: np.ndarray,
                  lengths: np.ndarray) -> tuple[np.ndarray, list]:
    """Strictly decode the base64 texts ``buffer[starts[i]:starts[i] + lengths[i]]``.

    Texts of equal length are decoded together with one ``a2b_base64`` call: laid end to end
    with their trailing '=' turned into 'A' (zero bits, cut off again), each starts on a quad
    boundary, so anything but whole quads of the alphabet is refused. Returns which texts
    decoded and, per distinct length, (indices, decoded rows, message lengths).
    """
    ok = np.zeros(len(starts), dtype=bool)
    groups = []
    for length in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == length)
        if length == 0 or length % 4:
            continue
        if accel is not None:
            rows, decoded, padding = _accel_decode(buffer, starts[rows], rows, length)
            ok[rows] = True
            groups.append((rows, decoded, length // 4 * 3 - padding))
            continue
        text = byte_rows(buffer, starts[rows], length)
        padding = text[:, -1] == ord("=")
        padding2 = padding & (text[:, -2] == ord("="))
        text[padding, -1] = ord("A")
        text[padding2, -2] = ord("A")
        padding = padding.astype(np.int64) + padding2
        try:
            decoded = binascii.a2b_base64(text, strict_mode=True)
        except binascii.Error:  # leave the texts with other characters to the general reader
            valid = _BASE64[text].all(axis=1)
            rows, text, padding = rows[valid], text[valid], padding[valid]
            decoded = binascii.a2b_base64(text, strict_mode=True)
        decoded = np.frombuffer(decoded, dtype=np.uint8)
        ok[rows] = True
        groups.append((rows, decoded.reshape(len(rows), length // 4 * 3),
                       length // 4 * 3 - padding))
    return ok, groups
