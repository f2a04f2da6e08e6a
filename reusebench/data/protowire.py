"""The protobuf wire format, read without generated classes or a descriptor: the one reader
of the W&B run files (``ingest.wandb_log``) and NAS-Bench-101's metrics (``nasbench.proto``).

Just enough to pull fields out of a message: each field is (number, wire type, value), the
value an int for varint fields and bytes for the others: the 8 or 4 little-endian bytes of
fixed64 / fixed32 fields (``as_double`` reads a double), the payload of length-delimited ones
(strings, bytes, nested messages, packed arrays). Groups are not supported (proto3 has none).
A malformed message raises WireError.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
MAX_VARINT_BYTES = 10
_DOUBLE = struct.Struct("<d")


class WireError(ValueError):
    """Bytes that are not a protobuf message."""


def read_varint(data: bytes, position: int) -> tuple[int, int]:
    """The varint at ``position`` and the position after it."""
    value = 0
    for shift in range(0, 7 * MAX_VARINT_BYTES, 7):
        if position >= len(data):
            raise WireError("a varint runs past the end of the message")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
    raise WireError(f"a varint is longer than {MAX_VARINT_BYTES} bytes")


def fields(data: bytes, *, allow_field_zero: bool = False
           ) -> Iterator[tuple[int, int, int | bytes]]:
    """Every field of a message in the order written. Field number 0 is invalid protobuf and
    an error, unless ``allow_field_zero`` (then it is one more field the caller skips)."""
    position, end = 0, len(data)
    while position < end:
        tag = data[position]
        if tag < 0x80:  # a one-byte tag: fields 1-15, the usual case
            position += 1
        else:
            tag, position = read_varint(data, position)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == VARINT:
            value, position = read_varint(data, position)
        elif wire_type in (FIXED64, LENGTH, FIXED32):
            if wire_type == LENGTH:
                size, position = read_varint(data, position)
            else:
                size = 8 if wire_type == FIXED64 else 4
            stop = position + size
            if stop > end:
                raise WireError(f"field {number} runs past the end of the message")
            value, position = data[position:stop], stop
        else:
            raise WireError(f"field {number} has the unsupported wire type {wire_type}")
        if number == 0 and not allow_field_zero:
            raise WireError("field number 0")
        yield number, wire_type, value


def as_double(raw: bytes) -> float:
    """A fixed64 field's bytes as a double."""
    return _DOUBLE.unpack(raw)[0]


def as_signed(value: int) -> int:
    """An int64/int32 varint as the signed number (negative values use 10 bytes)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def as_zigzag(value: int) -> int:
    """A sint64 varint as the signed number."""
    return (value >> 1) ^ -(value & 1)


def as_text(value: int | bytes) -> str:
    """A string field's text; a field that is not length-delimited has none."""
    if not isinstance(value, bytes):
        raise WireError("a string field is not length-delimited")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as error:
        raise WireError("a string field is not UTF-8") from error
