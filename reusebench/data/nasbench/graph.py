"""NAS-Bench-101 cell specs: pruning and the isomorphism-invariant MD5 hash that keys the data.

``module_hash`` follows nasbench's ``graph_util.hash_module``: every vertex starts from the MD5
of ``str((out_degree, in_degree, label))``; then, as many times as there are vertices, each
vertex's hash becomes the MD5 of its in-neighbours' hashes sorted and joined, ``|``, its
out-neighbours' likewise, ``|``, its own; the cell's hash is the MD5 of ``str(sorted(hashes))``.

``module_hash`` here is the plain reference; ``cell_hashes`` and ``hash_parsed_cells`` compute
the same hash for many cells at once (parsing and pruning with numpy here, hashing in
``cellhash``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from reusebench.data.nasbench.cellhash import hash_pruned_cells
from reusebench.data.nasbench.native import ACCEL_MAX_VERTICES, accel

try:  # CPython's own MD5 costs about half of OpenSSL's per call on short inputs
    from _md5 import md5 as _md5
except ImportError:  # pragma: no cover - other interpreters
    _md5 = hashlib.md5

CANONICAL_OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
INPUT_LABEL, OUTPUT_LABEL = -1, -2


class InvalidSpecError(ValueError):
    """A cell spec that nasbench's ModelSpec rejects or that cannot be hashed."""


def _md5_hex(text: str) -> str:
    return _md5(text.encode("utf-8")).hexdigest()


def _check_spec(matrix: np.ndarray, ops: Sequence[str]) -> None:
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise InvalidSpecError("the adjacency matrix is not square")
    if matrix.shape[0] != len(ops):
        raise InvalidSpecError("the number of operations differs from the matrix size")
    if np.tril(matrix).any():
        raise InvalidSpecError("the adjacency matrix is not strictly upper triangular")


def _on_path_vertices(matrix: np.ndarray) -> np.ndarray:
    """Vertices reachable from the input (vertex 0) that also reach the output (the last)."""
    edges = matrix.astype(bool)
    size = len(edges)
    from_input = np.zeros(size, dtype=bool)
    to_output = np.zeros(size, dtype=bool)
    from_input[0] = to_output[-1] = True
    for _ in range(size):
        from_input |= (from_input[:, None] & edges).any(axis=0)
        to_output |= (edges & to_output[None, :]).any(axis=1)
    return from_input & to_output


def prune(matrix: np.ndarray, ops: list[str]) -> tuple[np.ndarray, list[str]]:
    """Drop the vertices not on an input->output path, as nasbench's ModelSpec does.

    Raises InvalidSpecError for a matrix ModelSpec rejects (not square, not strictly upper
    triangular, size unlike ``ops``) and for a spec whose input does not reach its output.
    """
    matrix = np.asarray(matrix)
    _check_spec(matrix, ops)
    keep = _on_path_vertices(matrix) if len(ops) else np.zeros(0, dtype=bool)
    if keep.sum() < 2:
        raise InvalidSpecError("the input is not connected to the output")
    kept = np.flatnonzero(keep)
    return matrix[np.ix_(kept, kept)], [ops[index] for index in kept.tolist()]


def module_hash(matrix: np.ndarray, labeling: Sequence[int]) -> str:
    """nasbench's ``graph_util.hash_module``: MD5 fingerprint invariant to vertex order."""
    edges = np.asarray(matrix).astype(bool)
    size = len(labeling)
    if edges.shape != (size, size):
        raise InvalidSpecError("the labeling does not match the matrix size")
    out_degree = edges.sum(axis=1).tolist()
    in_degree = edges.sum(axis=0).tolist()
    hashes = [_md5_hex(str((out_degree[v], in_degree[v], int(labeling[v]))))
              for v in range(size)]
    in_neighbours = [np.flatnonzero(edges[:, v]).tolist() for v in range(size)]
    out_neighbours = [np.flatnonzero(edges[v]).tolist() for v in range(size)]
    for _ in range(size):
        hashes = [_md5_hex("".join(sorted(hashes[w] for w in in_neighbours[v])) + "|"
                           + "".join(sorted(hashes[w] for w in out_neighbours[v])) + "|"
                           + hashes[v])
                  for v in range(size)]
    return _md5_hex(str(sorted(hashes)))


def labeling_of(ops: Sequence[str]) -> list[int]:
    """ModelSpec.hash_spec's labels: -1, the index of each inner op in CANONICAL_OPS, -2."""
    try:
        inner = [CANONICAL_OPS.index(op) for op in ops[1:-1]]
    except ValueError:
        unknown = next(op for op in ops[1:-1] if op not in CANONICAL_OPS)
        raise InvalidSpecError(f"the operation {unknown!r} is not a NAS-Bench-101 one") from None
    return [INPUT_LABEL, *inner, OUTPUT_LABEL]


def cell_hash(matrix: np.ndarray, ops: list[str]) -> str:
    """The NAS-Bench-101 key of a cell: ``module_hash`` of its pruned spec."""
    pruned_matrix, pruned_ops = prune(matrix, ops)
    return module_hash(pruned_matrix, labeling_of(pruned_ops))


# ---- many cells at once -----------------------------------------------------------------------

def _fingerprint_weights(count: int) -> np.ndarray:
    return np.random.default_rng(20190201).integers(1, 2**62, size=count, dtype=np.int64) | 1


def factorize_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes that are equal for equal rows of an integer matrix, and one row index per code.

    Rows are fingerprinted to one uint64 and the fingerprints factorized; every row is then
    compared with the first row of its code, so a fingerprint collision cannot merge rows.
    """
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # integer dot products wrap around silently, which is all a fingerprint needs
    fingerprint = rows @ _fingerprint_weights(rows.shape[1])
    codes, _ = pd.factorize(fingerprint)
    first = np.empty(codes.max() + 1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    if not (rows == rows[first[codes]]).all():
        _, first, codes = np.unique(rows, axis=0, return_index=True, return_inverse=True)
        codes = codes.ravel()
    return codes.astype(np.int64), first


UNKNOWN_OP = 9  # label of an inner operation that is not one of CANONICAL_OPS


def parse_cells(adjacency: Sequence[str], operations: Sequence[str]):
    """Cells given as record strings as padded arrays: (edges (k, V, V) bool, labels (k, V)
    with CANONICAL_OPS indices or UNKNOWN_OP, sizes (k,), well_formed (k,): the adjacency is
    a square 0/1 matrix with as many rows as there are operations)."""

    count = len(adjacency)
    sizes = np.array([math.isqrt(len(text)) for text in adjacency], dtype=np.int64)
    width = int(sizes.max(initial=0))
    well_formed = np.array([len(text) for text in adjacency], dtype=np.int64) == sizes**2
    edges = np.zeros((count, width, width), dtype=bool)
    for size in np.unique(sizes[well_formed]).tolist():
        rows = np.flatnonzero(well_formed & (sizes == size))
        text = "".join([adjacency[row] for row in rows.tolist()]).encode("utf-8", "replace")
        chars = np.frombuffer(text, dtype=np.uint8)
        if len(chars) != len(rows) * size * size:  # non-ASCII: handle cell by cell
            well_formed[rows] = [set(adjacency[row]) <= {"0", "1"} for row in rows.tolist()]
            continue
        chars = chars.reshape(len(rows), size, size)
        well_formed[rows] = ((chars == ord("0")) | (chars == ord("1"))).all(axis=(1, 2))
        edges[rows, :size, :size] = chars == ord("1")
    op_codes, op_texts = pd.factorize(np.asarray(operations, dtype=object))
    op_table = np.full((len(op_texts), max(width, 1)), UNKNOWN_OP, dtype=np.int64)
    op_counts = np.zeros(len(op_texts), dtype=np.int64)
    for code, text in enumerate(op_texts.tolist()):
        names = text.split(",")
        op_counts[code] = len(names)
        known = [CANONICAL_OPS.index(name) if name in CANONICAL_OPS else UNKNOWN_OP
                 for name in names[:width]]
        op_table[code, :len(known)] = known
    labels = op_table[op_codes][:, :width] if count else np.zeros((0, width), dtype=np.int64)
    well_formed &= op_counts[op_codes] == sizes if count else well_formed
    return edges, labels, sizes, well_formed


def prune_cells(edges: np.ndarray, labels: np.ndarray, sizes: np.ndarray,
                well_formed: np.ndarray):
    """``prune`` and ``labeling_of`` for padded cells: (edges, labels, sizes, valid)."""
    count, width = labels.shape
    if width == 0:
        return edges, labels, sizes, np.zeros(count, dtype=bool)
    if accel is not None and width <= ACCEL_MAX_VERTICES:
        return _accel_prune(edges, labels, sizes, well_formed)
    vertex = np.arange(width)
    real = vertex < sizes[:, None]
    valid = well_formed & ~(edges & np.tri(width, dtype=bool)).any(axis=(1, 2))
    from_input = np.zeros((count, width), dtype=bool)
    to_output = np.zeros((count, width), dtype=bool)
    from_input[:, 0] = True
    to_output[np.arange(count), np.maximum(sizes - 1, 0)] = True
    for _ in range(width):
        from_input |= (from_input[:, :, None] & edges).any(axis=1)
        to_output |= (edges & to_output[:, None, :]).any(axis=2)
    keep = from_input & to_output & real
    kept = keep.sum(axis=1)
    valid &= kept >= 2
    order = np.argsort(~keep, axis=1, kind="stable")  # kept vertices first, in their order
    edges = edges[np.arange(count)[:, None, None], order[:, :, None], order[:, None, :]]
    labels = np.take_along_axis(labels, order, axis=1)
    inside = vertex < kept[:, None]
    edges &= inside[:, :, None] & inside[:, None, :]
    labels[:, 0] = INPUT_LABEL
    labels[np.arange(count), np.maximum(kept - 1, 0)] = OUTPUT_LABEL
    valid &= ~((labels == UNKNOWN_OP) & inside).any(axis=1)
    return edges, labels, kept, valid


def _accel_prune(edges: np.ndarray, labels: np.ndarray, sizes: np.ndarray,
                 well_formed: np.ndarray):
    count, width = labels.shape
    pruned = accel.prune_cells(
        np.ascontiguousarray(edges, dtype=bool).view(np.uint8),
        np.ascontiguousarray(labels, dtype=np.int64), np.ascontiguousarray(sizes, np.int64),
        np.ascontiguousarray(np.broadcast_to(well_formed, (count,)), dtype=bool).view(np.uint8),
        count, width, INPUT_LABEL, OUTPUT_LABEL, UNKNOWN_OP)
    edges, labels, kept, valid = (np.frombuffer(part, dtype=dtype) for part, dtype in
                                  zip(pruned, (bool, np.int64, np.int64, bool), strict=True))
    return (edges.reshape(count, width, width).copy(), labels.reshape(count, width).copy(),
            kept.copy(), valid.copy())


def cell_hashes(adjacency: Sequence[str], operations: Sequence[str]) -> list[str | None]:
    """``cell_hash`` of many cells given as record strings (row-major "0"/"1" adjacency,
    comma-joined operations); None for a cell whose spec cannot be hashed."""
    return hash_parsed_cells(*parse_cells(adjacency, operations))


def hash_parsed_cells(edges: np.ndarray, labels: np.ndarray, sizes: np.ndarray,
                      well_formed: np.ndarray) -> list[str | None]:
    """``cell_hashes`` of cells already turned into arrays by ``parse_cells``."""
    edges, labels, sizes, valid = prune_cells(edges, labels, sizes, well_formed)
    hashes: list[str | None] = [None] * len(sizes)
    rows = np.flatnonzero(valid)
    if rows.size:
        for row, value in zip(rows.tolist(), hash_pruned_cells(edges[rows], labels[rows],
                                                               sizes[rows]), strict=True):
            hashes[row] = value
    return hashes
