"""NAS-Bench-101 records -> one table row per (cell, budget, repeat).

A TFRecord record is the JSON list ``[module_hash, epochs, adjacency, operations, metrics]``
(adjacency a row-major "0"/"1" string, operations comma-joined, metrics a base64 ModelMetrics).
Records in the exact form ``json.dumps`` writes them (all of NAS-Bench-101) are taken apart with
numpy, many at a time; any other record goes through ``json.loads``, so both read the same.
The column-oriented JSON export of nasbench-vis is read too (final validation accuracy only).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from reusebench.errors import InputError
from reusebench.io import atomic_write
from reusebench.nasbench.graph import (
    CANONICAL_OPS,
    factorize_rows,
    hash_parsed_cells,
    parse_cells,
)
from reusebench.nasbench.proto import byte_rows, decode_metrics_batch
from reusebench.nasbench.tfrecord import frame_tfrecord

STAGES = ("halfway", "final")  # evaluation_data[1] and [2], as nasbench's api.py reads them
STAGE_FIELDS = ("epoch", "training_time", "train_accuracy", "validation_accuracy",
                "test_accuracy")  # EvaluationData fields 1-5 in order
COLUMNS = ["module_hash", "epochs", "repeat", "n_vertices", "adjacency", "operations",
           "trainable_parameters",
           *(f"{stage}_{field}" for stage in STAGES for field in STAGE_FIELDS),
           "total_time", "source", "hash_verified"]
BUDGETS = (4, 12, 36, 108)
EXPORT_OPS = {-1: "input", 0: CANONICAL_OPS[0], 1: CANONICAL_OPS[1], 2: CANONICAL_OPS[2],
              -2: "output"}
EXPORT_PADDING = -3
CHUNK_RECORDS = 1 << 16
QUOTE, BACKSLASH = ord('"'), ord("\\")
FIELDS_PER_RECORD = 5


def encode_record(module_hash: str, epochs: int, matrix: np.ndarray, ops: Sequence[str],
                  metrics_bytes: bytes) -> bytes:
    """One record as NAS-Bench-101 stores it: the UTF-8 JSON list of its five fields."""
    adjacency = "".join("1" if edge else "0" for edge in np.asarray(matrix).ravel().tolist())
    fields = [module_hash, int(epochs), adjacency, ",".join(ops),
              base64.b64encode(metrics_bytes).decode("ascii")]
    return json.dumps(fields).encode("utf-8")


def _not_a_record(index: int, name: str) -> InputError:
    return InputError(f"Record {index} of {name} is not a NAS-Bench-101 record (a JSON list of "
                      "hash, epochs, adjacency, operations and base64 metrics).")


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


def _arrow_strings(rows: np.ndarray, lengths: np.ndarray) -> pa.Array:
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


# ---- one chunk of records -----------------------------------------------------------------------

def _loads_record(data: bytes, index: int, name: str) -> list:
    try:
        fields = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _not_a_record(index, name) from None
    types_ok = (isinstance(fields, list) and len(fields) == FIELDS_PER_RECORD
                and isinstance(fields[1], int) and not isinstance(fields[1], bool)
                and 0 <= fields[1] < 2**31
                and all(isinstance(fields[i], str) for i in (0, 2, 3, 4)))
    if not types_ok:
        raise _not_a_record(index, name)
    return fields


def _decode_base64_text(text: str | bytes, index: int, name: str) -> bytes:
    try:
        return binascii.a2b_base64(text)  # lenient like nasbench's base64.b64decode
    except (binascii.Error, ValueError):
        raise InputError(f"Record {index} of {name} has metrics that are not base64.") from None


STRING_COLUMNS = ("module_hash", "adjacency", "operations")


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


def _string_column(count: int, rows: np.ndarray, fast: tuple[np.ndarray, np.ndarray],
                   slow: dict[int, str]) -> pa.Array:
    if not slow:
        return _arrow_strings(*fast)
    values: list[str | None] = [None] * count
    padded, lengths = fast
    for row, text, length in zip(rows.tolist(), padded, lengths.tolist(), strict=True):
        values[row] = text[:length].tobytes().decode("ascii")
    for row, text in slow.items():
        values[row] = text
    return pa.array(values, type=pa.large_string())


def _parse_chunk(data: bytes, buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                 first_index: int, name: str) -> dict:
    """The columns of one run of records: json.dumps-form ones taken apart together, the
    others (and those whose metrics text needs unescaping) through json.loads."""
    count = len(starts)
    rows, fast_epochs, fast_strings, decoding = _canonical_columns(data, buffer, starts, ends)
    decoded, decoded_starts, decoded_ends, decoded_ok = decoding
    epochs = np.zeros(count, dtype=np.int64)
    epochs[rows] = fast_epochs
    slow = np.ones(count, dtype=bool)
    slow[rows] = False
    slow_rows = np.flatnonzero(slow).tolist()
    slow_fields = {row: _loads_record(data[starts[row]:ends[row]], first_index + row, name)
                   for row in (*slow_rows, *rows[~decoded_ok].tolist())}
    for row in slow_rows:
        epochs[row] = slow_fields[row][1]
    extra_metrics = {row: _decode_base64_text(fields[4], first_index + row, name)
                     for row, fields in slow_fields.items()}
    metric_starts = np.zeros(count, dtype=np.int64)
    metric_ends = np.zeros(count, dtype=np.int64)
    metric_starts[rows[decoded_ok]] = decoded_starts
    metric_ends[rows[decoded_ok]] = decoded_ends
    extra_starts, extra_ends = _bounds(np.array([len(b) for b in extra_metrics.values()],
                                                dtype=np.int64))
    metric_starts[list(extra_metrics)] = extra_starts + len(decoded)
    metric_ends[list(extra_metrics)] = extra_ends + len(decoded)
    stream = b"".join([decoded, *extra_metrics.values(), bytes(16)])
    metrics = _decode_metrics(stream, metric_starts, metric_ends, first_index, name)
    strings = {column: _string_column(count, rows, fast_strings[column],
                                      {row: slow_fields[row][field] for row in slow_rows})
               for column, field in zip(STRING_COLUMNS, (0, 2, 3), strict=True)}
    return {**strings, "epochs": epochs, **metrics}


def _decode_metrics(stream: bytes, starts: np.ndarray, ends: np.ndarray, first_index: int,
                    name: str) -> dict[str, np.ndarray]:
    metrics = decode_metrics_batch(np.frombuffer(stream, dtype=np.uint8), starts, ends)
    if metrics["malformed"].any():
        row = int(np.flatnonzero(metrics["malformed"])[0])
        raise InputError(f"Record {first_index + row} of {name} has metrics that are not a "
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


# ---- whole files ---------------------------------------------------------------------------------

def _concat(parts: list[dict]) -> dict:
    """Join per-chunk or per-file columns: arrays end to end, string arrays as chunks."""
    joined = {}
    for column in parts[0]:
        pieces = [part[column] for part in parts]
        if isinstance(pieces[0], pa.Array | pa.ChunkedArray):
            chunks = [chunk for piece in pieces for chunk in
                      (piece.chunks if isinstance(piece, pa.ChunkedArray) else [piece])]
            joined[column] = pa.chunked_array(chunks, type=pa.large_string())
        else:
            joined[column] = np.concatenate(pieces)
    return joined


def _tfrecord_columns(path: Path) -> dict:
    data = path.read_bytes()
    starts, lengths = frame_tfrecord(data, path.name)
    buffer = np.frombuffer(data, dtype=np.uint8)
    ends = starts + lengths
    parts = [_parse_chunk(data, buffer, starts[first:first + CHUNK_RECORDS],
                          ends[first:first + CHUNK_RECORDS], first, path.name)
             for first in range(0, len(starts), CHUNK_RECORDS)]
    return _concat(parts) if parts else _empty_columns()


def _empty_columns() -> dict:
    columns: dict = {column: pa.array([], type=pa.large_string()) for column in STRING_COLUMNS}
    columns.update({column: np.empty(0, dtype=np.int64)
                    for column in ("epochs", "repeat", "trainable_parameters")})
    for column in COLUMNS:
        if column not in ("n_vertices", "source", "hash_verified"):
            columns.setdefault(column, np.empty(0))
    return columns


def _repeats(hash_codes: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """0-based order of appearance of each record among those of its hash and budget."""
    _, epoch_codes = np.unique(epochs, return_inverse=True)
    keys = hash_codes * (epoch_codes.max(initial=0) + 1) + epoch_codes.ravel()
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts_group = np.r_[True, ordered[1:] != ordered[:-1]]
    group_first = np.maximum.accumulate(np.where(starts_group, np.arange(len(keys)), 0))
    repeats = np.empty(len(keys), dtype=np.int64)
    repeats[order] = np.arange(len(keys)) - group_first
    return repeats


def _factorize(strings) -> tuple[np.ndarray, np.ndarray]:
    codes, values = pd.factorize(pd.Series(strings, dtype="str"))
    return codes.astype(np.int64), np.asarray(values, dtype=object)


def _cell_columns(columns: dict, name: str, verify: bool) -> dict[str, np.ndarray]:
    """repeat, n_vertices and hash_verified (the hash computed from the record's adjacency
    and operations equals the stored one), each cell parsed and hashed once."""
    hash_codes, hash_values = _factorize(columns["module_hash"])
    adjacency_codes, adjacency_values = _factorize(columns["adjacency"])
    operation_codes, operation_values = _factorize(columns["operations"])
    cell_codes, cell_first = factorize_rows(np.stack([adjacency_codes, operation_codes], axis=1))
    cells = parse_cells(adjacency_values[adjacency_codes[cell_first]],
                        operation_values[operation_codes[cell_first]])
    well_formed = cells[3][cell_codes]
    if not well_formed.all():
        index = int(np.flatnonzero(~well_formed)[0])
        raise InputError(f"Record {index} of {name} has an adjacency that is not a square 0/1 "
                         "matrix with one row per operation.")
    repeat = columns["repeat"] if "repeat" in columns else \
        _repeats(hash_codes, columns["epochs"])
    result = {"repeat": repeat, "n_vertices": cells[2][cell_codes]}
    if verify:
        computed = pd.Index(hash_values).get_indexer(hash_parsed_cells(*cells))
        result["hash_verified"] = computed[cell_codes] == hash_codes
    else:
        result["hash_verified"] = np.full(len(hash_codes), pd.NA, dtype=object)
    return result


def _export_columns(path: Path) -> dict[str, np.ndarray]:
    """The nasbench-vis column-oriented JSON: one row per cell and budget, repeat 0."""
    try:
        export = json.loads(path.read_bytes())
        hashes = export["key"]
        cells = [_export_cell(matrix, codes) for matrix, codes in
                 zip(export["adjacency"], export["operations"], strict=True)]
        accuracy = {budget: np.asarray(export[f"{budget}_final_validation_accuracy"], float)
                    for budget in BUDGETS}
        training_time = np.asarray(export["final_training_time"], dtype=float)
        parameters = np.asarray(export["trainable_parameters"], dtype=np.int64)
        if any(len(values) != len(hashes) for values in
               (cells, training_time, parameters, *accuracy.values())):
            raise ValueError("columns of different lengths")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
        raise InputError(f"{path.name} is not a NAS-Bench-101 JSON export (columns key, "
                         "adjacency, operations, trainable_parameters, final_training_time "
                         "and <budget>_final_validation_accuracy of equal length).") from None
    count = len(hashes)
    columns = {column: np.full(count * len(BUDGETS), np.nan) for column in COLUMNS
               if column.startswith(STAGES) or column == "total_time"}
    for column, values in zip(STRING_COLUMNS, (hashes, *zip(*cells, strict=True)), strict=True):
        columns[column] = pa.array(np.repeat(np.array(values, dtype=object), len(BUDGETS)),
                                   type=pa.large_string())
    epochs = np.tile(np.array(BUDGETS, dtype=np.int64), count)
    columns["epochs"] = epochs
    columns["repeat"] = np.zeros(len(epochs), dtype=np.int64)
    columns["trainable_parameters"] = np.repeat(parameters, len(BUDGETS))
    columns["final_epoch"] = epochs.astype(float)  # the export's accuracies are end-of-budget
    columns["final_validation_accuracy"] = np.stack([accuracy[b] for b in BUDGETS],
                                                    axis=1).ravel()
    columns["final_training_time"] = np.where(epochs == max(BUDGETS),
                                              np.repeat(training_time, len(BUDGETS)), np.nan)
    return columns


def _export_cell(matrix: list, codes: list) -> tuple[str, str]:
    """(adjacency string, operations string) of one exported cell, padding vertices dropped."""
    kept = [index for index, code in enumerate(codes) if code != EXPORT_PADDING]
    edges = np.asarray(matrix, dtype=float)[np.ix_(kept, kept)]
    adjacency = "".join("1" if edge else "0" for edge in edges.ravel().tolist())
    return adjacency, ",".join(EXPORT_OPS[int(codes[index])] for index in kept)


def _kind(path: Path) -> str:
    if path.suffix == ".tfrecord":
        return "tfrecord"
    with path.open("rb") as stream:
        head = stream.read(64)
    if head.lstrip()[:1] == b"{":
        return "export"
    if path.suffix == ".json":
        raise InputError(f"{path.name} is not a NAS-Bench-101 JSON export (it is no JSON "
                         "object).")
    return "tfrecord"


def _file_columns(path: Path, verify: bool) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise InputError(f"{path} does not exist or is not a file.")
    columns = _tfrecord_columns(path) if _kind(path) == "tfrecord" else _export_columns(path)
    columns.update(_cell_columns(columns, path.name, verify))
    columns["source"] = pa.array([path.name], type=pa.large_string()).take(
        np.zeros(len(columns["epochs"]), dtype=np.int64))
    return columns


def read_nasbench(paths: Iterable[str | Path], *, verify_hashes: bool = True) -> pd.DataFrame:
    """Read NAS-Bench-101 TFRecord files and nasbench-vis JSON exports into one table.

    One row per record (cell, budget, repeat) with the columns of ``COLUMNS``; ``repeat``
    numbers the records of a hash and budget within a file in order of appearance, and
    ``hash_verified`` tells whether the cell hash computed from the record's adjacency and
    operations equals the stored one (with ``verify_hashes=False`` no hash is computed and
    the column is all <NA>, which saves most of the time of a file of distinct cells). Bad
    input raises InputError naming the file and the record.
    """
    parts = [_file_columns(Path(path), verify_hashes) for path in paths]
    if not parts:
        raise InputError("No NAS-Bench-101 files were given.")
    return _frame(_concat(parts), verify_hashes)


def _frame(columns: dict, verified: bool) -> pd.DataFrame:
    table = pd.DataFrame({column: pd.Series(columns[column], dtype="str")
                          if column in (*STRING_COLUMNS, "source") else columns[column]
                          for column in COLUMNS})
    for column in ("epochs", "repeat", "n_vertices", "trainable_parameters"):
        table[column] = table[column].astype("int64")
    table["hash_verified"] = table["hash_verified"].astype(bool if verified else "boolean")
    return table


def write_nasbench_table(table: pd.DataFrame, path: str | Path) -> None:
    """Write the table as Parquet; the file appears whole or not at all."""
    atomic_write(path, lambda tmp: table.to_parquet(tmp, index=False))


def convert_nasbench(paths: Iterable[str | Path], out: str | Path) -> tuple[int, int, int]:
    """Read record files into one Parquet table; returns (rows, cells, hash mismatches)."""
    table = read_nasbench(paths)
    write_nasbench_table(table, out)
    mismatches = int((~table["hash_verified"]).sum())
    return len(table), table["module_hash"].nunique(), mismatches
