"""The paper-claims scorecard: each checkable claim of both papers against our numbers.

One row per claim (and per NAS-Bench source): the claim, the paper's number where it
gives one and where (section, table, figure), the rule that decides it here, our number,
the data it ran on, the scale of the config (default / paper) and the verdict: holds,
does not hold, or not run (its inputs are not part of this run's config, or it could not
be computed). Verdicts are reported as measured; nothing is tuned to make a claim hold.

Inputs are the tables the workflow already writes: the Eq. 11 check of Study A, the
NAS-Bench-101 claims table of each source, and for Study B the collected runs table,
Table 1 (model sizes), the OpScore rankings and the random-prediction baselines.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from reusebench.io import atomic_write_all
from reusebench.markdown import format_value, markdown_table
from reusebench.tradeoff.spec import OWN_SPLIT, parse_technique

HOLDS, FAILS, NOT_RUN = "holds", "does not hold", "not run"
COLUMNS = ("study", "claim", "paper", "where", "holds_when", "ours", "data", "scale",
           "verdict")
FP16_SIZE_RANGE = (0.45, 0.55)
FP16_MAX_DROP = 0.02
RESNET_TIME_RANGE = (1.6, 1.8)
OPSCORE_RANGE = (0.0, 5.0)
BASELINE_SIGMAS = 3.0


@dataclass(frozen=True)
class Claim:
    study: str
    claim: str
    paper: str
    where: str
    holds_when: str


EQ11 = (
    Claim("A", "M_er(easy) < M_er(hard) (Eq. 11)",
          "A10 0.040-0.057 < cryoEM 0.127-0.160 (best M_er per architecture)",
          "A Sec. 3, Eq. 11, Table 5",
          "median M_er over the easy data set's runs below the hard one's"),
    Claim("A", "D_unif(easy) > D_unif(hard) (Eq. 11)",
          "A10 0.226-0.836 > cryoEM -0.359-0.309 (per architecture)",
          "A Sec. 3, Eq. 11, Table 5",
          "median D_unif over the easy data set's runs above the hard one's"),
    Claim("A", "Δ(fit, easy) < Δ(fit, hard) (Eq. 11)", "no number (Fig. 5, min P(PW_20))",
          "A Sec. 3, Eq. 11, Fig. 5",
          "median Δ(fit) of the power model fitted to 20 epochs, easy below hard"),
)
# (prefix of the claim in the NAS-Bench claims table, the claim as scored here)
NASBENCH = (
    ("D_unif", Claim("A", "D_unif > 0.999 on NAS-Bench-101 CIFAR-10 contours", "> 0.999",
                     "A Sec. 3, NAS-Bench-101 paragraph",
                     "lowest correlation of the train/validation/test contours above 0.999")),
    ("Δ(fit, power)", Claim("A", "power fit beats exponential fit on NAS-Bench-101",
                            "holds (no number)", "A Sec. 3, NAS-Bench-101 paragraph",
                            "Δ(fit) summed over both cell families: power below exponential")),
    ("Δ(fit, ResNet-like)", Claim("A", "Δ(fit, ResNet-like) < Δ(fit, Inception-like)",
                                  "holds (no number)", "A Sec. 3, NAS-Bench-101 paragraph",
                                  "best Δ(fit) of the ResNet-like family below the "
                                  "Inception-like one")),
    ("D_init(graph)", Claim("A", "D_init(graph) > 0 (a1 = Inception-like, a2 = ResNet-like)",
                            "1.45", "A Sec. 3, NAS-Bench-101 paragraph, Eq. 9",
                            "summed accuracy difference Inception-like − ResNet-like above 0")),
)
RESNET_TIME = Claim(
    "B", "ResNet101 takes 1.6-1.8x the training time of ResNet50",
    "1.6-1.8x (P100 470 vs 840 s, V100 280 vs 470 s)", "B Sec. 4.1-4.2, Tables 3-4",
    "median train-time ratio ResNet101 / ResNet50 over runs alike in data set, split, "
    "technique and device within [1.6, 1.8]")
FP16_SIZE = Claim(
    "B", "float16 halves the model size", "2x reduction over all models",
    "B Sec. 2.4, Table 1",
    "float16 / float32 saved size within [0.45, 0.55] for every model of Table 1")
FP16_ACCURACY = Claim(
    "B", "float16 costs < 2% accuracy", "< 2% (0.02)", "B Sec. 4.3, Fig. 4",
    "accuracy(float32) − accuracy(float16) below 0.02 for every fp16 run and its float32 twin")
CLUSTERING = Claim(
    "B", "clustering accuracy falls as the number of clusters K falls",
    "~0.9 → ~0.6 (CIFAR-10), ~0.7 → ~0.3 (CIFAR-100) as K falls 8192 → 1024",
    "B Sec. 4.5, Fig. 8",
    "Spearman ρ(K, accuracy) > 0 in every model group (unclustered twin counted as K = ∞)")
OPSCORE = Claim(
    "B", "OpScore within [0, 5]", "[0, 5]; CIFAR-10 0.67-2.63, CIFAR-100 1.15-3.10",
    "B Sec. 1 (Eq. 1), Sec. 4.5, Tables 5-6",
    "every ranked model's OpScore (total time, raw size) within [0, 5]")
RANDOM_BASELINE = Claim(
    "B", "random prediction accuracy ≈ 1/classes", "0.01 = 1/100 (CIFAR-100)", "B Sec. 4.1",
    "abs(accuracy − 1/classes) within 3 binomial standard errors on every data set")


def _row(claim: Claim, ours: str, data: str, verdict: str) -> dict[str, str]:
    return {"study": claim.study, "claim": claim.claim, "paper": claim.paper,
            "where": claim.where, "holds_when": claim.holds_when, "ours": ours, "data": data,
            "verdict": verdict}


def _not_run(claim: Claim, why: str) -> dict[str, str]:
    return _row(claim, why, "", NOT_RUN)


def _verdict(holds: bool) -> str:
    return HOLDS if holds else FAILS


def _number(value: float) -> str:
    return format_value(float(value), digits=4) or "NaN"


def eq11_rows(eq11: pd.DataFrame | None) -> list[dict[str, str]]:
    """Eq. 11's three inequalities from Study A's eq11_check table (in its row order)."""
    if eq11 is None or len(eq11) != len(EQ11):
        return [_not_run(claim, "no Eq. 11 check in this run") for claim in EQ11]
    rows = []
    for claim, check in zip(EQ11, eq11.itertuples(index=False), strict=True):
        ours = (f"{check.easy} {_number(check.easy_value)} vs {check.hard} "
                f"{_number(check.hard_value)} ({check.statistic})")
        verdict = check.verdict if check.verdict in (HOLDS, FAILS) else NOT_RUN
        rows.append(_row(claim, ours, f"{check.easy} vs {check.hard}", verdict))
    return rows


def nasbench_rows(claims_by_source: Mapping[str, pd.DataFrame]) -> list[dict[str, str]]:
    """The four NAS-Bench-101 claims for each analysed source (from its claims table)."""
    if not claims_by_source:
        return [_not_run(claim, "no NAS-Bench-101 source in the config")
                for _, claim in NASBENCH]
    rows = []
    for source, table in claims_by_source.items():
        for prefix, claim in NASBENCH:
            found = table[table["claim"].astype(str).str.startswith(prefix)]
            if found.empty:
                rows.append(_not_run(claim, f"not in the claims table of {source}"))
                continue
            check = found.iloc[0]
            verdict = check["verdict"] if check["verdict"] in (HOLDS, FAILS) else NOT_RUN
            rows.append(_row(claim, str(check["ours"]), f"NAS-Bench-101 {source}", verdict))
    return rows


def _with_technique(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs with method, K and unfreezing parsed from the technique name."""
    parsed = [parse_technique(name) for name in runs["technique"]]
    return runs.assign(method=[t.method for t in parsed],
                       clusters=[np.nan if t.clusters is None else t.clusters for t in parsed],
                       top=[-1 if t.top is None else t.top for t in parsed])


def resnet_time_row(runs: pd.DataFrame | None) -> dict[str, str]:
    """ResNet101 / ResNet50 training-time ratio over runs alike in every other key."""
    if runs is None or runs.empty:
        return _not_run(RESNET_TIME, "no Study B runs in the config")
    keys = ["source_dataset", "split", "technique", "device"]
    fast = runs[runs["arch"] == "resnet50"][[*keys, "train_seconds"]]
    slow = runs[runs["arch"] == "resnet101"][[*keys, "train_seconds"]]
    matched = fast.merge(slow, on=keys, suffixes=("_50", "_101"))
    if matched.empty:
        return _not_run(RESNET_TIME, "no ResNet50 / ResNet101 runs alike in the config")
    ratio = float((matched["train_seconds_101"] / matched["train_seconds_50"]).median())
    low, high = RESNET_TIME_RANGE
    data = ", ".join(sorted(set(matched["source_dataset"])))
    return _row(RESNET_TIME, f"{_number(ratio)}x (median of {len(matched)} pairs)", data,
                _verdict(low <= ratio <= high) if np.isfinite(ratio) else NOT_RUN)


def fp16_size_row(model_sizes: pd.DataFrame | None) -> dict[str, str]:
    """float16 / float32 saved size of every model in Table 1."""
    if model_sizes is None or model_sizes.empty:
        return _not_run(FP16_SIZE, "no Study B models in the config")
    ratios = model_sizes.set_index("arch")["float16_ratio"].astype(float)
    low, high = FP16_SIZE_RANGE
    ours = ", ".join(f"{arch} {_number(ratio)}" for arch, ratio in ratios.items())
    known = bool(np.isfinite(ratios).all())
    return _row(FP16_SIZE, ours, "Table 1 backbones",
                _verdict(bool(ratios.between(low, high).all())) if known else NOT_RUN)


def fp16_accuracy_row(runs: pd.DataFrame | None) -> dict[str, str]:
    """Accuracy drop of every fp16 run against the float32 run alike in every other key."""
    if runs is None or runs.empty:
        return _not_run(FP16_ACCURACY, "no Study B runs in the config")
    runs = _with_technique(runs)
    keys = ["source_dataset", "split", "arch", "device", "top"]
    quantized = runs[runs["method"] == "fp16"][[*keys, "accuracy"]]
    reference = runs[runs["method"] == "base"][[*keys, "accuracy"]]
    matched = quantized.merge(reference, on=keys, suffixes=("_fp16", "_fp32"))
    if matched.empty:
        return _not_run(FP16_ACCURACY, "no fp16 run with a float32 twin in the config")
    drops = matched["accuracy_fp32"] - matched["accuracy_fp16"]
    ours = ", ".join(f"{row.arch} {row.source_dataset}: {_number(row.accuracy_fp32)} → "
                     f"{_number(row.accuracy_fp16)} (drop {_number(drop)})"
                     for row, drop in zip(matched.itertuples(), drops, strict=True))
    return _row(FP16_ACCURACY, ours, _datasets(matched),
                _verdict(bool((drops < FP16_MAX_DROP).all())))


def clustering_row(runs: pd.DataFrame | None) -> dict[str, str]:
    """Spearman ρ of accuracy with K per group of clustered runs and their float32 twin."""
    if runs is None or runs.empty:
        return _not_run(CLUSTERING, "no Study B runs in the config")
    runs = _with_technique(runs)
    keys = ["source_dataset", "split", "arch", "device", "top"]
    clustered = runs[runs["method"] == "cluster"]
    twins = runs[runs["method"] == "base"].merge(clustered[keys].drop_duplicates(), on=keys)
    points = pd.concat([clustered, twins.assign(clusters=np.inf)], ignore_index=True)
    groups = [(key, part) for key, part in points.groupby(keys) if part["clusters"].nunique() > 1]
    if not groups:
        return _not_run(CLUSTERING, "fewer than two cluster counts (with the unclustered "
                                    "twin) in any model group of the config")
    parts, holds = [], []
    for key, part in groups:
        with warnings.catch_warnings():  # constant accuracy: ρ is NaN, the claim fails
            warnings.simplefilter("ignore", stats.ConstantInputWarning)
            rho = float(stats.spearmanr(part["clusters"], part["accuracy"]).statistic)
        holds.append(np.isfinite(rho) and rho > 0)
        by_k = ", ".join(f"K={'∞' if np.isinf(k) else int(k)}: {_number(acc)}"
                         for k, acc in part.sort_values("clusters")[["clusters", "accuracy"]]
                         .itertuples(index=False))
        parts.append(f"{key[2]} {key[0]} ρ={_number(rho)} ({by_k})")
    return _row(CLUSTERING, "; ".join(parts), _datasets(points), _verdict(all(holds)))


def opscore_row(opscores: Mapping[str, pd.DataFrame]) -> dict[str, str]:
    """Range of OpScore (total time) over the ranked models of every data set."""
    if not opscores:
        return _not_run(OPSCORE, "no Study B ranking in the config")
    parts, values = [], []
    for dataset, table in opscores.items():
        scores = table.loc[table["rank"].notna(), "opscore_total"].astype(float)
        values.append(scores)
        parts.append(f"{dataset} {_number(scores.min())} to {_number(scores.max())} "
                     f"(n={len(scores)})")
    every = pd.concat(values)
    low, high = OPSCORE_RANGE
    known = bool(len(every)) and bool(np.isfinite(every).all())
    return _row(OPSCORE, "; ".join(parts), ", ".join(opscores),
                _verdict(bool(every.between(low, high).all())) if known else NOT_RUN)


def random_baseline_row(baselines: pd.DataFrame | None) -> dict[str, str]:
    """Random-prediction accuracy against 1/classes, within 3 binomial standard errors."""
    if baselines is None or baselines.empty:
        return _not_run(RANDOM_BASELINE, "no Study B data set in the config")
    expected = 1.0 / baselines["n_classes"].astype(float)
    error = np.sqrt(expected * (1 - expected) / baselines["n_test"].astype(float))
    within = (baselines["accuracy"] - expected).abs() <= BASELINE_SIGMAS * error
    ours = ", ".join(f"{row.dataset} {_number(row.accuracy)} vs 1/{int(row.n_classes)} "
                     f"(n_test {int(row.n_test)})" for row in baselines.itertuples())
    return _row(RANDOM_BASELINE, ours, ", ".join(baselines["dataset"]),
                _verdict(bool(within.all())))


def _datasets(table: pd.DataFrame) -> str:
    splits = {(row.source_dataset, row.split) for row in table.itertuples()}
    return ", ".join(dataset if split == OWN_SPLIT else f"{dataset} {split}"
                     for dataset, split in sorted(splits))


def scorecard(scale: str, eq11: pd.DataFrame | None = None,
              nasbench_claims: Mapping[str, pd.DataFrame] | None = None,
              runs: pd.DataFrame | None = None, model_sizes: pd.DataFrame | None = None,
              opscores: Mapping[str, pd.DataFrame] | None = None,
              baselines: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every claim of both papers, one row each (NAS-Bench claims once per source)."""
    rows = [*eq11_rows(eq11), *nasbench_rows(nasbench_claims or {}),
            resnet_time_row(runs), fp16_size_row(model_sizes), fp16_accuracy_row(runs),
            clustering_row(runs), opscore_row(opscores or {}), random_baseline_row(baselines)]
    table = pd.DataFrame(rows).assign(scale=scale)
    return table[list(COLUMNS)]


def scorecard_markdown(table: pd.DataFrame) -> str:
    counts = table["verdict"].value_counts()
    tally = ", ".join(f"{int(counts.get(verdict, 0))} {verdict}"
                      for verdict in (HOLDS, FAILS, NOT_RUN))
    return ("# Paper-claims scorecard\n\n"
            f"{len(table)} claims: {tally}. Scale of this run's config: "
            f"{', '.join(sorted(set(table['scale'])))}. `paper` is the paper's own number and "
            "`where` its place (A = Study A, B = Study B); `holds_when` is the rule applied "
            "here; `ours` is measured on `data`. A claim whose inputs are not in this run's "
            "config is `not run`.\n\n" + markdown_table(table))


def scorecard_from_files(scale: str, eq11: str | Path | None = None,
                         nasbench_claims: Mapping[str, str | Path] | None = None,
                         runs: str | Path | None = None, model_sizes: str | Path | None = None,
                         opscores: Mapping[str, str | Path] | None = None,
                         baselines: Sequence[str | Path] = ()) -> pd.DataFrame:
    """The scorecard from the workflow's table files; a missing input means "not run"."""
    def read(path: str | Path | None) -> pd.DataFrame | None:
        return None if path is None else pd.read_csv(path, dtype={"split": str})

    baseline_rows = [json.loads(Path(path).read_text()) for path in baselines]
    return scorecard(
        scale, read(eq11),
        {source: read(path) for source, path in (nasbench_claims or {}).items()},
        read(runs), read(model_sizes),
        {dataset: read(path) for dataset, path in (opscores or {}).items()},
        pd.DataFrame(baseline_rows) if baseline_rows else None)


def write_scorecard(table: pd.DataFrame, csv_path: str | Path, md_path: str | Path) -> None:
    """The scorecard as CSV and Markdown, both or neither."""
    atomic_write_all({Path(csv_path): lambda tmp: table.to_csv(tmp, index=False),
                      Path(md_path): lambda tmp: tmp.write_text(scorecard_markdown(table))})
