"""NAS-Bench-101 records that are not in the fixed layout, read the general way.

Records in the form ``json.dumps`` writes (whatever the lengths of their fields) are cut at
their eight quotes with numpy, many at a time; any other record, and any whose strings hold
escapes, goes through ``json.loads``. Both give what ``json.loads`` gives.
"""

from __future__ import annotations

import binascii
import json

import numpy as np
import pyarrow as pa

from reusebench.core.errors import InputError
from reusebench.data.nasbench.proto import byte_rows, decode_metrics_batch

STAGES = ("halfway", "final")  # evaluation_data[1] and [2], as nasbench's api.py reads them
STAGE_FIELDS = ("epoch", "training_time", "train_accuracy", "validation_accuracy",
                "test_accuracy")  # EvaluationData fields 1-5 in order
STRING_COLUMNS = ("module_hash", "adjacency", "operations")
METRIC_COLUMNS = ("trainable_parameters",
                  *(f"{stage}_{field}" for stage in STAGES for field in STAGE_FIELDS),
                  "total_time")
QUOTE, BACKSLASH = ord('"'), ord("\\")
FIELDS_PER_RECORD = 5


class RecordError(InputError):
    """An InputError about one record, which knows that record's index."""

    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index = index


def not_a_record(index: int, name: str) -> InputError:
    return RecordError(index, f"Record {index} of {name} is not a NAS-Bench-101 record (a "
                              "JSON list of hash, epochs, adjacency, operations and base64 "
                              "metrics).")


# ---- the canonical (json.dumps) form, checked and cut up with numpy ----------------------------

MAX_EPOCH_DIGITS = 9


def _quotes(buffer: np.ndarray, starts: np.ndarray,
            ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Records with exactly eight quotes, and (those records, 8) quote positions."""
    base = int(starts[0])
    quotes = np.flatnonzero(buffer[base:int(ends[-1])] == QUOTE) + base
    owner = np.searchsorted(starts, quotes, side="right") - 1
    inside = quotes < ends[owner]  # not in the framing bytes between records
    quotes, owner = quotes[inside], owner[inside]
    eight = np.bincount(owner, minlength=len(starts)) == 8
    return eight, quotes[eight[owner]].reshape(-1, 8)


def _all_equal(buffer: np.ndarray, positions: np.ndarray, text: bytes) -> np.ndarray:
    ok = np.ones(len(positions), dtype=bool)
    for offset, byte in enumerate(text):
        ok &= buffer[positions + offset] == byte
    return ok


def _epoch_values(buffer: np.ndarray, first: np.ndarray,
                  count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integers written in ``count`` digits from ``first``; False where not a JSON integer."""
    digits = byte_rows(buffer, first, MAX_EPOCH_DIGITS).astype(np.int64) - ord("0")
    used = np.arange(MAX_EPOCH_DIGITS) < count[:, None]
    ok = (count >= 1) & (count <= MAX_EPOCH_DIGITS)
    ok &= ((digits >= 0) & (digits <= 9) | ~used).all(axis=1)
    ok &= (count == 1) | (digits[:, 0] != 0)  # JSON forbids leading zeros
    powers = 10 ** np.clip(count[:, None] - 1 - np.arange(MAX_EPOCH_DIGITS), 0, None)
    return np.where(used, digits * powers, 0).sum(axis=1), ok


def _canonical_fields(buffer: np.ndarray, starts: np.ndarray,
                      ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Records in ``json.dumps`` form: mask, epochs, and (record, 4, 2) string [start, end).

    Everything outside the four strings is checked byte by byte; what is inside them is
    checked by ``_strings`` and ``_decode_base64``.
    """
    candidate, quotes = _quotes(buffer, starts, ends)
    rows = np.flatnonzero(candidate)
    first, last = starts[rows], ends[rows]
    ok = (buffer[first] == ord("[")) & (quotes[:, 0] == first + 1)
    ok &= (buffer[last - 1] == ord("]")) & (quotes[:, 7] == last - 2)
    ok &= _all_equal(buffer, quotes[:, 1] + 1, b", ") & _all_equal(buffer, quotes[:, 2] - 2, b", ")
    for opening in (3, 5):
        ok &= _all_equal(buffer, quotes[:, opening] + 1, b", ")
        ok &= quotes[:, opening + 1] == quotes[:, opening] + 3
    epochs, epochs_ok = _epoch_values(buffer, quotes[:, 1] + 3, quotes[:, 2] - quotes[:, 1] - 5)
    ok &= epochs_ok
    mask = np.zeros(len(starts), dtype=bool)
    mask[rows[ok]] = True
    spans = np.stack([quotes[ok][:, 0::2] + 1, quotes[ok][:, 1::2]], axis=2)
    return mask, epochs[ok], spans


def _strings(buffer: np.ndarray, starts: np.ndarray,
             lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Byte ranges as zero-padded rows, and whether each is printable ASCII without a
    backslash: a JSON string body that reads as it is written (others go to json.loads)."""
    width = max(1, int(lengths.max(initial=0)))
    rows = byte_rows(buffer, starts, width)
    outside = np.arange(width) >= lengths[:, None]
    rows[outside] = 0
    plain = ((rows >= 0x20) & (rows < 0x80) & (rows != BACKSLASH) | outside).all(axis=1)
    return rows, plain


def arrow_strings(rows: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """A string array from zero-padded ASCII rows, without making Python objects."""
    data = rows[np.arange(rows.shape[1]) < lengths[:, None]]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return pa.LargeStringArray.from_buffers(len(lengths), pa.py_buffer(offsets),
                                            pa.py_buffer(data))


_BASE64_ALPHABET = np.zeros(256, dtype=bool)
_BASE64_ALPHABET[list(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")] = True


def _decode_base64(data: bytes, starts: np.ndarray, lengths: np.ndarray):
    """Decode base64 texts of whole quads with one ``a2b_base64`` call.

    The texts are laid end to end with their trailing '=' turned into 'A' (zero bits; the
    bytes they yield are cut off again), so every record starts on a quad boundary and the
    strict decoder rejects anything else. Returns (decoded bytes, starts, ends, ok per text);
    texts not ok (escapes, stray characters) are left to json.loads and the lenient decoder.
    """
    ok = (lengths % 4 == 0) & (lengths > 0)
    for attempt in range(2):
        text = bytearray().join([data[start:start + length] for start, length in
                                 zip(starts[ok].tolist(), lengths[ok].tolist(), strict=True)])
        view = np.frombuffer(text, dtype=np.uint8)
        ends_in_text = np.cumsum(lengths[ok])
        last = view[ends_in_text - 1] == ord("=")
        second = last & (view[ends_in_text - 2] == ord("="))
        view[ends_in_text[last] - 1] = ord("A")
        view[ends_in_text[second] - 2] = ord("A")
        try:
            decoded = binascii.a2b_base64(text, strict_mode=True)
        except binascii.Error:
            if attempt:
                break
            outside = np.r_[0, np.cumsum(~_BASE64_ALPHABET[view])][ends_in_text]
            ok[ok] = np.diff(outside, prepend=0) == 0  # retry without texts with odd bytes
            continue
        decoded_ends = ends_in_text // 4 * 3 - last - second
        decoded_starts = (ends_in_text - lengths[ok]) // 4 * 3
        return decoded, decoded_starts, decoded_ends, ok
    return b"", np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(len(starts), bool)


# ---- records not in the fixed layout ------------------------------------------------------------

def _loads_record(data: bytes, index: int, name: str) -> list:
    try:
        fields = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise not_a_record(index, name) from None
    types_ok = (isinstance(fields, list) and len(fields) == FIELDS_PER_RECORD
                and isinstance(fields[1], int) and not isinstance(fields[1], bool)
                and 0 <= fields[1] < 2**31
                and all(isinstance(fields[i], str) for i in (0, 2, 3, 4)))
    if not types_ok:
        raise not_a_record(index, name)
    return fields


def _decode_base64_text(text: str | bytes, index: int, name: str) -> bytes:
    try:
        return binascii.a2b_base64(text)  # lenient like nasbench's base64.b64decode
    except (binascii.Error, ValueError):
        raise RecordError(index, f"Record {index} of {name} has metrics that are not "
                                  "base64.") from None


def _canonical_columns(data: bytes, buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray):
    """The fields of the records in json.dumps form with plain strings: their rows, epochs,
    (padded rows, lengths) per string column, and the base64 decoding of their metrics."""
    canonical, epochs, spans = _canonical_fields(buffer, starts, ends)
    rows = np.flatnonzero(canonical)
    strings = {}
    plain = np.ones(len(rows), dtype=bool)
    for position, column in enumerate(STRING_COLUMNS):
        lengths = spans[:, position, 1] - spans[:, position, 0]
        padded, is_plain = _strings(buffer, spans[:, position, 0], lengths)
        strings[column] = (padded, lengths)
        plain &= is_plain
    strings = {column: (padded[plain], lengths[plain])
               for column, (padded, lengths) in strings.items()}
    text_starts = spans[plain, 3, 0]
    decoding = _decode_base64(data, text_starts, spans[plain, 3, 1] - text_starts)
    return rows[plain], epochs[plain], strings, decoding


def _string_values(count: int, rows: np.ndarray, fast: tuple[np.ndarray, np.ndarray],
                   slow: dict[int, str]) -> list[str]:
    values: list = [None] * count
    padded, lengths = fast
    for row, text, length in zip(rows.tolist(), padded, lengths.tolist(), strict=True):
        values[row] = text[:length].tobytes().decode("ascii")
    for row, text in slow.items():
        values[row] = text
    return values


def general_chunk(data: bytes, buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                   indices: np.ndarray, name: str) -> dict:
    """The columns of records not in the fixed layout (record i is number ``indices[i]``):
    json.dumps-form ones cut at their quotes together, the others (and those whose metrics
    text needs unescaping) through json.loads. String columns come back as lists."""
    count = len(starts)
    rows, fast_epochs, fast_strings, decoding = _canonical_columns(data, buffer, starts, ends)
    decoded, decoded_starts, decoded_ends, decoded_ok = decoding
    epochs = np.zeros(count, dtype=np.int64)
    epochs[rows] = fast_epochs
    slow = np.ones(count, dtype=bool)
    slow[rows] = False
    slow_rows = np.flatnonzero(slow).tolist()
    slow_fields = {row: _loads_record(data[starts[row]:ends[row]], int(indices[row]), name)
                   for row in sorted((*slow_rows, *rows[~decoded_ok].tolist()))}
    for row in slow_rows:
        epochs[row] = slow_fields[row][1]
    extra_metrics = {row: _decode_base64_text(fields[4], int(indices[row]), name)
                     for row, fields in slow_fields.items()}
    metric_starts = np.zeros(count, dtype=np.int64)
    metric_ends = np.zeros(count, dtype=np.int64)
    metric_starts[rows[decoded_ok]] = decoded_starts
    metric_ends[rows[decoded_ok]] = decoded_ends
    extra_starts, extra_ends = _bounds(np.array([len(b) for b in extra_metrics.values()],
                                                dtype=np.int64))
    metric_starts[list(extra_metrics)] = extra_starts + len(decoded)
    metric_ends[list(extra_metrics)] = extra_ends + len(decoded)
    stream = np.frombuffer(b"".join([decoded, *extra_metrics.values(), bytes(16)]), np.uint8)
    metrics = metric_columns(decode_metrics_batch(stream, metric_starts, metric_ends),
                              indices, name)
    strings = {column: _string_values(count, rows, fast_strings[column],
                                      {row: slow_fields[row][field] for row in slow_rows})
               for column, field in zip(STRING_COLUMNS, (0, 2, 3), strict=True)}
    return {**strings, "epochs": epochs, **metrics}


def metric_columns(metrics: dict[str, np.ndarray], indices: np.ndarray,
                    name: str) -> dict[str, np.ndarray]:
    if metrics["malformed"].any():
        index = int(indices[np.flatnonzero(metrics["malformed"])].min())
        raise RecordError(index, f"Record {index} of {name} has metrics that are not a "
                                  "ModelMetrics protobuf message.")
    columns = {"trainable_parameters": metrics["trainable_parameters"]}
    for stage, slot in zip(STAGES, (1, 2), strict=True):
        for position, field in enumerate(STAGE_FIELDS):
            columns[f"{stage}_{field}"] = metrics["evaluations"][:, slot, position]
    columns["total_time"] = metrics["total_time"]
    return columns


def _bounds(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ends = np.cumsum(lengths)
    return ends - lengths, ends


# ---- nasbench-vis JSON exports: what a file that cannot be read lacks ------------------------

EXPORT_BUDGETS = (4, 12, 36, 108)
EXPORT_COLUMNS = ("key", "adjacency", "operations", "trainable_parameters",
                  "final_training_time",
                  *(f"{budget}_final_validation_accuracy" for budget in EXPORT_BUDGETS))
CELL_COLUMNS = ("adjacency", "operations")


def export_error(name: str, export: object) -> InputError:
    """The one sentence for a nasbench-vis JSON export that cannot be read (``export`` is
    what ``json.loads`` gave, None if the file is no JSON): the missing columns by name,
    else the columns of different lengths, else that a value has the wrong type."""
    if export is None:
        return InputError(f"{name} is not a NAS-Bench-101 JSON export (it is not JSON).")
    if not isinstance(export, dict):
        return InputError(f"{name} is not a NAS-Bench-101 JSON export (it is no JSON object).")
    missing = [column for column in EXPORT_COLUMNS if column not in export]
    if missing:
        why = (" (without a cell's adjacency and operations its hash cannot be checked nor "
               "its family told)") if set(missing) & set(CELL_COLUMNS) else ""
        return InputError(f"{name} is a JSON export that lacks the column"
                          f"{'s' if len(missing) > 1 else ''} {', '.join(missing)} a "
                          f"NAS-Bench-101 export needs{why}.")
    lengths = {column: len(export[column]) if isinstance(export[column], list) else None
               for column in EXPORT_COLUMNS}
    if len(set(lengths.values())) > 1:
        listing = ", ".join(f"{column} {length if length is not None else 'not a list'}"
                            for column, length in lengths.items())
        return InputError(f"{name}: the columns of the JSON export differ in length "
                          f"({listing}).")
    return InputError(f"{name} is not a NAS-Bench-101 JSON export (a value of its columns key, "
                      "adjacency, operations, trainable_parameters, final_training_time or "
                      "<budget>_final_validation_accuracy has the wrong type).")
