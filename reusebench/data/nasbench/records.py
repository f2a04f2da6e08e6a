"""NAS-Bench-101 records -> one table row per (cell, budget, repeat).

A TFRecord record is the JSON list ``[module_hash, epochs, adjacency, operations, metrics]``
(adjacency a row-major "0"/"1" string, operations comma-joined, metrics a base64 ModelMetrics).
The file is memory-mapped and framed (``tfrecord``), then read in runs of records, in tiers that
all give the same values: records in the exact layout NAS-Bench-101 writes are taken apart by
position (``layout``); the others are cut at their quotes or go through ``json.loads``
(``jsonform``). Cells are keyed by numbers and each distinct cell is hashed once (``cellkeys``,
``cellhash``; files whose cells do not fit those keys take the string-keyed route here). For a
large file a thread (where the compiled extension was built: it hashes without the GIL) or else
a second process hashes the cells of the records read so far while the rest is read.
The column-oriented JSON export of nasbench-vis is read too (final validation accuracy only).
"""

from __future__ import annotations

import base64
import contextlib
import json
import mmap
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from reusebench.core.errors import InputError
from reusebench.core.io import check_table_path, write_table
from reusebench.data.nasbench import layout
from reusebench.data.nasbench.cellkeys import (
    HASH_BYTES,
    Operations,
    keyed_cell_columns,
    malformed_cell,
    record_keys,
    repeats,
    send_cells,
)
from reusebench.data.nasbench.graph import (
    CANONICAL_OPS,
    factorize_rows,
    hash_parsed_cells,
    parse_cells,
)
from reusebench.data.nasbench.hashhelpers import Helper, available_cpus, start_helper
from reusebench.data.nasbench.jsonform import (
    METRIC_COLUMNS,
    STAGE_FIELDS,
    STAGES,
    STRING_COLUMNS,
    RecordError,
    arrow_strings,
    export_error,
    general_chunk,
    metric_columns,
)
from reusebench.data.nasbench.proto import decode_metrics_rows
from reusebench.data.nasbench.tfrecord import frame_tfrecord

COLUMNS = ["module_hash", "epochs", "repeat", "n_vertices", "adjacency", "operations",
           "trainable_parameters",
           *(f"{stage}_{field}" for stage in STAGES for field in STAGE_FIELDS),
           "total_time", "source", "hash_verified"]
BUDGETS = (4, 12, 36, 108)
EXPORT_OPS = {-1: "input", 0: CANONICAL_OPS[0], 1: CANONICAL_OPS[1], 2: CANONICAL_OPS[2],
              -2: "output"}
EXPORT_PADDING = -3
CHUNK_RECORDS = 1 << 16


def encode_record(module_hash: str, epochs: int, matrix: np.ndarray, ops: Sequence[str],
                  metrics_bytes: bytes) -> bytes:
    """One record as NAS-Bench-101 stores it: the UTF-8 JSON list of its five fields."""
    adjacency = "".join("1" if edge else "0" for edge in np.asarray(matrix).ravel().tolist())
    fields = [module_hash, int(epochs), adjacency, ",".join(ops),
              base64.b64encode(metrics_bytes).decode("ascii")]
    return json.dumps(fields).encode("utf-8")


# ---- one chunk of records ------------------------------------------------------------------------

def _fixed_strings(rows: np.ndarray) -> pa.Array:
    """A string array of the (ASCII) rows of a matrix, all as long as the row."""
    count, width = rows.shape
    offsets = np.arange(count + 1, dtype=np.int64) * width
    return pa.LargeStringArray.from_buffers(count, pa.py_buffer(offsets),
                                            pa.py_buffer(np.ascontiguousarray(rows)))


def _located_metrics(groups: list, rows: np.ndarray, count: int, first_index: int, name: str,
                     errors: list) -> dict[str, np.ndarray]:
    """Metrics columns of a chunk filled for the records whose base64 was decoded in
    ``groups`` (``rows`` maps their positions to the chunk); errors are collected."""
    metrics = {column: np.zeros(count) for column in METRIC_COLUMNS}
    metrics["trainable_parameters"] = np.zeros(count, dtype=np.int64)
    for positions, messages, lengths in groups:
        try:
            part = metric_columns(decode_metrics_rows(messages, lengths),
                                   first_index + rows[positions], name)
        except RecordError as error:
            errors.append(error)
            continue
        for column, values in part.items():
            metrics[column][rows[positions]] = values
    return metrics


def _merged_strings(located: layout.Located, rest: np.ndarray, general: dict,
                    count: int) -> dict[str, list[str]]:
    """String columns as lists where some records went the general way (few do)."""
    fast = {"module_hash": (located.hashes, np.full(len(located.rows), HASH_BYTES)),
            "adjacency": (located.adjacency, located.n_vertices**2),
            "operations": (located.operations, located.operations_length)}
    columns = {}
    for column in STRING_COLUMNS:
        merged: list = [None] * count
        for row, value in zip(rest.tolist(), general[column], strict=True):
            merged[row] = value
        padded, lengths = fast[column]
        for row, text, length in zip(located.rows.tolist(), padded, lengths.tolist(),
                                     strict=True):
            merged[row] = text[:length].tobytes().decode("ascii")
        columns[column] = merged
    return columns


def _parse_chunk(data: bytes, buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                 first_index: int, name: str, operations: Operations) -> dict:
    """The columns of one run of records, and their cell keys (under ``"keys"``): records in
    NAS-Bench-101's layout by position, the others the general way; of several bad records
    the first is reported."""
    count = len(starts)
    located = layout.locate(buffer, starts, ends)
    decoded, groups = layout.decode_base64(buffer, located.metrics_start,
                                           located.metrics_length)
    errors: list[RecordError] = []
    metrics = _located_metrics(groups, located.rows, count, first_index, name, errors)
    located = located.subset(np.flatnonzero(decoded))
    rest = np.ones(count, dtype=bool)
    rest[located.rows] = False
    rest = np.flatnonzero(rest)
    epochs = np.zeros(count, dtype=np.int64)
    epochs[located.rows] = located.epochs
    general = None
    if rest.size:
        try:
            general = general_chunk(data, buffer, starts[rest], ends[rest], first_index + rest,
                                     name)
        except RecordError as error:
            errors.append(error)
    if errors:
        raise min(errors, key=lambda error: error.index)
    if general is None:
        keys = record_keys({}, located, count, operations)
        strings = {"module_hash": _fixed_strings(located.hashes),
                   "adjacency": arrow_strings(located.adjacency, located.n_vertices**2),
                   "operations": operations.strings(keys["operations_code"])}
    else:
        epochs[rest] = general["epochs"]
        for column in METRIC_COLUMNS:
            metrics[column][rest] = general[column]
        strings = _merged_strings(located, rest, general, count)
        keys = record_keys(strings, located, count, operations)
        strings = {column: pa.array(values, type=pa.large_string())
                   for column, values in strings.items()}
    return {**strings, "epochs": epochs, **metrics, "keys": keys}


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


def _mapped(path: Path):
    """The file's bytes, memory-mapped (read-only) where it is not empty."""
    with path.open("rb") as stream:
        if path.stat().st_size == 0:
            return b""
        return mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)


SEND_AT = (0.25, 0.45, 0.65)  # shares of the records read when the helper gets new cells


def _tfrecord_columns(path: Path, helper: Helper | None = None) -> tuple[dict, dict | None]:
    """The columns of a TFRecord file, and the cell keys of its records (None where some
    record's cell does not fit the numeric keys). With a ``helper``, the distinct cells of
    the records read so far go to it (``keys["sent"]``): a thread after every chunk, a process
    at SEND_AT; it hashes them while the rest is read, and the cells of the last records are
    hashed here."""
    data = _mapped(path)
    starts, lengths = frame_tfrecord(data, path.name)
    buffer = np.frombuffer(data, dtype=np.uint8)
    ends = starts + lengths
    operations = Operations()
    parts: list[dict] = []
    sent: list[tuple[int, np.ndarray]] | None = [] if helper is not None else None
    seen: set[int] = set()  # the numbers of the cells sent
    # a hashing thread takes each chunk's new cells at once; a process, at SEND_AT only
    shares = np.arange(1, 20) / 20 if getattr(helper, "eager", False) else SEND_AT
    marks = [share * len(starts) for share in shares]
    unsent = 0  # parts whose cells the helper has not seen
    for first in range(0, len(starts), CHUNK_RECORDS):
        parts.append(_parse_chunk(data, buffer, starts[first:first + CHUNK_RECORDS],
                                  ends[first:first + CHUNK_RECORDS], first, path.name,
                                  operations))
        read = first + CHUNK_RECORDS
        if sent is None or not marks or not marks[0] <= read < len(starts):
            continue
        marks = [mark for mark in marks if mark > read]
        batch = send_cells([part["keys"] for part in parts[unsent:]], operations, helper, seen)
        unsent = len(parts)
        if batch is None:
            sent = None  # what was sent is hashed here again; its answers are dropped
        else:
            sent.append(batch)
    if not parts:
        return _empty_columns(), None
    keys = [part.pop("keys") for part in parts]
    if not all(key["numeric"] for key in keys):
        return _concat(parts), None
    cell_keys = _concat([{name: key[name] for name in key if name != "numeric"}
                         for key in keys])
    cell_keys["operations"] = operations.texts()
    cell_keys["sent"] = sent
    return _concat(parts), cell_keys


def _empty_columns() -> dict:
    columns: dict = {column: pa.array([], type=pa.large_string()) for column in STRING_COLUMNS}
    columns.update({column: np.empty(0, dtype=np.int64)
                    for column in ("epochs", "repeat", "trainable_parameters")})
    for column in COLUMNS:
        if column not in ("n_vertices", "source", "hash_verified"):
            columns.setdefault(column, np.empty(0))
    return columns


def _factorize(strings) -> tuple[np.ndarray, np.ndarray]:
    codes, values = pd.factorize(pd.Series(strings, dtype="str"))
    return codes.astype(np.int64), np.asarray(values, dtype=object)


def _cell_columns(columns: dict, name: str, verify: bool) -> dict[str, np.ndarray]:
    """repeat, n_vertices and hash_verified (the hash computed from the record's adjacency
    and operations equals the stored one), each cell parsed and hashed once; from the
    strings, for records whose cells do not fit the numeric keys (and for JSON exports)."""
    hash_codes, hash_values = _factorize(columns["module_hash"])
    adjacency_codes, adjacency_values = _factorize(columns["adjacency"])
    operation_codes, operation_values = _factorize(columns["operations"])
    cell_codes, cell_first = factorize_rows(np.stack([adjacency_codes, operation_codes], axis=1))
    cells = parse_cells(adjacency_values[adjacency_codes[cell_first]],
                        operation_values[operation_codes[cell_first]])
    well_formed = cells[3][cell_codes]
    if not well_formed.all():
        raise malformed_cell(int(np.flatnonzero(~well_formed)[0]), name)
    repeat = columns["repeat"] if "repeat" in columns else \
        repeats(hash_codes, columns["epochs"])
    result = {"repeat": repeat, "n_vertices": cells[2][cell_codes]}
    if verify:
        computed = pd.Index(hash_values).get_indexer(hash_parsed_cells(*cells))
        result["hash_verified"] = computed[cell_codes] == hash_codes
    else:
        result["hash_verified"] = np.full(len(hash_codes), pd.NA, dtype=object)
    return result


def _export_columns(path: Path) -> dict[str, np.ndarray]:
    """The nasbench-vis column-oriented JSON: one row per cell and budget, repeat 0."""
    export = None
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
        raise export_error(path.name, export) from None
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


def _file_columns(path: Path, verify: bool, helper: Helper | None) -> dict[str, np.ndarray]:
    if _kind(path) == "tfrecord":
        columns, keys = _tfrecord_columns(path, helper)
    else:
        columns, keys = _export_columns(path), None
    columns.update(_cell_columns(columns, path.name, verify) if keys is None
                   else keyed_cell_columns(columns, keys, path.name, verify, helper))
    columns["source"] = pa.array([path.name], type=pa.large_string()).take(
        np.zeros(len(columns["epochs"]), dtype=np.int64))
    return columns


HELPER_MIN_BYTES = 16 << 20  # record files smaller than this are hashed in one process


def read_nasbench(paths: Iterable[str | Path], *, verify_hashes: bool = True,
                  processes: int | None = None) -> pd.DataFrame:
    """Read NAS-Bench-101 TFRecord files and nasbench-vis JSON exports into one table.

    One row per record (cell, budget, repeat) with the columns of ``COLUMNS``; ``repeat``
    numbers the records of a hash and budget within a file in order of appearance, and
    ``hash_verified`` tells whether the cell hash computed from the record's adjacency and
    operations equals the stored one (with ``verify_hashes=False`` no hash is computed and
    the column is all <NA>, which saves most of the time of a file of distinct cells). Bad
    input raises InputError naming the file and the record.

    Hashing is most of the work; ``processes=2`` shares it with a second process, which by
    default (None) happens where two CPUs are free to this process and the files are large.
    """
    paths = [Path(path) for path in paths]
    if not paths:
        raise InputError("No NAS-Bench-101 files were given.")
    for path in paths:
        if not path.is_file():
            raise InputError(f"{path} does not exist or is not a file.")
    if processes is None:
        processes = min(2, available_cpus()) if sum(path.stat().st_size for path in paths) \
            >= HELPER_MIN_BYTES else 1
    helper = start_helper() if verify_hashes and processes > 1 else None
    with helper or contextlib.nullcontext():
        parts = [_file_columns(path, verify_hashes, helper) for path in paths]
    for path, part in zip(paths, parts, strict=True):
        if len(part["epochs"]) == 0:
            raise InputError(f"{path} holds no NAS-Bench-101 record (an empty or truncated "
                             "file).")
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
    """Write the table as Parquet or CSV (by suffix); the file appears whole or not at all."""
    write_table(table, path)


def convert_nasbench(paths: Iterable[str | Path], out: str | Path,
                     processes: int | None = None) -> tuple[int, int, int]:
    """Read record files into one Parquet table; returns (rows, cells, hash mismatches).
    ``processes`` as in ``read_nasbench``. ``out`` is checked before anything is read."""
    check_table_path(out)
    table = read_nasbench(paths, processes=processes)
    write_nasbench_table(table, out)
    mismatches = int((~table["hash_verified"]).sum())
    return len(table), table["module_hash"].nunique(), mismatches
