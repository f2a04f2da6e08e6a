"""The vertex hashes of one round of the cell hash (``cellhash``), kept as numbers.

A hash is kept as its 16 digest bytes and a vertex state as an id into the round's table of
distinct hashes; ``sorted`` of hex strings is the order of the digests' big-endian halves, so
neighbours are sorted with numpy (sorting networks for rows of up to four) and hex is made for
whole tables. ``row_codes`` merges equal rows of ids, so that a state that repeats across cells
is hashed once.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from reusebench.data.nasbench.md5rows import hex_rows


class StateTable:
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


def row_codes(keys: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray]:
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
