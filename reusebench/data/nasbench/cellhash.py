"""NAS-Bench-101's cell hash (``graph_util.hash_module``) for many pruned cells at once.

Per cell: every vertex starts from the MD5 of ``str((out_degree, in_degree, label))``; then, as
many times as the cell has vertices, each vertex's hash becomes the MD5 of its in-neighbours'
hashes sorted and joined, ``|``, its out-neighbours' likewise, ``|``, its own; the cell's hash is
the MD5 of ``str(sorted(hashes))``. Every MD5 here is taken of those very strings (CPython's
own MD5, the digest ``hashlib.md5`` gives).

Work is arranged so that Python touches only the MD5 calls:
- vertices are grouped once by (in-degree, out-degree), so every round builds the messages of a
  group as one byte matrix (same length, separators at the same columns);
- a hash is kept as its 16 digest bytes; ``sorted`` of hex strings is the order of the digests'
  big-endian halves, so neighbours are sorted with numpy and hex is made for whole tables;
- while vertex states repeat across cells (the first rounds: few distinct degree/label
  patterns), each distinct state is hashed once; once almost every state is distinct (from the
  third round on for the NAS-Bench-101 space) the bookkeeping stops and every vertex is hashed.

The MD5 calls themselves are most of the time (the 423,624 cells of NAS-Bench-101 take over
16 million of them), and CPython's MD5 holds the GIL on short inputs, so a ``Helper`` process
can take part of the cells (``python -m reusebench.data.nasbench.cellhash`` reading pickled arrays
on its standard input); if it fails for any reason its share is hashed here.

Where the compiled extension ``_accel`` was built at install (setup.py; a C compiler is
needed), all of the above is replaced by ``_accel.hash_cells``: the same strings, hashed sixteen
at a time with vector instructions, without the GIL, so a ``ThreadHelper`` hashes in parallel
with the reading. The numpy route stays for machines without a compiler; tests run both.
"""

from __future__ import annotations

import binascii
import hashlib
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property
from operator import methodcaller
from pathlib import Path

import numpy as np
import pandas as pd

from reusebench.data.nasbench.native import ACCEL_MAX_VERTICES, accel

try:  # CPython's own MD5 costs about half of OpenSSL's per call on short inputs
    from _md5 import md5 as _md5
except ImportError:  # pragma: no cover - other interpreters
    _md5 = hashlib.md5


HEX_BYTES = 32
SEPARATOR = ord("|")
DEDUPLICATE_BELOW = 0.9  # keep merging equal states while at most this share is distinct
_DIGEST = methodcaller("digest")


def md5_rows(messages: np.ndarray) -> np.ndarray:
    """MD5 digests (n, 16) of the rows of a (n, width) uint8 matrix."""
    count, width = messages.shape
    if count == 0:
        return np.zeros((0, 16), dtype=np.uint8)
    if width == 0:
        return np.tile(np.frombuffer(_md5(b"").digest(), dtype=np.uint8), (count, 1))
    messages = np.ascontiguousarray(messages, dtype=np.uint8)
    if accel is not None:
        digests = accel.md5_rows(messages, count, width)
        return np.frombuffer(digests, dtype=np.uint8).reshape(count, 16)
    return python_md5_rows(messages)


def python_md5_rows(messages: np.ndarray) -> np.ndarray:
    """``md5_rows`` with CPython's MD5, one call per row (where the extension is missing)."""
    count, width = messages.shape
    rows = np.ascontiguousarray(messages).view(f"V{width}").ravel().tolist()  # bytes objects
    return np.frombuffer(b"".join(map(_DIGEST, map(_md5, rows))),
                         dtype=np.uint8).reshape(count, 16)


def hex_rows(digests: np.ndarray) -> np.ndarray:
    """Lower-case hex (n, 32) uint8 of digests (n, 16)."""
    text = binascii.hexlify(np.ascontiguousarray(digests).tobytes())
    return np.frombuffer(text, dtype=np.uint8).reshape(len(digests), HEX_BYTES)


class _Table:
    """The distinct hashes of one round: digests, their hex and their sort keys."""

    def __init__(self, digests: np.ndarray, exact: bool):
        self.digests = np.ascontiguousarray(digests, dtype=np.uint8)
        self.exact = exact  # equal ids <=> equal hashes (else ids are per vertex)

    def __len__(self) -> int:
        return len(self.digests)

    @cached_property
    def hex(self) -> np.ndarray:
        return hex_rows(self.digests)

    @cached_property
    def high(self) -> np.ndarray:  # hex order = (high, low) order
        return self.digests.view(">u8")[:, 0].astype(np.uint64)

    @cached_property
    def low(self) -> np.ndarray:
        return self.digests.view(">u8")[:, 1].astype(np.uint64)

    def sort_ids(self, ids: np.ndarray) -> np.ndarray:
        """Each row of ``ids`` ordered as ``sorted`` orders the hex strings of its hashes."""
        width = ids.shape[1]
        if width < 2:
            return ids
        if width > len(_NETWORKS):
            return self._argsort_ids(ids)
        ids = ids.copy()
        high = self.high[ids]
        for first, second in _NETWORKS[width - 1]:
            swap = high[:, first] > high[:, second]
            tied = np.flatnonzero(high[:, first] == high[:, second])
            if tied.size:  # equal first 8 bytes: order by the last 8
                swap[tied] = (self.low[ids[tied, first]] > self.low[ids[tied, second]])
            rows = np.flatnonzero(swap)
            ids[rows, first], ids[rows, second] = ids[rows, second], ids[rows, first]
            high[rows, first], high[rows, second] = high[rows, second], high[rows, first]
        return ids

    def _argsort_ids(self, ids: np.ndarray) -> np.ndarray:
        high = self.high[ids]
        order = np.argsort(high, axis=1, kind="stable")
        ids = np.take_along_axis(ids, order, axis=1)
        high = np.take_along_axis(high, order, axis=1)
        low = self.low[ids]
        tied = ((high[:, 1:] == high[:, :-1]) & (low[:, 1:] != low[:, :-1])).any(axis=1)
        for row in np.flatnonzero(tied).tolist():  # equal first 8 bytes: order by all 16
            ids[row] = ids[row][np.lexsort((low[row], high[row]))]
        return ids


# sorting networks (compare-exchange pairs) for rows of 2, 3 and 4 ids
_NETWORKS = ((), ((0, 1),), ((0, 1), (1, 2), (0, 1)), ((0, 1), (2, 3), (0, 2), (1, 3), (1, 2)))


def _row_codes(keys: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes equal for equal rows of non-negative ints below ``bound``; a first row per code."""
    width = keys.shape[1]
    bits = max(1, int(bound - 1).bit_length())
    if bits * width <= 63:
        packed = np.zeros(len(keys), dtype=np.int64)
        for column in range(width):
            packed = (packed << bits) | keys[:, column]
        codes, _ = pd.factorize(packed)
    else:  # fingerprint, then compare every row with the first of its code
        weights = np.random.default_rng(20190201).integers(1, 2**62, size=width) | 1
        codes, _ = pd.factorize(keys @ weights)
    first = np.empty(int(codes.max(initial=-1)) + 1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    if bits * width > 63 and not (keys == keys[first[codes]]).all():
        _, first, codes = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return codes.ravel().astype(np.int64), first


class _Group:
    """Vertices with the same (in-degree, out-degree), cells of most vertices first."""

    def __init__(self, vertices: np.ndarray, incoming: np.ndarray, outgoing: np.ndarray,
                 sizes: np.ndarray, width: int):
        self.vertices, self.incoming, self.outgoing = vertices, incoming, outgoing
        # vertices whose cell still runs in round r (1-based): the first running[r] rows
        self.running = (sizes[:, None] >= np.arange(width + 1)).sum(axis=0)

    def keys(self, table: _Table, states: np.ndarray,
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
    codes, first = _row_codes(triples - low, int(triples.max(initial=0) - low) + 1)
    texts = [str(tuple(row)).encode() for row in triples[first].tolist()]
    digests = np.frombuffer(b"".join(_md5(text).digest() for text in texts),
                            dtype=np.uint8).reshape(len(texts), 16)
    return _Table(digests, exact=True), codes


def _fingerprints(table: _Table, states: np.ndarray) -> np.ndarray:
    """MD5 of ``str(sorted(hashes))`` = "['h1', 'h2', ...]" for cells of equal size."""
    count, size = states.shape
    ordered = table.sort_ids(states)
    template = ("[" + ", ".join(["'" + "-" * HEX_BYTES + "'"] * size) + "]").encode()
    message = np.tile(np.frombuffer(template, dtype=np.uint8), (count, 1))
    hexes = hex_rows(table.digests[ordered.ravel()]).reshape(count, size, HEX_BYTES)
    for vertex in range(size):
        message[:, 2 + 36 * vertex:34 + 36 * vertex] = hexes[:, vertex]
    return md5_rows(message)


def _round(groups: list[_Group], table: _Table, states: np.ndarray,
           done: int) -> tuple[_Table, np.ndarray]:
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
            codes, first = _row_codes(np.concatenate([ins, outs, own[:, None]], axis=1),
                                      len(table))
            ins, outs, own = ins[first], outs[first], own[first]
        else:
            codes = np.arange(count)
        parts.append(md5_rows(_assemble(table.hex, ins, outs, own)))
        new_states[group.vertices[:count]] = offset + codes
        offset += len(own)
        distinct, total = distinct + len(own), total + count
    digests = np.concatenate(parts) if parts else np.zeros((0, 16), dtype=np.uint8)
    return _Table(digests, exact=deduplicate and distinct <= DEDUPLICATE_BELOW * total), \
        new_states


def hash_pruned_digests(edges: np.ndarray, labels: np.ndarray, sizes: np.ndarray,
                        helper: Helper | None = None) -> np.ndarray:
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


# ---- a second process ----------------------------------------------------------------------------

MIN_SHARED_CELLS = 20_000  # below this a second process costs more than it saves


class Helper:
    """A second Python process that hashes cells, started before they are known so that its
    start-up overlaps the reading; use as a context manager. Requests are answered in order;
    a thread writes them and another reads the answers as they come, so neither side waits
    on a full pipe."""

    def __init__(self, min_cells: int = MIN_SHARED_CELLS):
        self.min_cells = min_cells
        package_root = str(Path(__file__).resolve().parents[2])
        path = os.environ.get("PYTHONPATH")
        environment = {**os.environ, "PYTHONPATH": package_root + (os.pathsep + path
                                                                  if path else "")}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "reusebench.data.nasbench.cellhash"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env=environment)
        self._outbox: queue.Queue = queue.Queue()
        self._inbox: queue.Queue = queue.Queue()
        self._submitted = self._taken = 0
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._writer.start()
        self._reader.start()

    def submit(self, *arrays: np.ndarray) -> int:
        """Queue the arrays of ``hash_pruned_digests`` for the helper; returns the request's
        number for ``result``."""
        self._outbox.put(pickle.dumps(tuple(np.ascontiguousarray(array) for array in arrays),
                                      protocol=pickle.HIGHEST_PROTOCOL))
        self._submitted += 1
        return self._submitted - 1

    def result(self, request: int) -> np.ndarray | None:
        """The digests for request number ``request`` (answers to earlier requests not
        taken are dropped), or None if the helper failed."""
        answer = None
        while self._taken <= request:
            answer = self._inbox.get()
            self._taken += 1
            if answer is None:
                self._inbox.put(None)  # failed for good: so are later requests
                self._taken = self._submitted
                return None
        return answer

    def _write(self) -> None:
        while (payload := self._outbox.get()) is not None:
            try:
                self._process.stdin.write(payload)
                self._process.stdin.flush()
            except OSError:  # the helper is gone: the reader says so
                return

    def _read(self) -> None:
        while True:
            try:
                self._inbox.put(pickle.load(self._process.stdout))
            except (EOFError, OSError, pickle.UnpicklingError):
                self._inbox.put(None)
                return

    def close(self) -> None:
        self._outbox.put(None)
        if self._taken < self._submitted:  # answers nobody will read: stop at once
            self._process.kill()
        self._writer.join(timeout=5)
        try:
            self._process.stdin.close()
            self._process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()
        self._reader.join(timeout=5)
        self._process.stdout.close()

    def __enter__(self) -> Helper:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class ThreadHelper:
    """``Helper``'s interface on a thread of this process: where the extension was built, the
    hashing runs in compiled code without the GIL, so a thread hashes while the reading goes
    on, with no process to start and no arrays to copy."""

    eager = True  # cells may come in many small batches: each costs next to nothing

    def __init__(self, min_cells: int = MIN_SHARED_CELLS):
        self.min_cells = min_cells
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cellhash")
        self._futures: list[Future] = []

    def submit(self, *arrays: np.ndarray) -> int:
        return self.call(_digests, *arrays)

    def call(self, function: Callable[..., np.ndarray], *arguments) -> int:
        """Run ``function(*arguments)`` on the thread; its result is that of the request."""
        self._futures.append(self._pool.submit(function, *arguments))
        return len(self._futures) - 1

    def result(self, request: int) -> np.ndarray | None:
        return self._futures[request].result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ThreadHelper:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def start_helper() -> Helper | ThreadHelper | None:
    """A hashing thread where the extension was built, else a running Helper process, or None
    where no process can be started."""
    if accel is not None:
        return ThreadHelper()
    try:
        return Helper()
    except OSError:
        return None


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


def _serve() -> None:
    """The helper's side: hash each pickled request from standard input until it closes."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            arrays = pickle.load(source)
        except EOFError:
            return
        pickle.dump(_digests(*arrays), sink, protocol=pickle.HIGHEST_PROTOCOL)
        sink.flush()


if __name__ == "__main__":
    _serve()
