"""The protobuf wire format, read without generated classes or a descriptor.

Just enough to pull fields out of a message: each field is (number, wire type, value), the
value an int for varint / fixed32 / fixed64 fields and bytes for length-delimited ones
(strings, bytes, nested messages, packed arrays). Groups are not supported (proto3 has
none). A malformed message raises WireError.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


class WireError(ValueError):
    """Bytes that are not a protobuf message."""


def read_varint(data: bytes, position: int) -> tuple[int, int]:
    """The varint at ``position`` and the position after it."""
    result = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise WireError("varint runs past the message")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, position
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Every field of a message in the order written."""
    position = 0
    while position < len(data):
        key, position = read_varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == VARINT:
            value, position = read_varint(data, position)
        elif wire_type == FIXED64:
            value, position = _fixed(data, position, 8)
        elif wire_type == FIXED32:
            value, position = _fixed(data, position, 4)
        elif wire_type == LENGTH:
            length, position = read_varint(data, position)
            if position + length > len(data):
                raise WireError("a length-delimited field runs past the message")
            value, position = data[position:position + length], position + length
        else:
            raise WireError(f"unsupported wire type {wire_type}")
        if number == 0:
            raise WireError("field number 0")
        yield number, wire_type, value


def _fixed(data: bytes, position: int, size: int) -> tuple[int, int]:
    if position + size > len(data):
        raise WireError("a fixed-width field runs past the message")
    return int.from_bytes(data[position:position + size], "little"), position + size


def as_double(bits: int) -> float:
    return struct.unpack("<d", bits.to_bytes(8, "little"))[0]


def as_signed(value: int) -> int:
    """An int64/int32 varint as the signed number (negative values use 10 bytes)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def as_zigzag(value: int) -> int:
    """A sint64 varint as the signed number."""
    return (value >> 1) ^ -(value & 1)


def as_text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise WireError("a string field is not length-delimited")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as error:
        raise WireError("a string field is not UTF-8") from error
