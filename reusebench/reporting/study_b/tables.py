"""Study B tables (paper Tables 2, 3, 4 and 7) from the per-run summaries; CSV + Markdown.

``runs`` is the table of run summaries (``results/tradeoff/runs.csv``), one row per run.
Table 1 comes from :func:`reusebench.training.keras.measure.model_size_table`, Tables 5 and 6
from :func:`reusebench.core.opscore.ranking`. Every per-run table (one row per run and
seed) has a ``_by_seed_mean`` companion: per configuration, the number of seeds ``n`` and
the mean, standard deviation and 95 % Student t interval over seeds of each number
(:func:`reusebench.core.evidence.seed_summary`; empty where n < 2).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from reusebench.core.evidence import seed_summary
from reusebench.core.io import atomic_write_all
from reusebench.core.opscore import SCORE_COLUMNS, ranking
from reusebench.core.tradeoff_runs import OWN_SPLIT
from reusebench.reporting.markdown import markdown_table

SCORES = ("accuracy", "precision", "recall", "f1")
TIME_COLUMNS = ("train_seconds", "test_seconds", "total_seconds")
FIRST_COLUMNS = ("run_id", "dataset", "source_dataset", "split", "arch", "technique", "method",
                 "clusters", "unfrozen_layers", "device", "seed", "epochs", *SCORES, "correct",
                 "n_test", "n_classes", "above_chance_p", "reference_loss", *TIME_COLUMNS,
                 "test_ms_per_image", "prep_seconds", "trace_seconds", "size_mb", "gzip_mb",
                 "tflite_fp16_mb", "parameters", "layers", "gpu_peak_mb")


def runs_table(summaries: Iterable[dict]) -> pd.DataFrame:
    """One row per run summary (nested settings dropped), key columns first, sorted."""
    rows = [{key: value for key, value in summary.items() if not isinstance(value, dict)}
            for summary in summaries]
    if not rows:
        raise ValueError("no run summaries")
    table = pd.DataFrame(rows)
    first = [column for column in FIRST_COLUMNS if column in table.columns]
    table = table[[*first, *[column for column in table.columns if column not in first]]]
    keys = ["source_dataset", "split", "arch", "technique", "device", "seed"]
    return table.sort_values([key for key in keys if key in table.columns],
                             kind="stable").reset_index(drop=True)


def read_summaries(paths: Iterable[str | Path]) -> list[dict]:
    return [json.loads(Path(path).read_text()) for path in paths]


def own_split(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["split"] == OWN_SPLIT]


def accuracy_table(runs: pd.DataFrame, baselines: pd.DataFrame) -> pd.DataFrame:
    """Table 2: accuracy, macro precision, recall and F1 per dataset × model × technique.

    Each dataset also gets its random-prediction baseline row (accuracy ≈ 1/classes).
    """
    columns = ["dataset", "arch", "technique", "device", "seed", *SCORES, "correct", "n_test",
               "n_classes", "above_chance_p"]
    models = own_split(runs)[columns]
    table = pd.concat([models, baselines.reindex(columns=columns)], ignore_index=True)
    return table.sort_values(["dataset", "accuracy"], ascending=[True, False],
                             kind="stable").reset_index(drop=True)


def split_time_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Table 3: train / test / total seconds per split ratio × model × device.

    Only model × technique × device × dataset groups run with more than one split.
    """
    keys = ["device", "source_dataset", "technique", "arch"]
    columns = [*keys, "split", "seed", "n_train", "n_test", *TIME_COLUMNS, "test_ms_per_image"]
    splits = runs.groupby(keys)["split"].transform("nunique")
    table = runs.loc[splits > 1, columns].rename(columns={"source_dataset": "dataset"})
    return table.sort_values(["device", "dataset", "technique", "split", "arch", "seed"],
                             kind="stable").reset_index(drop=True)


def technique_time_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Table 4: train + test seconds per technique × model × device (own split).

    ``prep_seconds`` (clustering or layer transfer) is reported beside, not added.
    """
    columns = ["device", "dataset", "arch", "technique", "seed", "epochs", *TIME_COLUMNS,
               "feature_seconds", "prep_seconds", "trace_seconds"]
    return own_split(runs).reindex(columns=columns).sort_values(
        ["device", "dataset", "arch", "technique", "seed"], kind="stable").reset_index(drop=True)


def clustering_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Table 7: clusters K vs saved size (raw, gzip) and clustering time, with references.

    Each clustered model is preceded by its unclustered reference where that run exists:
    the same dataset, split, model, device and unfreezing (``original`` in the K column).
    """
    columns = ["dataset", "arch", "device", "technique", "clusters", "seed", "size_mb",
               "gzip_mb", "prep_seconds", "accuracy"]
    clustered = runs[runs["method"] == "cluster"]
    keys = ["dataset", "arch", "device", "unfrozen_layers"]
    references = runs[runs["method"] == "base"].merge(
        clustered[keys].drop_duplicates(), on=keys)
    table = pd.concat([references.assign(clusters=np.nan, prep_seconds=np.nan), clustered],
                      ignore_index=True)[columns]
    table = table.assign(_order=table["clusters"].fillna(-1)).sort_values(
        ["dataset", "arch", "device", "_order", "seed"], kind="stable")
    table["clusters"] = ["original" if np.isnan(k) else str(int(k)) for k in table["_order"]
                         .where(table["_order"] >= 0, np.nan)]
    return table.drop(columns="_order").rename(
        columns={"prep_seconds": "clustering_seconds"}).reset_index(drop=True)


def dataset_ranking(runs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Tables 5 and 6: the OpScore ranking of one data set's runs on its own split."""
    runs = own_split(runs)
    return ranking(runs[runs["dataset"] == dataset])


# Per table: the keys that name a configuration (every key but the seed) and the numbers
# averaged over seeds.
SEED_AGGREGATES = {
    "accuracy": (["dataset", "arch", "technique", "device"], [*SCORES, "correct"]),
    "splits": (["device", "dataset", "technique", "arch", "split"],
               [*TIME_COLUMNS, "test_ms_per_image"]),
    "techniques": (["device", "dataset", "arch", "technique", "epochs"],
                   [*TIME_COLUMNS, "feature_seconds", "prep_seconds", "trace_seconds"]),
    "clustering": (["dataset", "arch", "device", "technique", "clusters"],
                   ["size_mb", "gzip_mb", "clustering_seconds", "accuracy"]),
}


def by_seed(table: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    """Mean, std, n and 95 % interval over seeds per configuration; rows without a seed
    (the random baselines) are left out, and ``max_above_chance_p`` is the largest
    p-value of the group's runs where the table has them."""
    table = table[table["seed"].notna()] if "seed" in table.columns else table
    summary = seed_summary(table, keys, columns)
    if "above_chance_p" in table.columns and not summary.empty:
        worst = table.groupby(keys, dropna=False, sort=True)["above_chance_p"].max()
        summary["max_above_chance_p"] = worst.to_numpy()
    return summary


def seed_table(name: str, table: pd.DataFrame) -> pd.DataFrame:
    keys, columns = SEED_AGGREGATES[name]
    return by_seed(table, keys, columns)


def ranking_by_seed(ranked: pd.DataFrame) -> pd.DataFrame:
    """OpScore over seeds: per model, n, mean ± std and interval; ranked by the mean total."""
    runs = ranked[ranked["rank"].notna()]
    summary = by_seed(runs, ["arch", "technique", "device"], list(SCORE_COLUMNS))
    summary = summary.sort_values("opscore_total_mean", kind="stable").reset_index(drop=True)
    summary.insert(0, "rank", np.arange(1, len(summary) + 1))
    return summary


SEED_NOTE = ("Over seeds, per configuration: n = seeds, `_mean` / `_std` over them, "
             "`_ci_low` / `_ci_high` the 95 % Student t interval of the mean (empty where "
             "n < 2). ")


def study_b_tables(runs: pd.DataFrame,
                   baselines: pd.DataFrame) -> dict[str, tuple[str, str, pd.DataFrame]]:
    """Tables 2, 3, 4 and 7 and their means over seeds by output name: (title, note, table)."""
    tables = _per_run_tables(runs, baselines)
    for name, (title, note, table) in list(tables.items()):
        tables[f"{name}_seeds"] = (f"{title}, mean over seeds", SEED_NOTE + note,
                                   seed_table(name, table))
    return tables


def _per_run_tables(runs: pd.DataFrame,
                    baselines: pd.DataFrame) -> dict[str, tuple[str, str, pd.DataFrame]]:
    return {
        "accuracy": ("Table 2: accuracy, precision, recall and F1",
                     "Test set of each data set's own split; precision, recall and F1 are "
                     "macro means over classes; `random` rows are uniformly random "
                     "predictions (expected accuracy 1/classes); `correct` of `n_test` test "
                     "images, `above_chance_p` the one-sided binomial p-value against "
                     "1/classes.",
                     accuracy_table(runs, baselines)),
        "splits": ("Table 3: train / test / total time per split ratio",
                   "Seconds; train = the epochs' fit time (graph tracing excluded), test = "
                   "the timed inference passes over the test set; only model × technique "
                   "groups run at more than one split.",
                   split_time_table(runs)),
        "techniques": ("Table 4: train + test time per technique",
                       "Seconds on each data set's own split; prep = clustering or layer "
                       "transfer before training (not in the total); trace = one-off graph "
                       "building, excluded from train.",
                       technique_time_table(runs)),
        "clustering": ("Table 7: clusters K vs size and clustering time",
                       "Saved HDF5 size after stripping the clustering wrappers, raw and "
                       "gzip-compressed (MB = 10^6 bytes); `original` = the same model and "
                       "unfreezing without clustering.",
                       clustering_table(runs)),
    }


def write_table(table: pd.DataFrame, csv_path: str | Path, md_path: str | Path,
                title: str, note: str = "") -> None:
    """The table as CSV and as Markdown (title, note, table), both or neither."""
    text = f"# {title}\n\n" + (f"{note}\n\n" if note else "") + \
        (markdown_table(table) if not table.empty else "_No runs of this kind in the config._\n")
    atomic_write_all({Path(csv_path): lambda tmp: table.to_csv(tmp, index=False),
                      Path(md_path): lambda tmp: tmp.write_text(text)})
