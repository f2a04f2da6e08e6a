"""The paper-claims scorecard: each checkable claim of both papers against our numbers.

One row per claim (and per NAS-Bench source): the claim, the paper's number where it
gives one and where (section, table, figure), the rule that decides it here, our number,
the data it ran on, the scale of the config (default / paper), and the evidence: the
verdict (holds, does not hold, inconclusive or not run), ``n`` (the seeds, repeats, runs
or points it rests on), a 95 % ``interval`` and the ``reason`` (required for inconclusive
and not run). :mod:`reusebench.core.evidence` decides every verdict; nothing is tuned to make a
claim hold.

Inputs are the tables the workflow already writes: the Eq. 11 check of Study A, the
NAS-Bench-101 claims table of each source, and for Study B the collected runs table
(one row per run and seed), Table 1 (model sizes) and the random-prediction baselines.
Where the caller hands in the per-run tables of forecast backtests (the workflow's forecast
stage), Study A's "PW fits better than EXP" is scored as a forecast too: which of the two
predicts a run's final loss from its first N epochs more closely.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from reusebench.core.evidence import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NOT_RUN,
    VERDICTS,
    Evidence,
    chance_gate,
    combine,
    compare_paired,
    compare_to_bound,
    not_run,
    proportion_interval,
    within_range,
)
from reusebench.core.io import atomic_write_all
from reusebench.core.metricdefs import (
    FIT_MODELS,
    PAPER_FIT_POINTS,
    fit_column,
    fit_points_of,
    is_metric,
    metric,
)
from reusebench.core.opscore import floored_error, opscore
from reusebench.core.tradeoff_runs import OWN_SPLIT, parse_technique
from reusebench.reporting.markdown import format_value, markdown_table

__all__ = ["FAILS", "HOLDS", "INCONCLUSIVE", "NOT_RUN", "scorecard", "scorecard_from_files"]

COLUMNS = ("study", "claim", "paper", "where", "holds_when", "ours", "data", "scale", "n",
           "interval", "verdict", "reason")
FP16_SIZE_RANGE = (0.45, 0.55)
FP16_MAX_DROP = 0.02
RESNET_TIME_RANGE = (1.6, 1.8)
OPSCORE_RANGE = (0.0, 5.0)
# runs are compared only at equal training effort: same data, split, device and epochs
GROUP_KEYS = ["source_dataset", "split", "arch", "device", "top", "epochs"]
CHANCE = ("; inconclusive unless every run compared is significantly above the random "
          "baseline (one-sided binomial test, α = 0.05)")
SEEDS = "paired by seed, 95 % t interval over ≥ 3 seeds"


@dataclass(frozen=True)
class Claim:
    study: str
    claim: str
    paper: str
    where: str
    holds_when: str


EQ11_RULE = ("per seed, the median {what} over the {dataset} data set's configurations (runs "
             "flagged diverged or not learning left out); paired by seed, the 95 % t interval "
             "of easy − hard over ≥ 3 seeds {side} 0")
PAPER_FIT_COLUMN = fit_column("pw", PAPER_FIT_POINTS)  # Fig. 5's P(PW_20)


def eq11_fit_claim(column: str = PAPER_FIT_COLUMN) -> Claim:
    """Eq. 11's Δ(fit) inequality, its rule naming the Δ(fit) column the check used (the
    paper's PW_20 where the metrics table has it, else the largest N fitted)."""
    points = fit_points_of([column])
    model = next((m for m in FIT_MODELS if points and column == fit_column(m, points[0])), None)
    if model is not None:
        what = f"Δ(fit) of the {FIT_MODELS[model][1]} model fitted to {points[0]} epochs"
    else:
        what = metric(column).label if is_metric(column) else column
    if column != PAPER_FIT_COLUMN:
        what += (f" (in place of the paper's P(PW_{PAPER_FIT_POINTS}): the metrics table "
                 f"has no {PAPER_FIT_COLUMN})")
    return Claim("A", "Δ(fit, easy) < Δ(fit, hard) (Eq. 11)",
                 f"no number (Fig. 5, min P(PW_{PAPER_FIT_POINTS}))",
                 "A Sec. 3, Eq. 11, Fig. 5",
                 EQ11_RULE.format(what=what, dataset="easy and hard", side="below"))


EQ11 = (
    Claim("A", "M_er(easy) < M_er(hard) (Eq. 11)",
          "A10 0.040-0.057 < cryoEM 0.127-0.160 (best M_er per architecture)",
          "A Sec. 3, Eq. 11, Table 5",
          EQ11_RULE.format(what="M_er", dataset="easy and hard", side="below")),
    Claim("A", "D_unif(easy) > D_unif(hard) (Eq. 11)",
          "A10 0.226-0.836 > cryoEM -0.359-0.309 (per architecture)",
          "A Sec. 3, Eq. 11, Table 5",
          EQ11_RULE.format(what="D_unif", dataset="easy and hard", side="above")),
    eq11_fit_claim(),
)
NAS_RULE = ("decided over the file's repeats (each repeat's own contours), 95 % t interval "
            "over ≥ 3 repeats; {extra}")
FIT_GATE = ("a fit or correlation needs ≥ 5 distinct evaluation points per contour "
            "(2 parameters + 3)")
# (prefix of the claim in the NAS-Bench claims table, the claim as scored here)
NASBENCH = (
    ("D_unif", Claim("A", "D_unif > 0.999 on NAS-Bench-101 CIFAR-10 contours", "> 0.999",
                     "A Sec. 3, NAS-Bench-101 paragraph",
                     "lowest correlation of the train/validation/test contours above 0.999; "
                     + NAS_RULE.format(extra=FIT_GATE))),
    ("Δ(fit, power)", Claim("A", "power fit beats exponential fit on NAS-Bench-101",
                            "holds (no number)", "A Sec. 3, NAS-Bench-101 paragraph",
                            "Δ(fit) summed over both cell families: power below exponential; "
                            + NAS_RULE.format(extra=FIT_GATE))),
    ("Δ(fit, ResNet-like)", Claim("A", "Δ(fit, ResNet-like) < Δ(fit, Inception-like)",
                                  "holds (no number)", "A Sec. 3, NAS-Bench-101 paragraph",
                                  "best Δ(fit) of the ResNet-like family below the "
                                  "Inception-like one; " + NAS_RULE.format(extra=FIT_GATE))),
    ("D_init(graph)", Claim("A", "D_init(graph) > 0 (a1 = Inception-like, a2 = ResNet-like)",
                            "1.45", "A Sec. 3, NAS-Bench-101 paragraph, Eq. 9",
                            "summed accuracy difference Inception-like − ResNet-like above 0; "
                            + NAS_RULE.format(extra="no fit involved"))),
)
RESNET_TIME = Claim(
    "B", "ResNet101 takes 1.6-1.8x the training time of ResNet50",
    "1.6-1.8x (P100 470 vs 840 s, V100 280 vs 470 s)", "B Sec. 4.1-4.2, Tables 3-4",
    "train-time ratio ResNet101 / ResNet50 over runs alike in data set, split, technique, "
    "device and seed: its 95 % t interval over ≥ 3 pairs within [1.6, 1.8] (holds), "
    "outside it (does not hold), else inconclusive")
FP16_SIZE = Claim(
    "B", "float16 halves the model size", "2x reduction over all models",
    "B Sec. 2.4, Table 1",
    "float16 / float32 saved size within [0.45, 0.55] for every model of Table 1 (a file "
    "size does not vary with the seed: n counts models, no interval)")
FP16_ACCURACY = Claim(
    "B", "float16 costs < 2% accuracy", "< 2% (0.02)", "B Sec. 4.3, Fig. 4",
    f"accuracy(float32) − accuracy(float16) below 0.02, {SEEDS}, in every model group" + CHANCE)
CLUSTERING = Claim(
    "B", "clustering accuracy falls as the number of clusters K falls",
    "~0.9 → ~0.6 (CIFAR-10), ~0.7 → ~0.3 (CIFAR-100) as K falls 8192 → 1024",
    "B Sec. 4.5, Fig. 8",
    "accuracy at the smallest K below the largest (the unclustered twin counts as K = ∞), "
    f"{SEEDS}, in every model group" + CHANCE)
UNFREEZING = Claim(
    "B", "unfreezing Top-10 layers is more accurate than Top-1",
    "CIFAR-100 Top-1 0.95 < Top-10 0.98", "B Sec. 4.1 and 4.3, Figs. 3-4",
    f"accuracy(top1) below accuracy(top10) of the same model at equal epochs, {SEEDS}"
    + CHANCE)
TRANSFER = Claim(
    "B", "model-to-model layer transfer is less accurate than the recipient model alone",
    "Res50+101 m2m below ResNet50 (Fig. 4); 'can be lower than the original models'",
    "B Sec. 4.3, Fig. 4, Sec. 6",
    f"accuracy(m2m) below the recipient's accuracy with the same unfreezing, {SEEDS}" + CHANCE)
OPSCORE = Claim(
    "B", "OpScore within [0, 5]", "[0, 5]; CIFAR-10 0.67-2.63, CIFAR-100 1.15-3.10",
    "B Sec. 1 (Eq. 1), Sec. 4.5, Tables 5-6",
    "every model's OpScore (total time, raw size; error floored at 0.5/n_test), 95 % t "
    "interval over ≥ 3 seeds, within [0, 5]" + CHANCE)
RANDOM_BASELINE = Claim(
    "B", "random prediction accuracy ≈ 1/classes", "0.01 = 1/100 (CIFAR-100)", "B Sec. 4.1",
    "1/classes inside the 95 % Clopper-Pearson interval of the random predictions' accuracy "
    "on every data set (n = test images)")


FORECAST_PW_EXP = Claim(
    "A", "PW predicts the final loss better than EXP (as a forecast)",
    "PW fits better than EXP (Δ(fit), Fig. 5; NAS-Bench-101 paragraph)",
    "A Sec. 3, Eq. 5, Fig. 5",
    "per run, |median forecast − actual| of the final test loss from the run's first N "
    "epochs, PW against EXP (the forecast backtest's residual-bootstrap predictors; per "
    "backtest the N at which most runs got both forecasts, the larger N on a tie), runs of "
    "every backtest pooled; sign test over runs (ties left out): the 95 % Clopper-Pearson "
    "interval of the share of runs where PW is closer above 0.5 (holds), below 0.5 (does "
    "not hold), else inconclusive")


def _row(claim: Claim, ours: str, data: str, evidence: Evidence) -> dict[str, object]:
    return {"study": claim.study, "claim": claim.claim, "paper": claim.paper,
            "where": claim.where, "holds_when": claim.holds_when, "ours": ours, "data": data,
            **evidence.columns()}


def _not_run(claim: Claim, why: str) -> dict[str, object]:
    return _row(claim, "", "", not_run(why))


def _number(value: float) -> str:
    return format_value(float(value), digits=4) or "NaN"


def _copied(check: Mapping[str, object]) -> Evidence:
    """Evidence columns read back from a claims table the workflow wrote."""
    verdict = str(check.get("verdict", NOT_RUN))
    if verdict not in VERDICTS:
        verdict = NOT_RUN
    n = check.get("n")
    n = None if n is None or pd.isna(n) or n == "" else int(float(n))
    reason = check.get("reason")
    reason = "" if reason is None or pd.isna(reason) else str(reason)
    if verdict in (INCONCLUSIVE, NOT_RUN) and not reason:
        reason = "no reason recorded in the input table"
    interval = check.get("interval")
    interval = None if interval is None or pd.isna(interval) or interval == "" else \
        tuple(float(part) for part in str(interval).strip("[]").split(","))
    return Evidence(verdict, n, interval, reason)


def eq11_rows(eq11: pd.DataFrame | None) -> list[dict[str, object]]:
    """Eq. 11's three inequalities from Study A's eq11_check table (in its row order)."""
    if eq11 is None or len(eq11) != len(EQ11):
        return [_not_run(claim, "no Eq. 11 check in this run") for claim in EQ11]
    rows = []
    for claim, check in zip(EQ11, eq11.to_dict("records"), strict=True):
        used = re.search(r"\[(\w+)\]$", str(check.get("inequality", "")))
        if claim == EQ11[-1] and used:  # eq11_check names the Δ(fit) column it used
            claim = eq11_fit_claim(used[1])
        ours = (f"{check['easy']} {_number(check['easy_value'])} vs {check['hard']} "
                f"{_number(check['hard_value'])} (mean over seeds of the per-seed median)")
        rows.append(_row(claim, ours, f"{check['easy']} vs {check['hard']}", _copied(check)))
    return rows


def nasbench_rows(claims_by_source: Mapping[str, pd.DataFrame]) -> list[dict[str, object]]:
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
            check = found.iloc[0].to_dict()
            rows.append(_row(claim, str(check["ours"]), f"NAS-Bench-101 {source}",
                             _copied(check)))
    return rows


def forecast_errors(backtest: pd.DataFrame) -> tuple[int | None, pd.DataFrame]:
    """The N of a backtest's runs table with the most runs forecast by both PW and EXP
    (the larger on a tie), and per such run |median − actual| of the final loss of each."""
    ok = backtest[backtest["predictor"].isin(["pw", "exp"]) & (backtest["status"] == "ok")]
    ok = ok.assign(error=(pd.to_numeric(ok["final"], errors="coerce")
                          - pd.to_numeric(ok["actual_final"], errors="coerce")).abs())
    errors = ok.pivot_table(index=["observed_n", "run_id"], columns="predictor",
                            values="error", aggfunc="first")
    if not {"pw", "exp"} <= set(errors.columns):
        return None, pd.DataFrame(columns=["run_id", "pw", "exp"])
    errors = errors[np.isfinite(errors["pw"]) & np.isfinite(errors["exp"])].reset_index()
    if errors.empty:
        return None, errors[["run_id", "pw", "exp"]]
    counts = errors.groupby("observed_n").size()
    n_obs = int(max(counts.index, key=lambda n: (counts[n], n)))
    return n_obs, errors.loc[errors["observed_n"] == n_obs, ["run_id", "pw", "exp"]]


def _backtest_label(backtest: pd.DataFrame) -> str:
    studies = sorted(set(backtest["study"].astype(str))) if "study" in backtest else []
    datasets = sorted(set(backtest["dataset"].astype(str))) if "dataset" in backtest else []
    if studies == ["nasbench"]:
        return "NAS-Bench-101 " + ", ".join(datasets)
    return "Study " + ", ".join(studies) if studies else "backtest"


def forecast_pw_exp_row(backtests: Sequence[pd.DataFrame]) -> dict[str, object]:
    """PW against EXP as forecasters of the final loss, paired per run, over backtests."""
    claim = FORECAST_PW_EXP
    if not backtests:
        return _not_run(claim, "no forecast backtest in this run (forecast stage off)")
    pooled, texts, labels = [], [], []
    for backtest in backtests:
        label = _backtest_label(backtest)
        labels.append(label)
        n_obs, errors = forecast_errors(backtest)
        if n_obs is None:
            texts.append(f"{label}: no run forecast by both PW and EXP")
            continue
        closer = int((errors["pw"] < errors["exp"]).sum())
        texts.append(f"{label} (N = {n_obs}): PW closer in {closer} of {len(errors)} runs")
        pooled.append(errors)
    data = ", ".join(f"forecast backtest of {label}" for label in labels)
    if not pooled:
        return _row(claim, "; ".join(texts), data, not_run(
            "no run was forecast by both PW and EXP (runs shorter than every N, or "
            "predictors left out)"))
    errors = pd.concat(pooled, ignore_index=True)
    wins = int((errors["pw"] < errors["exp"]).sum())
    losses = int((errors["pw"] > errors["exp"]).sum())
    ours = (f"PW closer in {wins}, EXP in {losses} of {len(errors)} runs (median |error| PW "
            f"{_number(errors['pw'].median())} vs EXP {_number(errors['exp'].median())}); "
            + "; ".join(texts))
    return _row(claim, ours, data, sign_test(wins, losses))


def sign_test(wins: int, losses: int) -> Evidence:
    """Is the share of wins among untied pairs above 0.5, by its 95 % Clopper-Pearson interval?"""
    n = wins + losses
    if n == 0:
        return Evidence(INCONCLUSIVE, 0, reason="every pair tied")
    interval = proportion_interval(wins, n)
    if interval[0] > 0.5:
        return Evidence(HOLDS, n, interval)
    if interval[1] < 0.5:
        return Evidence(FAILS, n, interval)
    return Evidence(INCONCLUSIVE, n, interval,
                    f"95 % interval of the share of runs where PW is closer, over {n} runs, "
                    "contains 0.5")


def with_technique(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs with method, K, unfreezing, seed and correct predictions made explicit."""
    parsed = [parse_technique(name) for name in runs["technique"]]
    runs = runs.assign(method=[t.method for t in parsed],
                       clusters=[np.nan if t.clusters is None else t.clusters for t in parsed],
                       top=[-1 if t.top is None else t.top for t in parsed])
    if "seed" not in runs.columns:
        runs = runs.assign(seed=0)
    if "epochs" not in runs.columns:
        runs = runs.assign(epochs=np.nan)
    if "correct" not in runs.columns and "n_test" in runs.columns:
        runs = runs.assign(correct=(runs["accuracy"] * runs["n_test"]).round().astype(int))
    return runs


def _gated(runs: pd.DataFrame, decide: Callable[[], Evidence]) -> Evidence:
    """The accuracy rule first: no verdict on runs at the random baseline."""
    if {"correct", "n_test", "n_classes"} <= set(runs.columns):
        gate = chance_gate(runs)
        if gate is not None:
            return gate
    else:
        return Evidence(INCONCLUSIVE, len(runs), reason=(
            "the runs table has no correct / n_test / n_classes columns to test the "
            "accuracies against the random baseline"))
    return decide()


def _paired_by_seed(first: pd.DataFrame, second: pd.DataFrame, keys: Sequence[str],
                    column: str) -> pd.DataFrame:
    return first[[*keys, "seed", column]].merge(second[[*keys, "seed", column]],
                                                on=[*keys, "seed"], suffixes=("_a", "_b"))


def _group_label(key: Sequence[object]) -> str:
    dataset, split, arch = key[0], key[1], key[2]
    return f"{arch} {dataset}" + ("" if split == OWN_SPLIT else f" {split}")


def _accuracy_difference_row(claim: Claim, runs: pd.DataFrame | None,
                             first: Callable[[pd.DataFrame], pd.DataFrame],
                             second: Callable[[pd.DataFrame], pd.DataFrame],
                             keys: Sequence[str], what: str) -> dict[str, object]:
    """accuracy(first) < accuracy(second) per group, paired by seed, behind the chance gate."""
    if runs is None or runs.empty:
        return _not_run(claim, "no Study B runs in the config")
    runs = with_technique(runs)
    a, b = first(runs), second(runs)
    matched = _paired_by_seed(a, b, keys, "accuracy")
    if matched.empty:
        return _not_run(claim, f"no {what} in the config")
    used = pd.concat([a.merge(matched[[*keys, "seed"]]), b.merge(matched[[*keys, "seed"]])])
    parts, texts = [], []
    for key, part in matched.groupby(list(keys), dropna=False):
        evidence = compare_paired(part["accuracy_a"], part["accuracy_b"], "<")
        parts.append(evidence)
        texts.append(f"{_group_label(key)}: {_number(part['accuracy_a'].mean())} vs "
                     f"{_number(part['accuracy_b'].mean())} ({len(part)} seeds)")
    return _row(claim, "; ".join(texts), _datasets(matched),
                _gated(used, lambda: combine(parts)))


def resnet_time_row(runs: pd.DataFrame | None) -> dict[str, object]:
    """ResNet101 / ResNet50 training-time ratio over runs alike in every other key."""
    if runs is None or runs.empty:
        return _not_run(RESNET_TIME, "no Study B runs in the config")
    runs = with_technique(runs)
    keys = ["source_dataset", "split", "technique", "device", "epochs"]
    matched = _paired_by_seed(runs[runs["arch"] == "resnet50"],
                              runs[runs["arch"] == "resnet101"], keys, "train_seconds")
    if matched.empty:
        return _not_run(RESNET_TIME, "no ResNet50 / ResNet101 runs alike in the config")
    ratios = matched["train_seconds_b"] / matched["train_seconds_a"]
    low, high = RESNET_TIME_RANGE
    evidence = within_range(ratios, low, high, unit="pair")
    return _row(RESNET_TIME, f"{_number(ratios.mean())}x (mean of {len(ratios)} pairs)",
                _datasets(matched), evidence)


def fp16_size_row(model_sizes: pd.DataFrame | None) -> dict[str, object]:
    """float16 / float32 saved size of every model in Table 1 (deterministic: no seeds)."""
    if model_sizes is None or model_sizes.empty:
        return _not_run(FP16_SIZE, "no Study B models in the config")
    ratios = model_sizes.set_index("arch")["float16_ratio"].astype(float)
    low, high = FP16_SIZE_RANGE
    ours = ", ".join(f"{arch} {_number(ratio)}" for arch, ratio in ratios.items())
    if not np.isfinite(ratios).all():
        return _row(FP16_SIZE, ours, "Table 1 backbones", not_run("a model size is missing"))
    holds = bool(ratios.between(low, high).all())
    return _row(FP16_SIZE, ours, "Table 1 backbones",
                Evidence(HOLDS if holds else FAILS, n=len(ratios)))


def fp16_accuracy_row(runs: pd.DataFrame | None) -> dict[str, object]:
    """Accuracy drop of every fp16 run against its float32 twin of the same seed."""
    if runs is None or runs.empty:
        return _not_run(FP16_ACCURACY, "no Study B runs in the config")
    runs = with_technique(runs)
    quantized = runs[runs["method"] == "fp16"]
    reference = runs[runs["method"] == "base"]
    matched = _paired_by_seed(reference, quantized, GROUP_KEYS, "accuracy")
    if matched.empty:
        return _not_run(FP16_ACCURACY, "no fp16 run with a float32 twin in the config")
    used = pd.concat([quantized.merge(matched[[*GROUP_KEYS, "seed"]]),
                      reference.merge(matched[[*GROUP_KEYS, "seed"]])])
    parts, texts = [], []
    for key, part in matched.groupby(GROUP_KEYS, dropna=False):
        drops = part["accuracy_a"] - part["accuracy_b"]
        parts.append(compare_to_bound(drops, FP16_MAX_DROP, "<"))
        texts.append(f"{_group_label(key)}: {_number(part['accuracy_a'].mean())} → "
                     f"{_number(part['accuracy_b'].mean())} (mean drop {_number(drops.mean())},"
                     f" {len(part)} seeds)")
    return _row(FP16_ACCURACY, "; ".join(texts), _datasets(matched),
                _gated(used, lambda: combine(parts)))


def clustering_row(runs: pd.DataFrame | None) -> dict[str, object]:
    """Accuracy at the smallest K against the largest (unclustered twin = K ∞), by seed."""
    if runs is None or runs.empty:
        return _not_run(CLUSTERING, "no Study B runs in the config")
    runs = with_technique(runs)
    clustered = runs[runs["method"] == "cluster"]
    twins = runs[runs["method"] == "base"].merge(clustered[GROUP_KEYS].drop_duplicates(),
                                                 on=GROUP_KEYS)
    points = pd.concat([clustered, twins.assign(clusters=np.inf)], ignore_index=True)
    groups = [(key, part) for key, part in points.groupby(GROUP_KEYS, dropna=False)
              if part["clusters"].nunique() > 1]
    if not groups:
        return _not_run(CLUSTERING, "fewer than two cluster counts (with the unclustered "
                                    "twin) in any model group of the config")
    parts, texts, used = [], [], []
    for key, part in groups:
        smallest = part[part["clusters"] == part["clusters"].min()]
        largest = part[part["clusters"] == part["clusters"].max()]
        matched = _paired_by_seed(smallest, largest, GROUP_KEYS, "accuracy")
        parts.append(compare_paired(matched["accuracy_a"], matched["accuracy_b"], "<"))
        used.append(part)
        by_k = part.groupby("clusters")["accuracy"].mean()
        texts.append(f"{_group_label(key)} ρ={_number(_spearman(by_k))} ("
                     + ", ".join(f"K={'∞' if np.isinf(k) else int(k)}: {_number(acc)}"
                                 for k, acc in by_k.items())
                     + f"; mean over {part['seed'].nunique()} seeds)")
    return _row(CLUSTERING, "; ".join(texts), _datasets(points),
                _gated(pd.concat(used), lambda: combine(parts)))


def _spearman(by_k: pd.Series) -> float:
    if len(by_k) < 2:
        return np.nan
    with warnings.catch_warnings():  # constant accuracy: ρ is NaN
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return float(stats.spearmanr(by_k.index, by_k.to_numpy()).statistic)


def unfreezing_row(runs: pd.DataFrame | None) -> dict[str, object]:
    """Top-1 against Top-10 unfreezing of the same model, paired by seed."""
    keys = ["source_dataset", "split", "arch", "device", "method", "epochs"]

    def unfrozen(top: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
        return lambda runs: runs[runs["top"] == top]
    return _accuracy_difference_row(UNFREEZING, runs, unfrozen(1), unfrozen(10), keys,
                                    "model with both Top-1 and Top-10 runs at equal epochs")


def transfer_row(runs: pd.DataFrame | None) -> dict[str, object]:
    """Model-to-model layer transfer against the recipient alone, paired by seed."""
    def m2m(runs: pd.DataFrame) -> pd.DataFrame:
        return runs[runs["method"] == "m2m"]

    def alone(runs: pd.DataFrame) -> pd.DataFrame:
        return runs[runs["method"] == "base"]
    return _accuracy_difference_row(TRANSFER, runs, m2m, alone, GROUP_KEYS,
                                    "m2m run with a recipient twin")


def opscore_row(runs: pd.DataFrame | None) -> dict[str, object]:
    """OpScore (total time, raw size) of every model on its own split, over seeds."""
    if runs is None or runs.empty:
        return _not_run(OPSCORE, "no Study B runs in the config")
    runs = with_technique(runs)
    runs = runs[runs["split"] == OWN_SPLIT]
    error = floored_error(runs["accuracy"], runs["n_test"])
    scored = runs.assign(opscore_total=opscore(1.0 - error, runs["total_seconds"],
                                               runs["size_mb"]))
    low, high = OPSCORE_RANGE
    parts, texts = [], []
    for _, part in scored.groupby(["source_dataset", "arch", "technique"]):
        parts.append(within_range(part["opscore_total"], low, high))
    for dataset, part in scored.groupby("source_dataset"):
        texts.append(f"{dataset} {_number(part['opscore_total'].min())} to "
                     f"{_number(part['opscore_total'].max())} "
                     f"({part.groupby(['arch', 'technique']).ngroups} models, "
                     f"{len(part)} runs)")
    evidence = combine(parts)
    if evidence.verdict != NOT_RUN:
        evidence = Evidence(evidence.verdict, len(scored), None, evidence.reason)
    return _row(OPSCORE, "; ".join(texts), ", ".join(sorted(set(scored["source_dataset"]))),
                _gated(scored, lambda: evidence))


def random_baseline_row(baselines: pd.DataFrame | None) -> dict[str, object]:
    """1/classes inside the Clopper-Pearson interval of the random predictions' accuracy."""
    if baselines is None or baselines.empty:
        return _not_run(RANDOM_BASELINE, "no Study B data set in the config")
    parts, texts = [], []
    for row in baselines.itertuples():
        correct = round(row.accuracy * row.n_test)
        interval = proportion_interval(correct, row.n_test)
        inside = interval[0] <= 1.0 / row.n_classes <= interval[1]
        parts.append(Evidence(HOLDS if inside else FAILS, int(row.n_test), interval))
        texts.append(f"{row.dataset} {_number(row.accuracy)} vs 1/{int(row.n_classes)} "
                     f"(95 % interval [{interval[0]:.3g}, {interval[1]:.3g}], "
                     f"n_test {int(row.n_test)})")
    return _row(RANDOM_BASELINE, "; ".join(texts), ", ".join(baselines["dataset"]),
                combine(parts))


def _datasets(table: pd.DataFrame) -> str:
    splits = {(row.source_dataset, row.split) for row in table.itertuples()}
    return ", ".join(dataset if split == OWN_SPLIT else f"{dataset} {split}"
                     for dataset, split in sorted(splits))


def scorecard(scale: str, eq11: pd.DataFrame | None = None,
              nasbench_claims: Mapping[str, pd.DataFrame] | None = None,
              runs: pd.DataFrame | None = None, model_sizes: pd.DataFrame | None = None,
              baselines: pd.DataFrame | None = None,
              forecast_backtests: Sequence[pd.DataFrame] | None = None) -> pd.DataFrame:
    """Every claim of both papers, one row each (NAS-Bench claims once per source).

    The forecast claim (PW against EXP) has a row only when ``forecast_backtests`` is given
    (an empty sequence: "not run"): it belongs to the optional forecast stage.
    """
    forecast = [] if forecast_backtests is None else [forecast_pw_exp_row(forecast_backtests)]
    rows = [*eq11_rows(eq11), *nasbench_rows(nasbench_claims or {}), *forecast,
            resnet_time_row(runs), fp16_size_row(model_sizes), fp16_accuracy_row(runs),
            clustering_row(runs), unfreezing_row(runs), transfer_row(runs), opscore_row(runs),
            random_baseline_row(baselines)]
    table = pd.DataFrame(rows).assign(scale=scale)
    return table[list(COLUMNS)]


def scorecard_markdown(table: pd.DataFrame) -> str:
    counts = table["verdict"].value_counts()
    tally = ", ".join(f"{int(counts.get(verdict, 0))} {verdict}" for verdict in VERDICTS)
    return ("# Paper-claims scorecard\n\n"
            f"{len(table)} claims: {tally}. Scale of this run's config: "
            f"{', '.join(sorted(set(table['scale'])))}. `paper` is the paper's own number and "
            "`where` its place (A = Study A, B = Study B); `holds_when` is the rule applied "
            "here; `ours` is measured on `data`; `n` is how many seeds, repeats, runs or "
            "points the verdict rests on and `interval` its 95 % interval. A claim the data "
            "cannot decide is `inconclusive`, one whose inputs are not in this run's config "
            "`not run`, each with its `reason`.\n\n" + markdown_table(table))


def scorecard_from_files(scale: str, eq11: str | Path | None = None,
                         nasbench_claims: Mapping[str, str | Path] | None = None,
                         runs: str | Path | None = None, model_sizes: str | Path | None = None,
                         baselines: Sequence[str | Path] = (),
                         forecast_backtests: Sequence[str | Path] | None = None
                         ) -> pd.DataFrame:
    """The scorecard from the workflow's table files; a missing input means "not run"."""
    def read(path: str | Path | None) -> pd.DataFrame | None:
        return None if path is None else pd.read_csv(path, dtype={"split": str})

    baseline_rows = [json.loads(Path(path).read_text()) for path in baselines]
    return scorecard(
        scale, read(eq11),
        {source: read(path) for source, path in (nasbench_claims or {}).items()},
        read(runs), read(model_sizes), pd.DataFrame(baseline_rows) if baseline_rows else None,
        None if forecast_backtests is None else [
            pd.read_csv(path, dtype={"run_id": str, "study": str, "dataset": str})
            for path in forecast_backtests])


def write_scorecard(table: pd.DataFrame, csv_path: str | Path, md_path: str | Path) -> None:
    """The scorecard as CSV and Markdown, both or neither."""
    atomic_write_all({Path(csv_path): lambda tmp: table.to_csv(tmp, index=False),
                      Path(md_path): lambda tmp: tmp.write_text(scorecard_markdown(table))})
