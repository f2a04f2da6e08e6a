"""Just enough of the protobuf (proto2) wire format for NAS-Bench-101's ``ModelMetrics``.

    ModelMetrics   { repeated EvaluationData evaluation_data = 1;
                     optional int32 trainable_parameters = 2; optional double total_time = 3; }
    EvaluationData { optional double current_epoch = 1, training_time = 2, train_accuracy = 3,
                     validation_accuracy = 4, test_accuracy = 5;
                     optional string checkpoint_path = 6; }

Fields this module does not know (EC-NAS adds energy fields) are skipped. ``decode_model_metrics``
reads one message (field by field with ``reusebench.data.protowire``); ``decode_metrics_batch``
reads many at once with numpy, all records advancing one field per step, which is what the
table reader uses.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from reusebench.data.protowire import FIXED32, FIXED64, MAX_VARINT_BYTES, VARINT, WireError, fields
from reusebench.data.protowire import LENGTH as LENGTH_DELIMITED

EVALUATION_FIELDS = ("current_epoch", "training_time", "train_accuracy", "validation_accuracy",
                     "test_accuracy")  # field numbers 1..5, all doubles
CHECKPOINT_FIELD = 6
EVALUATION_DATA_FIELD, PARAMETERS_FIELD, TOTAL_TIME_FIELD = 1, 2, 3
_DOUBLE = struct.Struct("<d")

ProtoError = WireError  # bytes that are not a well-formed protobuf message


def _int32(varint: int) -> int:
    """An int32 field's value: negative numbers travel as 10-byte two's complement varints."""
    low = varint & 0xFFFFFFFF
    return low - (1 << 32) if low >= 1 << 31 else low


def decode_evaluation_data(data: bytes) -> dict[str, Any]:
    """One EvaluationData message; absent fields read as the proto2 defaults (0.0, "")."""
    evaluation: dict[str, Any] = dict.fromkeys(EVALUATION_FIELDS, 0.0)
    evaluation["checkpoint_path"] = ""
    for field, wire_type, value in fields(data, allow_field_zero=True):
        if wire_type == FIXED64 and 1 <= field <= len(EVALUATION_FIELDS):
            evaluation[EVALUATION_FIELDS[field - 1]] = _DOUBLE.unpack(value)[0]
        elif wire_type == LENGTH_DELIMITED and field == CHECKPOINT_FIELD:
            evaluation["checkpoint_path"] = value.decode("utf-8", errors="replace")
    return evaluation


def decode_model_metrics(data: bytes) -> dict[str, Any]:
    """A ModelMetrics message as a dict: evaluation_data, trainable_parameters, total_time."""
    metrics: dict[str, Any] = {"evaluation_data": [], "trainable_parameters": 0,
                               "total_time": 0.0}
    # unknown fields, field number 0 among them as in decode_metrics_batch, are skipped
    for field, wire_type, value in fields(data, allow_field_zero=True):
        if field == EVALUATION_DATA_FIELD and wire_type == LENGTH_DELIMITED:
            metrics["evaluation_data"].append(decode_evaluation_data(value))
        elif field == PARAMETERS_FIELD and wire_type == VARINT:
            metrics["trainable_parameters"] = _int32(value)
        elif field == TOTAL_TIME_FIELD and wire_type == FIXED64:
            metrics["total_time"] = _DOUBLE.unpack(value)[0]
    return metrics


def _varint_bytes(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int32 -> 64-bit two's complement, as protobuf does
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(field: int, wire_type: int) -> bytes:
    return _varint_bytes(field << 3 | wire_type)


def encode_evaluation_data(evaluation: Mapping[str, Any]) -> bytes:
    """One EvaluationData message; keys that are missing or None are left out."""
    parts = [_tag(number, FIXED64) + _DOUBLE.pack(float(evaluation[name]))
             for number, name in enumerate(EVALUATION_FIELDS, start=1)
             if evaluation.get(name) is not None]
    if evaluation.get("checkpoint_path"):
        path = str(evaluation["checkpoint_path"]).encode("utf-8")
        parts.append(_tag(CHECKPOINT_FIELD, LENGTH_DELIMITED) + _varint_bytes(len(path)) + path)
    return b"".join(parts)


def encode_model_metrics(evaluation_data: Iterable[Mapping[str, Any]],
                         trainable_parameters: int | None, total_time: float | None) -> bytes:
    """Serialize a ModelMetrics message (fields in number order, as protobuf writes them)."""
    parts = []
    for evaluation in evaluation_data:
        body = encode_evaluation_data(evaluation)
        parts.append(_tag(EVALUATION_DATA_FIELD, LENGTH_DELIMITED) + _varint_bytes(len(body))
                     + body)
    if trainable_parameters is not None:
        parts.append(_tag(PARAMETERS_FIELD, VARINT) + _varint_bytes(int(trainable_parameters)))
    if total_time is not None:
        parts.append(_tag(TOTAL_TIME_FIELD, FIXED64) + _DOUBLE.pack(float(total_time)))
    return b"".join(parts)


# ---- batch decoding ---------------------------------------------------------------------------

BATCH_EVALUATIONS = 3  # NAS-Bench-101 keeps [initial, halfway, final]; later ones are counted only
BATCH_CHUNK = 1 << 15  # records decoded together: small enough that the work arrays stay in cache


def _batch_varints(buffer: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values (uint64) and byte lengths of the varints starting at ``positions``."""
    values = np.zeros(len(positions), dtype=np.uint64)
    sizes = np.zeros(len(positions), dtype=np.int64)
    pending = np.arange(len(positions))
    for index in range(MAX_VARINT_BYTES):
        byte = buffer[positions[pending] + index]
        values[pending] |= (byte & 0x7F).astype(np.uint64) << np.uint64(7 * index)
        sizes[pending] = index + 1
        pending = pending[byte >= 0x80]
        if not pending.size:
            break
    sizes[pending] = MAX_VARINT_BYTES + 1  # too long: flagged as malformed by the caller
    return values, sizes


def byte_rows(buffer: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """(n, width) copies of ``buffer[start:start + width]``, zero past the buffer's end."""
    if width and len(starts) and len(buffer) >= width and starts.max() <= len(buffer) - width:
        return np.lib.stride_tricks.sliding_window_view(buffer, width)[starts]
    rows = np.zeros((len(starts), width), dtype=np.uint8)
    if width == 0 or not len(starts):
        return rows
    fits = starts <= len(buffer) - width
    if len(buffer) >= width:
        rows[fits] = np.lib.stride_tricks.sliding_window_view(buffer, width)[starts[fits]]
    for row in np.flatnonzero(~fits).tolist():
        tail = buffer[int(starts[row]):]
        rows[row, :len(tail)] = tail
    return rows


def _batch_doubles(buffer: np.ndarray, positions: np.ndarray) -> np.ndarray:
    return byte_rows(buffer, positions, 8).view("<f8").ravel()


# NAS-Bench-101 writes every message the same way: three EvaluationData of five doubles, the
# parameter count, the total time. Messages laid out exactly so are read by fixed offsets.
_BLOCK = 2 + 9 * len(EVALUATION_FIELDS)  # tag, length, five (tag + double)
_PARAMETERS_AT = BATCH_EVALUATIONS * _BLOCK
_STANDARD_MIN = _PARAMETERS_AT + 1 + 1 + 9  # ... varint tag, 1-byte varint, total_time
_STANDARD_MAX = _STANDARD_MIN + MAX_VARINT_BYTES - 1
_TAGS = {**{_BLOCK * block: EVALUATION_DATA_FIELD << 3 | LENGTH_DELIMITED
            for block in range(BATCH_EVALUATIONS)},
         **{_BLOCK * block + 1: _BLOCK - 2 for block in range(BATCH_EVALUATIONS)},
         **{_BLOCK * block + 2 + 9 * field: (field + 1) << 3 | FIXED64
            for block in range(BATCH_EVALUATIONS) for field in range(len(EVALUATION_FIELDS))},
         _PARAMETERS_AT: PARAMETERS_FIELD << 3 | VARINT}
_TAG_AT = np.array(list(_TAGS), dtype=np.int64)
_TAG_VALUE = np.array(list(_TAGS.values()), dtype=np.uint8)
_DOUBLE_AT = np.array([_BLOCK * block + 3 + 9 * field for block in range(BATCH_EVALUATIONS)
                       for field in range(len(EVALUATION_FIELDS))], dtype=np.int64)


def _standard_doubles(rows: np.ndarray) -> np.ndarray:
    """The (n, 3, 5) doubles of messages in the standard layout, read through a strided view
    (block b, field f starts at byte 47 b + 9 f + 3)."""
    rows = np.ascontiguousarray(rows)
    shape = (len(rows), BATCH_EVALUATIONS, len(EVALUATION_FIELDS), 8)
    strides = (rows.strides[0], _BLOCK, 9, 1)
    view = np.lib.stride_tricks.as_strided(rows[:, _DOUBLE_AT[0]:], shape, strides,
                                           writeable=False)
    return np.ascontiguousarray(view).view("<f8")[..., 0]


def _decode_standard(rows: np.ndarray, lengths: np.ndarray,
                     result: dict[str, np.ndarray]) -> np.ndarray:
    """Fill ``result`` for the messages in the standard layout; return which those are.

    ``rows[i]`` holds message i from its first byte (anything after its length is ignored).
    """
    if rows.shape[1] < _STANDARD_MIN:
        return np.zeros(len(rows), dtype=bool)
    last = rows.shape[1] - 1
    varint_size = lengths - (_STANDARD_MIN - 1)
    varint = rows[:, _PARAMETERS_AT + 1:_PARAMETERS_AT + 1 + MAX_VARINT_BYTES]
    position = np.arange(varint.shape[1])
    continues = varint >= 0x80
    in_varint = position < varint_size[:, None]
    standard = (lengths >= _STANDARD_MIN) & (lengths <= _STANDARD_MAX)
    standard &= (rows[:, _TAG_AT] == _TAG_VALUE).all(axis=1)
    standard &= (continues == (position < varint_size[:, None] - 1)).all(axis=1, where=in_varint)
    time_tag = np.clip(_PARAMETERS_AT + 1 + varint_size, 0, last)
    standard &= rows[np.arange(len(rows)), time_tag] == (TOTAL_TIME_FIELD << 3 | FIXED64)
    matched = np.flatnonzero(standard)
    if len(matched) < len(rows):
        rows, varint, in_varint = rows[matched], varint[matched], in_varint[matched]
    result["evaluations"][matched] = _standard_doubles(rows)
    parts = (varint & 0x7F).astype(np.uint64) << (7 * position).astype(np.uint64)
    low = (np.where(in_varint, parts, 0).sum(axis=1) & np.uint64(0xFFFFFFFF)).astype(np.int64)
    result["trainable_parameters"][matched] = np.where(low >= 1 << 31, low - (1 << 32), low)
    time_bytes = rows[np.arange(len(matched))[:, None],
                      np.minimum(time_tag[matched][:, None] + 1 + np.arange(8), last)]
    result["total_time"][matched] = np.ascontiguousarray(time_bytes).view("<f8").ravel()
    result["n_evaluations"][matched] = BATCH_EVALUATIONS
    return standard


def decode_metrics_rows(rows: np.ndarray, lengths: np.ndarray) -> dict[str, np.ndarray]:
    """``decode_metrics_batch`` of messages given as the rows of a matrix, message i being
    ``rows[i, :lengths[i]]``."""
    lengths = np.asarray(lengths, dtype=np.int64)
    result = _empty_batch(len(rows))
    others = np.flatnonzero(~_decode_standard(rows, lengths, result))
    if others.size:
        inside = np.arange(rows.shape[1]) < lengths[others, None]
        stream = np.concatenate([rows[others][inside], np.zeros(16, dtype=np.uint8)])
        ends = np.cumsum(lengths[others])
        part = decode_metrics_batch(stream, ends - lengths[others], ends)
        for name, values in part.items():
            result[name][others] = values
    return result


def _empty_batch(count: int) -> dict[str, np.ndarray]:
    return {
        "evaluations": np.full((count, BATCH_EVALUATIONS, len(EVALUATION_FIELDS)), np.nan),
        "n_evaluations": np.zeros(count, dtype=np.int64),
        "trainable_parameters": np.zeros(count, dtype=np.int64),
        "total_time": np.zeros(count),
        "malformed": np.zeros(count, dtype=bool),
    }


def decode_metrics_batch(buffer: np.ndarray, starts: np.ndarray,
                         ends: np.ndarray) -> dict[str, np.ndarray]:
    """Decode the ModelMetrics messages ``buffer[starts[i]:ends[i]]`` all at once.

    Returns arrays over the records: ``evaluations`` (n, 3, 5) with the five doubles of the
    first three EvaluationData (NaN where a record has fewer; a present message's absent field
    is 0.0 as in proto2), ``n_evaluations``, ``trainable_parameters``, ``total_time`` and
    ``malformed`` (records whose bytes are not a well-formed message). ``buffer`` must hold 16
    readable bytes past the last end.
    """
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    result = _empty_batch(len(starts))
    rows = byte_rows(buffer, starts, _STANDARD_MAX)
    others = np.flatnonzero(~_decode_standard(rows, ends - starts, result))
    for first in range(0, len(others), BATCH_CHUNK):
        chunk = others[first:first + BATCH_CHUNK]
        part = _decode_chunk(buffer, starts[chunk], ends[chunk])
        for name, values in part.items():
            result[name][chunk] = values
    return result


def _decode_chunk(buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> dict:
    result = _empty_batch(len(starts))
    evaluations = result["evaluations"]
    count = result["n_evaluations"]
    position = starts.copy()
    message_end = ends.copy()  # end of the innermost open message (record or EvaluationData)
    inner = np.zeros(len(starts), dtype=bool)
    present = np.zeros(evaluations.shape, dtype=bool)
    active = np.flatnonzero(position < ends)
    while active.size:
        here = position[active]
        tags, tag_sizes = _batch_varints(buffer, here)
        here = here + tag_sizes
        field = (tags >> np.uint64(3)).astype(np.int64)
        wire = (tags & np.uint64(7)).astype(np.int64)
        nested = inner[active]
        limit = message_end[active]
        bad = (tag_sizes > MAX_VARINT_BYTES) | (here > limit)
        bad |= ~((wire == VARINT) | (wire == FIXED64) | (wire == LENGTH_DELIMITED)
                 | (wire == FIXED32))

        doubles = np.flatnonzero(wire == FIXED64)
        values = _batch_doubles(buffer, here[doubles])
        in_evaluation = (nested[doubles] & (field[doubles] >= 1)
                         & (field[doubles] <= len(EVALUATION_FIELDS)))
        rows = active[doubles[in_evaluation]]
        slot = count[rows]
        keep = slot < BATCH_EVALUATIONS
        cells = (rows[keep], slot[keep], field[doubles[in_evaluation]][keep] - 1)
        evaluations[cells] = values[in_evaluation][keep]
        present[cells] = True
        is_total = ~nested[doubles] & (field[doubles] == TOTAL_TIME_FIELD)
        result["total_time"][active[doubles[is_total]]] = values[is_total]
        here[doubles] += 8
        here[wire == FIXED32] += 4

        varints = np.flatnonzero(wire == VARINT)
        numbers, sizes = _batch_varints(buffer, here[varints])
        bad[varints] |= sizes > MAX_VARINT_BYTES
        here[varints] += sizes
        params = ~nested[varints] & (field[varints] == PARAMETERS_FIELD)
        low = (numbers[params] & np.uint64(0xFFFFFFFF)).astype(np.int64)
        result["trainable_parameters"][active[varints[params]]] = np.where(
            low >= 1 << 31, low - (1 << 32), low)

        delimited = np.flatnonzero(wire == LENGTH_DELIMITED)
        sizes_delimited, size_bytes = _batch_varints(buffer, here[delimited])
        bad[delimited] |= (size_bytes > MAX_VARINT_BYTES) | (sizes_delimited >= 1 << 40)
        here[delimited] += size_bytes
        opens = ~nested[delimited] & (field[delimited] == EVALUATION_DATA_FIELD)
        body_end = here[delimited] + np.minimum(sizes_delimited, 1 << 40).astype(np.int64)
        opening = delimited[opens]
        bad[opening] |= body_end[opens] > limit[opening]
        entered = active[opening]
        # open an EvaluationData: parse inside it and pop back to the record at its end
        message_end[entered] = body_end[opens]
        limit[opening] = body_end[opens]
        inner[entered] = True
        skipped = delimited[~opens]
        here[skipped] = body_end[~opens]

        bad |= here > limit
        position[active] = here
        closing = inner[active] & (here >= message_end[active])
        closed = active[closing]
        count[closed] += 1
        inner[closed] = False
        message_end[closed] = ends[closed]
        failed = active[bad]
        result["malformed"][failed] = True
        position[failed] = ends[failed]
        active = active[~bad & (position[active] < ends[active])]
    opened = np.arange(BATCH_EVALUATIONS) < count[:, None]
    evaluations[opened[:, :, None] & ~present] = 0.0  # proto2 default of an absent field
    return result
