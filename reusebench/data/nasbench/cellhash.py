"""NAS-Bench-101's cell hash (``graph_util.hash_module``) for many pruned cells at once.

Per cell: every vertex starts from the MD5 of ``str((out_degree, in_degree, label))``; then, as
many times as the cell has vertices, each vertex's hash becomes the MD5 of its in-neighbours'
hashes sorted and joined, ``|``, its out-neighbours' likewise, ``|``, its own; the cell's hash is
the MD5 of ``str(sorted(hashes))``. Every MD5 here is taken of those very strings (CPython's
own MD5, the digest ``hashlib.md5`` gives; ``md5rows``).

Work is arranged so that Python touches only the MD5 calls:
- vertices are grouped once by (in-degree, out-degree), so every round builds the messages of a
  group as one byte matrix (same length, separators at the same columns);
- a hash is kept as its 16 digest bytes and sorted as numbers (``hashstates``);
- while vertex states repeat across cells (the first rounds: few distinct degree/label
  patterns), each distinct state is hashed once; once almost every state is distinct (from the
  third round on for the NAS-Bench-101 space) the bookkeeping stops and every vertex is hashed.

A ``hashhelpers`` helper (a second process, or a thread) can hash part of the cells meanwhile.
Where the compiled extension ``_accel`` was built at install (setup.py; a C compiler is
needed), all of the above is replaced by ``_accel.hash_cells``: the same strings, hashed sixteen
at a time with vector instructions, without the GIL. The numpy route stays for machines without
a compiler; tests run both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from reusebench.data.nasbench.hashstates import StateTable, row_codes
from reusebench.data.nasbench.md5rows import HEX_BYTES, hex_rows, md5_rows, md5_texts
from reusebench.data.nasbench.native import ACCEL_MAX_VERTICES, accel

if TYPE_CHECKING:
    from reusebench.data.nasbench.hashhelpers import Helper, ThreadHelper

SEPARATOR = ord("|")
DEDUPLICATE_BELOW = 0.9  # keep merging equal states while at most this share is distinct


class _Group:
    """Vertices with the same (in-degree, out-degree), cells of most vertices first."""

    def __init__(self, vertices: np.ndarray, incoming: np.ndarray, outgoing: np.ndarray,
                 sizes: np.ndarray, width: int):
        self.vertices, self.incoming, self.outgoing = vertices, incoming, outgoing
        # vertices whose cell still runs in round r (1-based): the first running[r] rows
        self.running = (sizes[:, None] >= np.arange(width + 1)).sum(axis=0)

    def keys(self, table: StateTable, states: np.ndarray,
             rows: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """State ids of the vertices ``rows``: in-neighbours and out-neighbours (each sorted
        as their hex strings sort) and their own."""
        return (table.sort_ids(states[self.incoming[rows]]),
                table.sort_ids(states[self.outgoing[rows]]), states[self.vertices[rows]])


def _assemble(hexes: np.ndarray, ins: np.ndarray, outs: np.ndarray,
              own: np.ndarray) -> np.ndarray:
    count, n_in, n_out = len(own), ins.shape[1], outs.shape[1]
    split = HEX_BYTES * n_in
    message = np.empty((count, HEX_BYTES * (n_in + n_out + 1) + 2), dtype=np.uint8)
    _gather(hexes, ins, message[:, :split])
    message[:, split] = SEPARATOR
    _gather(hexes, outs, message[:, split + 1:split + 1 + HEX_BYTES * n_out])
    message[:, -HEX_BYTES - 1] = SEPARATOR
    _gather(hexes, own[:, None], message[:, -HEX_BYTES:])
    return message


def _gather(hexes: np.ndarray, ids: np.ndarray, out: np.ndarray) -> None:
    """out[i] = the hexes of ids[i] end to end (written in place, no temporary)."""
    if ids.shape[1]:
        rows, columns = out.strides
        view = np.lib.stride_tricks.as_strided(
            out, shape=(len(ids), ids.shape[1], HEX_BYTES),
            strides=(rows, HEX_BYTES * columns, columns))
        np.take(hexes, ids, axis=0, out=view, mode="clip")


def _groups(edges: np.ndarray, valid: np.ndarray, vertex_ids: np.ndarray,
            sizes: np.ndarray) -> list[_Group]:
    width = edges.shape[1]
    cell, _ = np.nonzero(valid)
    incoming = edges.transpose(0, 2, 1)[valid]  # (vertices, width): incoming[v, w] = w -> v
    outgoing = edges[valid]
    in_degree = incoming.sum(axis=1)
    out_degree = outgoing.sum(axis=1)
    shape = (in_degree * (width + 1) + out_degree) * (width + 1) + (width - sizes[cell])
    if shape.max(initial=0) < 1 << 15:
        shape = shape.astype(np.int16)  # numpy sorts 16-bit keys by radix, much faster
    order = np.argsort(shape, kind="stable")  # by degrees, then cells of most vertices first
    degrees = shape[order].astype(np.int64) // (width + 1)
    bounds = np.flatnonzero(np.diff(degrees, prepend=-1, append=-1))
    groups = []
    for begin, end in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        rows = order[begin:end]
        owners = cell[rows][:, None]
        groups.append(_Group(rows, vertex_ids[owners, _neighbours(incoming[rows])],
                             vertex_ids[owners, _neighbours(outgoing[rows])],
                             sizes[cell[rows]], width))
    return groups


def _neighbours(links: np.ndarray) -> np.ndarray:
    """Column indices of the True entries of each row, rows with equally many."""
    count = int(links[0].sum()) if len(links) else 0
    return np.nonzero(links)[1].reshape(len(links), count)


def _initial(edges: np.ndarray, labels: np.ndarray, valid: np.ndarray):
    """Round-0 table and the state id of every vertex: MD5 of str((out, in, label))."""
    triples = np.stack([edges.sum(axis=2), edges.sum(axis=1), labels], axis=-1)[valid]
    low = triples.min(initial=0)
    codes, first = row_codes(triples - low, int(triples.max(initial=0) - low) + 1)
    texts = [str(tuple(row)).encode() for row in triples[first].tolist()]
    return StateTable(md5_texts(texts), exact=True), codes


def _fingerprints(table: StateTable, states: np.ndarray) -> np.ndarray:
    """MD5 of ``str(sorted(hashes))`` = "['h1', 'h2', ...]" for cells of equal size."""
    count, size = states.shape
    ordered = table.sort_ids(states)
    template = ("[" + ", ".join(["'" + "-" * HEX_BYTES + "'"] * size) + "]").encode()
    message = np.tile(np.frombuffer(template, dtype=np.uint8), (count, 1))
    hexes = hex_rows(table.digests[ordered.ravel()]).reshape(count, size, HEX_BYTES)
    for vertex in range(size):
        message[:, 2 + 36 * vertex:34 + 36 * vertex] = hexes[:, vertex]
    return md5_rows(message)


def _round(groups: list[_Group], table: StateTable, states: np.ndarray,
           done: int) -> tuple[StateTable, np.ndarray]:
    """One round over the vertices of cells with more than ``done`` vertices."""
    deduplicate = table.exact
    parts, new_states = [], states.copy()
    offset = distinct = total = 0
    for group in groups:
        count = int(group.running[done + 1])
        if not count:
            continue
        ins, outs, own = group.keys(table, states, slice(0, count))
        if deduplicate:
            codes, first = row_codes(np.concatenate([ins, outs, own[:, None]], axis=1),
                                      len(table))
            ins, outs, own = ins[first], outs[first], own[first]
        else:
            codes = np.arange(count)
        parts.append(md5_rows(_assemble(table.hex, ins, outs, own)))
        new_states[group.vertices[:count]] = offset + codes
        offset += len(own)
        distinct, total = distinct + len(own), total + count
    digests = np.concatenate(parts) if parts else np.zeros((0, 16), dtype=np.uint8)
    return StateTable(digests, exact=deduplicate and distinct <= DEDUPLICATE_BELOW * total), \
        new_states


def hash_pruned_digests(edges: np.ndarray, labels: np.ndarray, sizes: np.ndarray,
                        helper: Helper | ThreadHelper | None = None) -> np.ndarray:
    """MD5 digests (k, 16) of ``module_hash`` for pruned cells: ``edges`` (k, V, V) bool padded
    with no edges, ``labels`` (k, V) ints (-1 input, -2 output, op indices), ``sizes`` (k,).
    With a running ``helper``, the last half of the cells is hashed by it meanwhile."""
    if helper is None or len(sizes) < helper.min_cells:
        return _digests(edges, labels, sizes)
    half = len(sizes) // 2
    request = helper.submit(edges[half:], labels[half:], sizes[half:])
    first = _digests(edges[:half], labels[:half], sizes[:half])
    second = helper.result(request)
    if second is None or second.shape != (len(sizes) - half, 16):
        second = _digests(edges[half:], labels[half:], sizes[half:])
    return np.concatenate([first, second])


def _digests(edges: np.ndarray, labels: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    sizes = np.ascontiguousarray(sizes, dtype=np.int64)
    count, width = labels.shape
    if accel is not None and width <= ACCEL_MAX_VERTICES:
        edges = np.ascontiguousarray(edges, dtype=bool).view(np.uint8)
        digests = accel.hash_cells(edges, labels, sizes, count, width)
        return np.frombuffer(digests, dtype=np.uint8).reshape(count, 16)
    return numpy_digests(edges, labels, sizes)


def numpy_digests(edges: np.ndarray, labels: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``_digests`` with numpy and one MD5 call per distinct vertex state (no extension)."""
    edges = np.asarray(edges, dtype=bool)
    labels = np.asarray(labels, dtype=np.int64)
    sizes = np.asarray(sizes, dtype=np.int64)
    count, width = labels.shape
    valid = np.arange(width) < sizes[:, None]
    vertex_ids = np.full(valid.shape, -1, dtype=np.int64)
    vertex_ids[valid] = np.arange(int(valid.sum()))
    groups = _groups(edges, valid, vertex_ids, sizes)
    table, states = _initial(edges, labels, valid)
    digests = np.zeros((count, 16), dtype=np.uint8)
    for done in range(width + 1):
        finished = np.flatnonzero(sizes == done)
        if finished.size:
            digests[finished] = _fingerprints(table, states[vertex_ids[finished, :done]])
        if not (sizes > done).any():
            break
        table, states = _round(groups, table, states, done)
    return digests


def hash_pruned_cells(edges: np.ndarray, labels: np.ndarray, sizes: np.ndarray) -> list[str]:
    """``module_hash`` hex strings of many pruned cells (see ``hash_pruned_digests``)."""
    digests = hash_pruned_digests(edges, labels, sizes)
    return hex_rows(digests).view(f"S{HEX_BYTES}").ravel().astype(str).tolist()
