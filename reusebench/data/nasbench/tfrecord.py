"""TFRecord framing: uint64 length | masked CRC32C of it | data | masked CRC32C of the data.

``iter_tfrecord`` streams one record at a time; ``frame_tfrecord`` checks a whole file held in
memory with the header checksums vectorised, which is what the table reader uses (the walk
over the headers and the checksums in compiled code where ``_accel`` was built).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from reusebench.core.errors import InputError
from reusebench.core.io import atomic_write
from reusebench.data.nasbench.native import accel

HEADER_BYTES = 12  # uint64 length + uint32 masked CRC of those 8 bytes
FOOTER_BYTES = 4
MASK_DELTA = 0xA282EAD8
CASTAGNOLI_REFLECTED = 0x82F63B78
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")


def _crc_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ CASTAGNOLI_REFLECTED, table >> 1)
    return table.astype(np.uint32)


CRC_TABLE = _crc_table()
_CRC_TABLE_LIST = CRC_TABLE.tolist()


def crc32c_python(data: bytes) -> int:
    """CRC32C in pure Python: the fallback when ``google-crc32c`` is not installed."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE_LIST
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF



try:
    from google_crc32c import value as crc32c
except ImportError:  # pragma: no cover - exercised only where the package is missing
    crc32c = crc32c_python
    HAVE_FAST_CRC = False
else:
    HAVE_FAST_CRC = True


def mask_crc(crc: int) -> int:
    """TFRecord's masked CRC: rotate right by 15 bits and add a constant (mod 2**32)."""
    return (((crc >> 15) | (crc << 17)) + MASK_DELTA) & 0xFFFFFFFF


def mask_crc_array(crc: np.ndarray) -> np.ndarray:
    crc = crc.astype(np.uint32)
    return ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(MASK_DELTA)


def crc32c_batch(buffer: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """CRC32C of many byte ranges of ``buffer`` at once, one table step per byte position."""
    order = np.argsort(-lengths, kind="stable")
    sorted_starts = starts[order].astype(np.int64)
    sorted_lengths = lengths[order]
    crc = np.full(len(starts), 0xFFFFFFFF, dtype=np.uint32)
    # with lengths in falling order the ranges still running at byte j are a prefix
    running = np.searchsorted(-sorted_lengths, -np.arange(int(lengths.max(initial=0))),
                              side="left")
    for offset, count in enumerate(running.tolist()):
        state = crc[:count]
        byte = buffer[sorted_starts[:count] + offset]
        crc[:count] = CRC_TABLE[(state ^ byte) & 0xFF] ^ (state >> np.uint32(8))
    result = np.empty_like(crc)
    result[order] = crc ^ np.uint32(0xFFFFFFFF)
    return result


def _truncated(index: int, name: str) -> InputError:
    return InputError(f"Record {index} of {name} is truncated (the file ends inside it).")


def _bad_crc(index: int, name: str, part: str) -> InputError:
    return InputError(f"Record {index} of {name} has a bad {part} checksum (corrupt file).")


def iter_tfrecord(path: str | Path) -> Iterator[bytes]:
    """Yield the data of each record of a TFRecord file, checking both checksums."""
    path = Path(path)
    with path.open("rb") as stream:
        index = 0
        while header := stream.read(HEADER_BYTES):
            if len(header) < HEADER_BYTES:
                raise _truncated(index, path.name)
            (length,) = _LENGTH.unpack_from(header)
            if mask_crc(crc32c(header[:8])) != _CRC.unpack_from(header, 8)[0]:
                raise _bad_crc(index, path.name, "length")
            data = stream.read(length)
            footer = stream.read(FOOTER_BYTES)
            if len(data) < length or len(footer) < FOOTER_BYTES:
                raise _truncated(index, path.name)
            if mask_crc(crc32c(data)) != _CRC.unpack(footer)[0]:
                raise _bad_crc(index, path.name, "data")
            yield data
            index += 1


def _walk(data: bytes) -> tuple[np.ndarray, np.ndarray, bool]:
    """Data offsets and lengths of consecutive records, and whether the last one is cut
    short. Lengths are trusted here and checked afterwards."""
    lengths, position = _walk_lengths(data)
    size = len(data)
    if len(lengths) and position - int(lengths[-1]) - FOOTER_BYTES > size:
        lengths = lengths[:-1]  # the last length read has no room for its checksum: a cut header
        position = size + 1
    framed = np.minimum(lengths, size).astype(np.int64)
    starts = np.cumsum(framed + HEADER_BYTES + FOOTER_BYTES) - framed - FOOTER_BYTES
    return starts, lengths, position != size


def _walk_lengths(data: bytes) -> tuple[np.ndarray, int]:
    """The uint64 length of each header met walking the file, and where the walk ended."""
    if accel is not None:
        packed, last_start = accel.walk_tfrecord(data)
        lengths = np.frombuffer(packed, dtype=np.uint64)
        end = last_start + int(lengths[-1]) + HEADER_BYTES + FOOTER_BYTES if len(lengths) else 0
        return lengths, end
    unpack_length = _LENGTH.unpack_from
    found: list[int] = []
    add_length = found.append
    position, size = 0, len(data)
    try:  # the loop ends where fewer than 8 bytes are left to read a length from
        while True:
            length = unpack_length(data, position)[0]
            add_length(length)
            position += length + HEADER_BYTES + FOOTER_BYTES
            if length > size:  # past the end: no further header
                break
    except struct.error:
        pass
    return np.asarray(found, dtype=np.uint64), position


def _data_crcs(data: bytes, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """CRC32C of each record's data (google-crc32c's C code, one call per record)."""
    if accel is not None:
        return _accel_crcs(data, starts, lengths)
    ends = (starts + lengths).tolist()
    return np.fromiter(map(crc32c, map(data.__getitem__, map(slice, starts.tolist(), ends))),
                       dtype=np.uint32, count=len(starts))


def _accel_crcs(data: bytes, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    lengths = np.ascontiguousarray(lengths, dtype=np.int64)
    return np.frombuffer(accel.crc32c_ranges(data, starts, lengths, len(starts)),
                         dtype=np.uint32)


def _first_bad_header(buffer: np.ndarray, starts: np.ndarray) -> int | None:
    headers = starts - HEADER_BYTES
    eights = np.full(len(starts), 8)
    computed = mask_crc_array(_accel_crcs(buffer, headers, eights) if accel is not None
                              else crc32c_batch(buffer, headers, eights))
    stored = _gather_uint32(buffer, headers + 8)
    bad = np.flatnonzero(computed != stored)
    return int(bad[0]) if bad.size else None


def _gather_uint32(buffer: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    raw = buffer[offsets[:, None] + np.arange(4)]
    return np.ascontiguousarray(raw).view("<u4").ravel()


def frame_tfrecord(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Data offsets and lengths of every record of a whole TFRecord file, checksums checked.

    Raises InputError naming the first bad record: a bad length checksum (checked before the
    length is trusted), a record cut short by the end of the file, or a bad data checksum.
    """
    starts, walked, cut = _walk(data)
    buffer = np.frombuffer(data, dtype=np.uint8)
    bad_header = _first_bad_header(buffer, starts)
    if bad_header == 0:
        raise InputError(f"{name} is not a TFRecord file (the length checksum of its first "
                         "record does not match).")
    if bad_header is not None:
        raise _bad_crc(bad_header, name, "length")
    # a length is up to 2**64 - 1; past the file size it only marks a cut record
    lengths = np.minimum(walked, len(data)).astype(np.int64)
    if cut:
        raise _truncated(len(starts) - 1 if _last_overruns(starts, lengths, data)
                         else len(starts), name)
    fast = HAVE_FAST_CRC or accel is not None
    computed = mask_crc_array(_data_crcs(data, starts, lengths) if fast
                              else crc32c_batch(buffer, starts, lengths))
    bad = np.flatnonzero(computed != _gather_uint32(buffer, starts + lengths))
    if bad.size:
        raise _bad_crc(int(bad[0]), name, "data")
    return starts, lengths


def _last_overruns(starts: np.ndarray, lengths: np.ndarray, data: bytes) -> bool:
    return bool(len(starts)) and int(starts[-1] + lengths[-1]) + FOOTER_BYTES > len(data)


def _write_records(path: Path, payloads: Iterable[bytes]) -> int:
    count = 0
    with path.open("wb") as stream:
        for payload in payloads:
            length = _LENGTH.pack(len(payload))
            stream.write(length)
            stream.write(_CRC.pack(mask_crc(crc32c(length))))
            stream.write(payload)
            stream.write(_CRC.pack(mask_crc(crc32c(payload))))
            count += 1
    return count


def write_tfrecord(path: str | Path, payloads: Iterable[bytes]) -> int:
    """Write ``payloads`` as a TFRecord file atomically; return the number of records."""
    counted: list[int] = []
    atomic_write(path, lambda tmp: counted.append(_write_records(tmp, payloads)))
    return counted[0]
