"""Cells of NAS-Bench-101 records keyed by numbers, and their hashes checked.

A record's cell is (adjacency, operations). The adjacency of up to 7 x 7 "0"/"1" characters
becomes one int64 (its '1' bits and n), the operations text a number given to each distinct
text of the file; the pair keys the cell, so no strings are made or compared. Each distinct
cell is parsed, pruned and hashed once (``cellhash``), and the record's stored hash is compared
with the computed one byte by byte. Records whose cells do not fit these keys are handled by
the string-keyed route of ``records``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from reusebench.core.errors import InputError
from reusebench.data.nasbench import layout
from reusebench.data.nasbench.cellhash import hash_pruned_digests
from reusebench.data.nasbench.graph import CANONICAL_OPS, UNKNOWN_OP, factorize_rows, prune_cells
from reusebench.data.nasbench.hashhelpers import Helper, ThreadHelper
from reusebench.data.nasbench.md5rows import hex_rows

HASH_BYTES = layout.HASH_CHARS
MAX_VERTICES = layout.MAX_VERTICES
OPERATION_BYTES = layout.MAX_OPERATION_CHARS


def adjacency_codes(rows: np.ndarray, n_vertices: np.ndarray) -> np.ndarray:
    """One int64 per adjacency text of up to 7 x 7 characters: its '1' bits, then n."""
    bits = np.packbits(rows == ord("1"), axis=1, bitorder="little")
    words = np.zeros((len(rows), 8), dtype=np.uint8)
    words[:, :bits.shape[1]] = bits
    return (words.view("<i8").ravel() << 3) | n_vertices


class Operations:
    """Distinct operation texts of a file, numbered as they are met."""

    def __init__(self):
        self.codes: dict[bytes, int] = {}

    def encode(self, rows: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Codes of the texts ``rows[i, :lengths[i]]`` (rows zero after each text)."""
        padded = np.zeros((len(rows), -(-rows.shape[1] // 8) * 8), dtype=np.uint8)
        padded[:, :rows.shape[1]] = rows
        rows, words = padded, padded.view("<i8")
        local, first = factorize_rows(np.concatenate([words, lengths[:, None]], axis=1))
        texts = [rows[row, :length].tobytes() for row, length in
                 zip(first.tolist(), lengths[first].tolist(), strict=True)]
        numbers = np.array([self.codes.setdefault(text, len(self.codes)) for text in texts],
                           dtype=np.int64)
        return numbers[local] if len(local) else np.zeros(0, dtype=np.int64)

    def texts(self) -> list[str]:
        return [text.decode("utf-8", errors="replace") for text in self.codes]

    def strings(self, codes: np.ndarray) -> pa.Array:
        """The texts of ``codes`` as a string array (taken from the distinct ones)."""
        return pa.array(self.texts(), type=pa.large_string()).take(pa.array(codes))


def record_keys(columns: dict, located: layout.Located | None, count: int,
               operations: Operations) -> dict:
    """Per record: hash bytes, adjacency code and operations code, or ``numeric`` False where
    a record's hash, adjacency or operations do not fit those forms."""
    hashes = np.zeros((count, HASH_BYTES), dtype=np.uint8)
    adjacency = np.full((count, MAX_VERTICES**2), ord("0"), dtype=np.uint8)
    n_vertices = np.zeros(count, dtype=np.int64)
    located_width = 0 if located is None else located.operations.shape[1]
    width = max(located_width, OPERATION_BYTES if located is None or len(located.rows) < count
                else 0)
    texts = np.zeros((count, width), dtype=np.uint8)
    text_lengths = np.zeros(count, dtype=np.int64)
    numeric = True
    done = np.zeros(count, dtype=bool)
    if located is not None:
        rows = located.rows
        hashes[rows], n_vertices[rows] = located.hashes, located.n_vertices
        adjacency[rows], texts[rows, :located_width] = located.adjacency, located.operations
        text_lengths[rows] = located.operations_length
        done[rows] = True
    for row in np.flatnonzero(~done).tolist():
        module_hash, matrix = columns["module_hash"][row], columns["adjacency"][row]
        ops = columns["operations"][row].encode("utf-8")
        size = int(len(matrix) ** 0.5)
        numeric &= (len(module_hash) == HASH_BYTES and module_hash.isascii()
                    and 1 <= size <= MAX_VERTICES and len(matrix) == size * size
                    and set(matrix) <= {"0", "1"} and len(ops) <= OPERATION_BYTES)
        if not numeric:
            break
        hashes[row] = np.frombuffer(module_hash.encode(), dtype=np.uint8)
        adjacency[row, :len(matrix)] = np.frombuffer(matrix.encode(), dtype=np.uint8)
        n_vertices[row] = size
        texts[row, :len(ops)] = np.frombuffer(ops, dtype=np.uint8)
        text_lengths[row] = len(ops)
    if not numeric:
        return {"numeric": False}
    return {"numeric": True, "hash_bytes": hashes,
            "adjacency_code": adjacency_codes(adjacency, n_vertices),
            "operations_code": operations.encode(texts, text_lengths)}


OPERATION_CODES = 1 << 11  # one int64 per cell: adjacency code (< 2**52) * this + operations


def cell_numbers(adjacency_codes: np.ndarray, operation_codes: np.ndarray) -> np.ndarray | None:
    """One int64 per cell, or None where a file has too many operation texts for that."""
    if operation_codes.max(initial=0) >= OPERATION_CODES:
        return None
    return adjacency_codes * OPERATION_CODES + operation_codes


def send_cells(keys: list[dict], operations: Operations, helper: Helper,
               seen: set[int]) -> tuple[int, np.ndarray] | None:
    """Send the distinct hashable cells of the records of ``keys`` whose numbers are not in
    ``seen`` (cells sent before; updated here) to the helper; return (request number, their
    cell numbers), or None where the cells do not fit the numbers."""
    if not all(key["numeric"] for key in keys):
        return None
    numbers = cell_numbers(np.concatenate([key["adjacency_code"] for key in keys]),
                           np.concatenate([key["operations_code"] for key in keys]))
    if numbers is None:
        return None
    distinct = pd.unique(numbers).tolist()  # a set of ints: each chunk costs its own size only
    numbers = np.sort(np.array([number for number in distinct if number not in seen],
                               dtype=np.int64))
    seen.update(numbers.tolist())
    if isinstance(helper, ThreadHelper):  # the thread prunes too: all of it off this thread
        return helper.call(numbered_cell_digests, numbers, operations.texts()), numbers
    cells = cells_of_keys(numbers // OPERATION_CODES, numbers % OPERATION_CODES,
                          operations.texts())
    edges, labels, kept, valid = prune_cells(*cells)
    return helper.submit(edges[valid], labels[valid], kept[valid]), numbers[valid]


def numbered_cell_digests(numbers: np.ndarray, operations: list[str]) -> np.ndarray:
    """Digests of the cells of ``numbers`` (zero for cells that do not prune to a valid
    spec: their records fail verification either way)."""
    cells = cells_of_keys(numbers // OPERATION_CODES, numbers % OPERATION_CODES, operations)
    edges, labels, kept, valid = prune_cells(*cells)
    digests = np.zeros((len(numbers), 16), dtype=np.uint8)
    digests[valid] = hash_pruned_digests(edges[valid], labels[valid], kept[valid])
    return digests


def repeats(hash_codes: np.ndarray, epochs: np.ndarray) -> np.ndarray:
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


def malformed_cell(index: int, name: str) -> InputError:
    return InputError(f"Record {index} of {name} has an adjacency that is not a square 0/1 "
                      "matrix with one row per operation.")


def cells_of_keys(adjacency_codes: np.ndarray, operation_codes: np.ndarray,
                   operations: list[str]):
    """(edges, labels, sizes, well_formed) of cells given by numeric keys, as parse_cells."""
    count = len(adjacency_codes)
    sizes = adjacency_codes & 7
    bits = adjacency_codes >> 3
    edges = np.zeros((count, MAX_VERTICES, MAX_VERTICES), dtype=bool)
    for size in np.unique(sizes).tolist():
        rows = np.flatnonzero(sizes == size)
        shifts = np.arange(size * size, dtype=np.int64)
        edges[rows, :size, :size] = ((bits[rows, None] >> shifts) & 1).astype(bool).reshape(
            len(rows), size, size)
    table = np.full((len(operations), MAX_VERTICES), UNKNOWN_OP, dtype=np.int64)
    counts = np.zeros(len(operations), dtype=np.int64)
    for code, text in enumerate(operations):
        names = text.split(",")
        counts[code] = len(names)
        known = [CANONICAL_OPS.index(op) if op in CANONICAL_OPS else UNKNOWN_OP
                 for op in names[:MAX_VERTICES]]
        table[code, :len(known)] = known
    return edges, table[operation_codes], sizes, counts[operation_codes] == sizes


def keyed_cell_columns(columns: dict, keys: dict, name: str, verify: bool,
                        helper: Helper | None = None) -> dict[str, np.ndarray]:
    """repeat, n_vertices and hash_verified (as ``records``' string-keyed route gives them)
    from the numeric cell keys: no strings are made or compared."""
    hash_bytes = keys["hash_bytes"]
    hash_codes, _ = factorize_rows(hash_bytes.view("<i8"))
    cell_codes, cell_first = factorize_rows(
        np.stack([keys["adjacency_code"], keys["operations_code"]], axis=1))
    edges, labels, sizes, well_formed = cells_of_keys(
        keys["adjacency_code"][cell_first], keys["operations_code"][cell_first],
        keys["operations"])
    if not well_formed.all():
        raise malformed_cell(int(np.flatnonzero(~well_formed[cell_codes])[0]), name)
    result = {"repeat": repeats(hash_codes, columns["epochs"]),
              "n_vertices": sizes[cell_codes]}
    if verify:
        cells = prune_cells(edges, labels, sizes, well_formed)
        numbers = cell_numbers(keys["adjacency_code"][cell_first],
                                keys["operations_code"][cell_first])
        computed = hex_rows(cell_digests(*cells, numbers, keys.get("sent"), helper))
        result["hash_verified"] = cells[3][cell_codes] & \
            (hash_bytes == computed[cell_codes]).all(axis=1)
    else:
        result["hash_verified"] = np.full(len(cell_codes), pd.NA, dtype=object)
    return result


def cell_digests(edges: np.ndarray, labels: np.ndarray, kept: np.ndarray, valid: np.ndarray,
                 numbers: np.ndarray | None, sent: list[tuple[int, np.ndarray]] | None,
                 helper: Helper | None) -> np.ndarray:
    """Digests of the valid pruned cells (zero for the others): those ``sent`` to the helper
    ((request, cell numbers) batches) come from it, or are hashed here for a batch it did not
    answer; the rest are hashed here, shared with the helper if nothing was sent."""
    digests = np.zeros((len(kept), 16), dtype=np.uint8)
    if helper is None or not sent or numbers is None:
        digests[valid] = hash_pruned_digests(edges[valid], labels[valid], kept[valid], helper)
        return digests
    every = np.concatenate([batch for _, batch in sent])  # batches are disjoint
    order = np.argsort(every)
    position = order[np.minimum(np.searchsorted(every[order], numbers), len(every) - 1)]
    from_helper = valid & (every[position] == numbers)
    here = valid & ~from_helper
    digests[here] = hash_pruned_digests(edges[here], labels[here], kept[here])
    received = np.zeros((len(every), 16), dtype=np.uint8)
    answered = np.zeros(len(every), dtype=bool)
    ends = np.cumsum([len(batch) for _, batch in sent])
    for (request, batch), end in zip(sent, ends.tolist(), strict=True):
        answer = helper.result(request)
        if answer is not None and answer.shape == (len(batch), 16):
            received[end - len(batch):end] = answer
            answered[end - len(batch):end] = True
    rows = np.flatnonzero(from_helper)
    digests[rows] = received[position[rows]]
    missing = rows[~answered[position[rows]]]
    digests[missing] = hash_pruned_digests(edges[missing], labels[missing], kept[missing])
    return digests
