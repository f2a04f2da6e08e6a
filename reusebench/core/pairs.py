"""Pairwise metrics (Eq. 4 and 9) between runs that differ in exactly one key.

- ``data`` pairs differ only in init: a = the random-init run, b = a pretrained one;
  G_init = M_er(a) - M_er(b), D_init(data) = Σ over common epochs of H_test(a) - H_test(b).
- ``graph`` pairs differ only in arch: a, b in sorted arch order;
  D_init(graph) = Σ over common epochs of H_test(a) - H_test(b).
Runs without a partner are returned in a separate table with the reason.

A metrics table computed with the Study A authors' definitions (its ``definitions`` column,
:mod:`reusebench.core.metricdefs`) gets their variants: losses clipped to [0, 36],
G_init = M_er(b) - M_er(a) and D_init(data) = Σ max(H_test(b) - H_test(a), 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reusebench.core.curves import RUN_KEYS, CurveMatrix
from reusebench.core.metricdefs import AUTHORS, definitions_of
from reusebench.core.metrics import clip_losses, masked_sum

RANDOM_INIT = "random"
PAIR_COLUMNS = ("kind", "run_id_a", "run_id_b", "study", "dataset", "arch_a", "arch_b",
                "init_a", "init_b", "lr", "seed", "device", "n_common_epochs", "g_init",
                "d_init")
UNPAIRED_COLUMNS = ("kind", "run_id", "reason")
_DENSE_CELLS = 50_000_000  # runs × distinct epochs above which pairs are summed by a merge
_CHUNK_PAIRS = 20_000


def pair_metrics(curves: pd.DataFrame, run_metrics: pd.DataFrame,
                 matrix: CurveMatrix | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pairs table and the unpaired-runs table for a validated curve table.

    ``matrix``, the curve matrix whose rows are run_metrics' rows, saves re-indexing
    the table when every run's epochs are 1..n.
    """
    data_pairs, data_unpaired = _pairs_differing_in(run_metrics, "init")
    graph_pairs, graph_unpaired = _pairs_differing_in(run_metrics, "arch")
    pairs = pd.concat([data_pairs.assign(kind="data"), graph_pairs.assign(kind="graph")],
                      ignore_index=True)
    authors = definitions_of(run_metrics) == AUTHORS
    m_er = run_metrics["m_er"].to_numpy(dtype="float64")
    is_data = (pairs["kind"] == "data").to_numpy()
    gain = m_er[pairs["row_a"]] - m_er[pairs["row_b"]]
    pairs["g_init"] = np.where(is_data, -gain if authors else gain, np.nan)
    flip = is_data & authors  # the authors' D_init(data): Σ max(H_b - H_a, 0)
    if matrix is not None and _epochs_are_positions(matrix):
        summed = _summed_by_position(matrix, pairs["row_a"].to_numpy(),
                                     pairs["row_b"].to_numpy(), flip, authors)
    else:
        summed = _summed_test_loss_difference(curves, pairs, flip, authors)
    pairs["n_common_epochs"] = summed["n_common_epochs"].to_numpy()
    pairs["d_init"] = summed["d_init"].to_numpy()
    unpaired = pd.concat([data_unpaired.assign(kind="data"),
                          graph_unpaired.assign(kind="graph")], ignore_index=True)
    return (pairs.reindex(columns=PAIR_COLUMNS),
            unpaired.reindex(columns=UNPAIRED_COLUMNS))


def _pairs_differing_in(runs: pd.DataFrame, key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    others = [column for column in RUN_KEYS if column != key]
    # integer ranks and row numbers: string comparisons and isin are slow in pandas 3
    keyed = runs[["run_id", *RUN_KEYS]].assign(rank=pd.factorize(runs[key], sort=True)[0],
                                               row=np.arange(len(runs)))
    if key == "init":
        left = keyed[keyed["init"] == RANDOM_INIT]
        right = keyed[keyed["init"] != RANDOM_INIT]
    else:
        left = right = keyed
    # one integer code for the other keys: merging on it beats six Arrow string columns
    group = pd.Series(np.zeros(len(keyed), dtype="int64"), index=keyed.index)
    for column in others:
        codes, uniques = pd.factorize(keyed[column])
        group = group * (len(uniques) + 1) + codes
    keyed = keyed.assign(group=pd.factorize(group)[0])
    left, right = keyed.loc[left.index], keyed.loc[right.index]
    merged = left[["group", "run_id", key, "rank", "row"]].merge(
        right, on="group", suffixes=("_a", "_b"))
    if key == "arch":
        merged = merged[merged["rank_a"] < merged["rank_b"]]
    shared = "arch" if key == "init" else "init"
    merged = merged.rename(columns={column: column.removesuffix("_b") for column in
                                    [f"{c}_b" for c in others]})
    merged[f"{shared}_a"] = merged[f"{shared}_b"] = merged[shared]
    pairs = merged.sort_values(["row_a", "row_b"]).reset_index(drop=True)
    partnered = np.zeros(len(keyed), dtype=bool)
    partnered[pairs["row_a"].to_numpy()] = partnered[pairs["row_b"].to_numpy()] = True
    lonely = keyed[~partnered]
    unpaired = pd.DataFrame({"run_id": lonely["run_id"].to_numpy(),
                             "reason": _reason(key, lonely)})
    return pairs[[*PAIR_COLUMNS[1:-3], "row_a", "row_b"]], unpaired


def _reason(key: str, lonely: pd.DataFrame) -> np.ndarray:
    if key == "arch":
        return np.full(len(lonely), "no run of another arch with the same other keys")
    missing_pretrained = "no pretrained-init run with the same other keys"
    missing_random = f"no init={RANDOM_INIT} run with the same other keys"
    return np.where(lonely["init"] == RANDOM_INIT, missing_pretrained, missing_random)


def _epochs_are_positions(matrix: CurveMatrix) -> bool:
    positions = np.arange(1, matrix.epoch.shape[1] + 1, dtype="float64")
    return bool((matrix.epoch[matrix.valid] == np.broadcast_to(
        positions, matrix.epoch.shape)[matrix.valid]).all())


def _summed_by_position(matrix: CurveMatrix, rows_a: np.ndarray, rows_b: np.ndarray,
                        flip: np.ndarray, clip: bool) -> pd.DataFrame:
    """Sums over common epochs when column p of the matrix is epoch p + 1 for every run."""
    loss = matrix.values["test_loss"]
    return _chunked_sums(clip_losses(loss) if clip else loss, matrix.valid, rows_a, rows_b,
                         flip)


def _difference(loss_a: np.ndarray, loss_b: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """H_test(a) - H_test(b); max(H_test(b) - H_test(a), 0) for the rows of ``flip``."""
    with np.errstate(invalid="ignore"):  # inf - inf is NaN, and NaN is the answer there
        difference = loss_a - loss_b
    flipped = np.maximum(-difference, 0.0)  # NaN stays NaN
    return np.where(flip.reshape(-1, *[1] * (difference.ndim - 1)), flipped, difference)


def _chunked_sums(loss: np.ndarray, present: np.ndarray, rows_a: np.ndarray,
                  rows_b: np.ndarray, flip: np.ndarray) -> pd.DataFrame:
    counts = np.zeros(len(rows_a), dtype="int64")
    sums = np.zeros(len(rows_a))
    for chunk in np.array_split(np.arange(len(rows_a)), max(1, len(rows_a) // _CHUNK_PAIRS)):
        common = present[rows_a[chunk]] & present[rows_b[chunk]]
        counts[chunk] = common.sum(axis=1)
        difference = _difference(loss[rows_a[chunk]], loss[rows_b[chunk]], flip[chunk])
        sums[chunk] = masked_sum(difference, common)
    return pd.DataFrame({"n_common_epochs": counts,
                         "d_init": np.where(counts > 0, sums, np.nan)})


def _summed_test_loss_difference(curves: pd.DataFrame, pairs: pd.DataFrame, flip: np.ndarray,
                                 clip: bool) -> pd.DataFrame:
    """Σ over the epochs both runs have of H_test(a) - H_test(b), and how many there are."""
    if clip:
        curves = curves.assign(test_loss=clip_losses(curves["test_loss"].to_numpy("float64")))
    run_codes, run_ids = pd.factorize(curves["run_id"])
    epochs, epoch_codes = np.unique(curves["epoch"].to_numpy(), return_inverse=True)
    if len(run_ids) * len(epochs) > _DENSE_CELLS:
        return _summed_by_merge(curves, pairs, flip)
    # row numbers of the curve matrix for each pair member (ids are unique per run)
    loss = np.full((len(run_ids), len(epochs)), np.nan)
    loss[run_codes, epoch_codes] = curves["test_loss"].to_numpy(dtype="float64")
    present = np.zeros(loss.shape, dtype=bool)
    present[run_codes, epoch_codes] = True
    row_of = pd.Index(run_ids)
    rows_a = row_of.get_indexer(pairs["run_id_a"])
    rows_b = row_of.get_indexer(pairs["run_id_b"])
    return _chunked_sums(loss, present, rows_a, rows_b, flip)


def _summed_by_merge(curves: pd.DataFrame, pairs: pd.DataFrame,
                     flip: np.ndarray) -> pd.DataFrame:
    """The same sums for tables whose epochs are too many and sparse for a dense matrix."""
    losses = curves[["run_id", "epoch", "test_loss"]]
    joined = (pairs[["run_id_a", "run_id_b"]].reset_index(names="pair")
              .merge(losses.rename(columns={"run_id": "run_id_a", "test_loss": "loss_a"}),
                     on="run_id_a")
              .merge(losses.rename(columns={"run_id": "run_id_b", "test_loss": "loss_b"}),
                     on=["run_id_b", "epoch"]))
    difference = pd.Series(_difference(joined["loss_a"].to_numpy("float64"),
                                       joined["loss_b"].to_numpy("float64"),
                                       flip[joined["pair"].to_numpy()]), index=joined.index)
    grouped = difference.groupby(joined["pair"])
    broken = (~np.isfinite(difference)).groupby(joined["pair"]).any()
    result = pd.DataFrame({"n_common_epochs": grouped.size(),
                           "d_init": grouped.sum().where(~broken)})
    result = result.reindex(range(len(pairs)))
    result["n_common_epochs"] = result["n_common_epochs"].fillna(0).astype("int64")
    return result.reset_index(drop=True)
