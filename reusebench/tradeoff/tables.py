"""Study B tables (paper Tables 2, 3, 4 and 7) from the per-run summaries; CSV + Markdown.

``runs`` is the table of run summaries (``results/tradeoff/runs.csv``), one row per run.
Table 1 comes from :func:`reusebench.tradeoff.measure.model_size_table`, Tables 5 and 6
from :func:`reusebench.tradeoff.opscore.ranking`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from reusebench.io import atomic_write_all
from reusebench.markdown import markdown_table
from reusebench.tradeoff.opscore import ranking
from reusebench.tradeoff.spec import OWN_SPLIT

SCORES = ("accuracy", "precision", "recall", "f1")
TIME_COLUMNS = ("train_seconds", "test_seconds", "total_seconds")
FIRST_COLUMNS = ("run_id", "dataset", "source_dataset", "split", "arch", "technique", "method",
                 "clusters", "unfrozen_layers", "device", *SCORES, *TIME_COLUMNS,
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
    return table.sort_values(["source_dataset", "split", "arch", "technique", "device"],
                             kind="stable").reset_index(drop=True)


def read_summaries(paths: Iterable[str | Path]) -> list[dict]:
    return [json.loads(Path(path).read_text()) for path in paths]


def own_split(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["split"] == OWN_SPLIT]


def accuracy_table(runs: pd.DataFrame, baselines: pd.DataFrame) -> pd.DataFrame:
    """Table 2: accuracy, macro precision, recall and F1 per dataset × model × technique.

    Each dataset also gets its random-prediction baseline row (accuracy ≈ 1/classes).
    """
    columns = ["dataset", "arch", "technique", "device", *SCORES, "n_test"]
    models = own_split(runs)[columns]
    table = pd.concat([models, baselines[columns]], ignore_index=True)
    return table.sort_values(["dataset", "accuracy"], ascending=[True, False],
                             kind="stable").reset_index(drop=True)


def split_time_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Table 3: train / test / total seconds per split ratio × model × device.

    Only model × technique × device × dataset groups run with more than one split.
    """
    keys = ["device", "source_dataset", "technique", "arch"]
    columns = [*keys, "split", "n_train", "n_test", *TIME_COLUMNS, "test_ms_per_image"]
    splits = runs.groupby(keys)["split"].transform("nunique")
    table = runs.loc[splits > 1, columns].rename(columns={"source_dataset": "dataset"})
    return table.sort_values(["device", "dataset", "technique", "split", "arch"],
                             kind="stable").reset_index(drop=True)


def technique_time_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Table 4: train + test seconds per technique × model × device (own split).

    ``prep_seconds`` (clustering or layer transfer) is reported beside, not added.
    """
    columns = ["device", "dataset", "arch", "technique", *TIME_COLUMNS, "prep_seconds",
               "trace_seconds"]
    return own_split(runs)[columns].sort_values(["device", "dataset", "arch", "technique"],
                                                kind="stable").reset_index(drop=True)


def clustering_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Table 7: clusters K vs saved size (raw, gzip) and clustering time, with references.

    Each clustered model is preceded by its unclustered reference where that run exists:
    the same dataset, split, model, device and unfreezing (``original`` in the K column).
    """
    columns = ["dataset", "arch", "device", "technique", "clusters", "size_mb", "gzip_mb",
               "prep_seconds", "accuracy"]
    clustered = runs[runs["method"] == "cluster"]
    keys = ["dataset", "arch", "device", "unfrozen_layers"]
    references = runs[runs["method"] == "base"].merge(
        clustered[keys].drop_duplicates(), on=keys)
    table = pd.concat([references.assign(clusters=np.nan, prep_seconds=np.nan), clustered],
                      ignore_index=True)[columns]
    table = table.assign(_order=table["clusters"].fillna(-1)).sort_values(
        ["dataset", "arch", "device", "_order"], kind="stable")
    table["clusters"] = ["original" if np.isnan(k) else str(int(k)) for k in table["_order"]
                         .where(table["_order"] >= 0, np.nan)]
    return table.drop(columns="_order").rename(
        columns={"prep_seconds": "clustering_seconds"}).reset_index(drop=True)


def dataset_ranking(runs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Tables 5 and 6: the OpScore ranking of one data set's runs on its own split."""
    runs = own_split(runs)
    return ranking(runs[runs["dataset"] == dataset])


def study_b_tables(runs: pd.DataFrame,
                   baselines: pd.DataFrame) -> dict[str, tuple[str, str, pd.DataFrame]]:
    """Tables 2, 3, 4 and 7 by output name: (title, note, table)."""
    return {
        "accuracy": ("Table 2: accuracy, precision, recall and F1",
                     "Test set of each data set's own split; precision, recall and F1 are "
                     "macro means over classes; `random` rows are uniformly random "
                     "predictions (expected accuracy 1/classes).",
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
