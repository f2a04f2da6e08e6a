"""Study A tables drawn from the per-run metrics: Table 5 and the Eq. 11 validation."""

from __future__ import annotations

import numpy as np
import pandas as pd

METRIC_COLUMNS = ("m_er", "ep_star", "m_stab", "stab_window", "t_m_er", "d_re", "d_unif",
                  "delta_fit_min", "delta_fit_best", "delta_fit_pw_20", "gpu_max_mem_mb",
                  "gpu_avg_util_pct", "diverged")


def best_per_arch(run_metrics: pd.DataFrame) -> pd.DataFrame:
    """Table 5: per dataset × arch, the run with the lowest M_er over lr and init.

    Reports that run's M_er, D_unif and the configuration that reached it.
    """
    usable = run_metrics[run_metrics["m_er"].notna()]
    best_rows = usable.loc[usable.groupby(["dataset", "arch"])["m_er"].idxmin()]
    columns = ["dataset", "arch", "m_er", "d_unif", "lr", "init", "run_id"]
    return best_rows[columns].sort_values(["dataset", "m_er"]).reset_index(drop=True)


def per_dataset_tables(run_metrics: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The full metrics table of each dataset, sorted by M_er."""
    columns = ["arch", "init", "lr", "seed", "device",
               *[c for c in METRIC_COLUMNS if c in run_metrics.columns]]
    return {dataset: part.sort_values("m_er")[columns].reset_index(drop=True)
            for dataset, part in run_metrics.groupby("dataset")}


def eq11_check(run_metrics: pd.DataFrame, easy: str, hard: str,
               fit_column: str = "delta_fit_pw_20") -> pd.DataFrame:
    """Eq. 11 between a high- and a low-contrast dataset, on the median over each one's runs.

    M_er(easy) < M_er(hard), D_unif(easy) > D_unif(hard), Δ(fit, easy) < Δ(fit, hard);
    Δ(fit) is the power model fitted to the first 20 epochs, as the paper's P(PW_20).
    Medians over all configurations keep one diverged run from deciding the verdict.
    """
    for dataset in (easy, hard):
        if dataset not in set(run_metrics["dataset"]):
            raise ValueError(f"dataset {dataset!r} has no runs in the metrics table")
    medians = run_metrics.groupby("dataset")[["m_er", "d_unif", fit_column]].median()
    checks = [("M_er(easy) < M_er(hard)", "m_er", "<"),
              ("D_unif(easy) > D_unif(hard)", "d_unif", ">"),
              (f"Δ(fit, easy) < Δ(fit, hard) [{fit_column}]", fit_column, "<")]
    rows = []
    for inequality, column, sign in checks:
        easy_value, hard_value = medians.loc[easy, column], medians.loc[hard, column]
        known = np.isfinite(easy_value) and np.isfinite(hard_value)
        holds = (easy_value < hard_value) if sign == "<" else (easy_value > hard_value)
        rows.append({"inequality": inequality, "statistic": f"median {column}",
                     "easy": easy, "easy_value": easy_value, "hard": hard,
                     "hard_value": hard_value,
                     "verdict": ("holds" if holds else "does not hold") if known
                     else "undefined"})
    return pd.DataFrame(rows)
