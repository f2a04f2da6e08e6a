"""The fields of a model card: pure functions from what a run recorded to a JSON-ready dict.

A card holds two groups of metrics, each entry ``{key, group, type, name, value, better,
partner}`` with ``value`` None where the run did not measure it (the card then says "not
measured" and leaves it out of the YAML metadata):

- task metrics: the minimum test loss M_er, and pixel accuracy, precision, recall, F1 and
  IoU of the final epoch (Study A, the saved checkpoint) or accuracy, precision, recall and
  F1 of the final model on the test set (Study B);
- reuse metrics: Study A Eq. 2-9 from the metrics table, the pair metrics of every pair the
  run belongs to, size, and Study B's OpScore.

A card also carries the run's flags (``diverged``, ``not_learning`` and why, from the metrics
table), the spread of M_er over the seeds of its configuration (the runs identical in
every key but the seed) and, where the workflow's forecast stage covered the run, what
its first N epochs forecast (``forecast``, read from the forecast table): the final test
loss, M_er and ep* at the largest N that gave a forecast, with 80 % and 95 % intervals,
beside what the run then did.

Names, model-index types, directions and definitions come from the metric registry
(:mod:`reusebench.core.metricdefs`), under the definitions the metrics table was computed with
(its ``definitions`` column: ``paper``, or the Study A authors' code). A card also carries
the metric settings of its run: the definitions, δ and the stability window actually used,
and the fit points N of Δ(fit).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from reusebench.core import metricdefs
from reusebench.core.errors import InputError
from reusebench.core.evidence import seed_summary
from reusebench.core.metricdefs import BETTER, PAPER
from reusebench.core.metrics import flagged

FIGURE = "curves.png"
TASKS = {"A": ("image-segmentation", "Image Segmentation"),
         "B": ("image-classification", "Image Classification")}
SEGMENTATION_SCORES = ("pixel_accuracy", "precision", "recall", "f1", "iou")
CLASSIFICATION_SCORES = ("accuracy", "precision", "recall", "f1")
OPSCORES = ("opscore_total", "opscore_train", "opscore_test", "opscore_total_gzip")
SUMS_OVER_EPOCHS = ("m_stab", "delta_fit_min", "d_re", "d_unif", "d_init_data", "d_init_graph")
SIGNIFICANT_DIGITS = 6
MB = 1e6  # as Study B: MB = 10^6 bytes
CONFIGURATION_KEYS = ("study", "dataset", "arch", "init", "lr", "device")  # all but the seed

def clean_number(value: Any) -> float | int | None:
    """A finite number rounded to 6 significant digits (ints stay ints); None otherwise."""
    if value is None or value is pd.NA or isinstance(value, bool | str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    if isinstance(value, int | np.integer):
        return int(number)
    return float(f"{number:.{SIGNIFICANT_DIGITS}g}")


def definitions_in(run: Mapping[str, Any]) -> str:
    """The definitions the run's metrics row was computed with (paper where it does not say)."""
    found = run.get("definitions")
    return found if isinstance(found, str) and found else PAPER


def metric(key: str, group: str, value: Any, name: str | None = None,
           partner: str | None = None, definitions: str = PAPER) -> dict[str, Any]:
    """One metric entry; ``name`` overrides the registry's label (pairs, best fit)."""
    defined = metricdefs.metric(key)
    return {"key": key, "group": group, "type": defined.model_index_type,
            "name": name or defined.label, "value": clean_number(value),
            "better": defined.better(definitions), "partner": partner}


def task_metrics(run: Mapping[str, Any], scores: Mapping[str, Any], study: str) -> list[dict]:
    """M_er plus the study's test scores (a missing or NaN score is 'not measured')."""
    names = SEGMENTATION_SCORES if study == "A" else CLASSIFICATION_SCORES
    return [metric("m_er", "task", run.get("m_er"), definitions=definitions_in(run)),
            *(metric(name, "task", scores.get(name)) for name in names)]


def reuse_metrics(run: Mapping[str, Any]) -> list[dict]:
    """The per-run reuse metrics of a metrics-table row (Study A Eq. 2-8)."""
    definitions = definitions_in(run)
    best = run.get("delta_fit_best")
    best_label = metricdefs.BY_COLUMN["delta_fit_min"].label
    best_name = f"{best_label} ({best})" if isinstance(best, str) and best else None
    ep_star = run.get("ep_star")
    ep_star = None if ep_star is None or pd.isna(ep_star) else int(ep_star)
    values = {"ep_star": ep_star,
              **{key: run.get(key) for key in ("m_stab", "t_m_er", "delta_fit_min", "d_re",
                                               "d_unif", "gpu_max_mem_mb", "gpu_avg_util_pct")}}
    return [metric(key, "reuse", value, best_name if key == "delta_fit_min" else None,
                   definitions=definitions) for key, value in values.items()]


def pair_metrics(run_id: str, pairs: pd.DataFrame, definitions: str = PAPER) -> list[dict]:
    """G_init and D_init of every pair the run belongs to, named by their formula."""
    entries = []
    mine = pairs[(pairs["run_id_a"] == run_id) | (pairs["run_id_b"] == run_id)]
    for pair in mine.itertuples(index=False):
        partner = pair.run_id_b if pair.run_id_a == run_id else pair.run_id_a
        if pair.kind == "data":
            found = (("g_init", pair.g_init), ("d_init_data", pair.d_init))
            a, b = pair.init_a, pair.init_b
        else:
            found = (("d_init_graph", pair.d_init),)
            a, b = pair.arch_a, pair.arch_b
        entries += [metric(key, "reuse", value, partner=partner, definitions=definitions,
                           name=metricdefs.BY_COLUMN[key].pair_name(a, b, definitions))
                    for key, value in found]
    return entries


def metric_settings(run: Mapping[str, Any]) -> dict[str, Any]:
    """How the run's metrics were computed: definitions, δ and the stability window used
    (None where the metrics table predates them) and the fit points N of Δ(fit)."""
    return {"definitions": definitions_in(run),
            "stab_delta": clean_number(run.get("stab_delta")),
            "stab_window": clean_number(run.get("stab_window")),
            "fit_points": list(metricdefs.fit_points_of(run.keys()))}


def unpaired_notes(run_id: str, unpaired: pd.DataFrame) -> list[dict[str, str]]:
    """Why the run has no data or graph pair, from the unpaired table."""
    mine = unpaired[unpaired["run_id"] == run_id]
    return [{"kind": kind, "reason": reason}
            for kind, reason in zip(mine["kind"], mine["reason"], strict=True)]


def final_scores(curves: pd.DataFrame, columns: tuple[str, ...]) -> dict[str, Any]:
    """The last epoch's value of each score column the curve table has."""
    last = curves.sort_values("epoch").iloc[-1]
    return {column: last[column] for column in columns if column in curves.columns}


def training_seconds(curves: pd.DataFrame) -> float | None:
    return clean_number(curves["epoch_seconds"].sum(min_count=1))


def study_a_card(run: Mapping[str, Any], curves: pd.DataFrame, provenance: Mapping[str, Any],
                 pairs: pd.DataFrame, unpaired: pd.DataFrame,
                 checkpoint_bytes: int | None) -> dict[str, Any]:
    """Card fields of a Study A segmentation run (metrics row, curves, provenance.json)."""
    config, dataset = provenance.get("config", {}), provenance.get("dataset", {})
    size = None if checkpoint_bytes is None else checkpoint_bytes / MB
    metrics = [*task_metrics(run, final_scores(curves, SEGMENTATION_SCORES), "A"),
               *reuse_metrics(run), *pair_metrics(run["run_id"], pairs, definitions_in(run)),
               metric("checkpoint_mb", "reuse", size)]
    training = {
        "framework": "PyTorch", "arch": run["arch"], "init": run["init"],
        "pretrained_checkpoint": config.get("pretrained_checkpoint"), "lr": run["lr"],
        "seed": run["seed"], "epochs": config.get("epochs"), "epochs_recorded": run["n_epochs"],
        "batch_size": config.get("batch_size"), "optimizer": "Adam",
        "loss": "cross entropy weighted by inverse class proportion",
        "precise_bn": config.get("precise_bn"), "threads": config.get("num_threads"),
        "training_seconds": training_seconds(curves), "diverged": bool(run.get("diverged")),
        "dataset": dataset.get("name", run["dataset"]), "modality": dataset.get("modality"),
        "n_classes": dataset.get("n_classes"), "image_shape": dataset.get("image_shape"),
        "n_train": dataset.get("n_train"), "n_test": dataset.get("n_test"),
    }
    device = provenance.get("device", {})
    hardware = {"device": run["device"], "device_name": device.get("name"),
                "torch_device": device.get("torch_device"), "driver": device.get("driver"),
                "cuda": device.get("cuda"), "cudnn": device.get("cudnn"),
                "host": provenance.get("host"), "platform": provenance.get("platform"),
                "nvml": (provenance.get("nvml") or {}).get("status"),
                "versions": provenance.get("versions"), "start": provenance.get("start"),
                "end": provenance.get("end")}
    dataset_info = {"name": run["dataset"], "type": run["dataset"], "split": "test",
                    "config": None}
    return _card(run, dataset_info, metrics, unpaired, training, hardware)


def study_b_card(run: Mapping[str, Any], curves: pd.DataFrame, summary: Mapping[str, Any],
                 pairs: pd.DataFrame, unpaired: pd.DataFrame,
                 opscores: Mapping[str, Any] | None,
                 opscore_rank: tuple[int, int] | None = None) -> dict[str, Any]:
    """Card fields of a Study B classification run (metrics row, curves, summary.json).

    ``opscores`` holds ``opscore_total``, ``_train``, ``_test`` and ``_total_gzip`` (see
    :func:`reusebench.core.opscore.ranking`); ``opscore_rank`` is (rank, runs ranked)
    within the run's data set when a ranking exists.
    """
    opscores = opscores or {}
    metrics = [*task_metrics(run, summary, "B"), *reuse_metrics(run),
               *pair_metrics(run["run_id"], pairs, definitions_in(run)),
               metric("size_mb", "reuse", summary.get("size_mb")),
               metric("gzip_mb", "reuse", summary.get("gzip_mb")),
               *(metric(key, "reuse", opscores.get(key)) for key in OPSCORES)]
    settings = summary.get("settings", {})
    training = {
        "framework": "TensorFlow / tf-keras", "arch": run["arch"], "technique": run["init"],
        "method": summary.get("method"), "clusters": summary.get("clusters"),
        "unfrozen_layers": summary.get("unfrozen_layers"), "weights": summary.get("weights"),
        "moved_layers": summary.get("moved_layers") or None, "lr": run["lr"],
        "seed": run["seed"], "epochs": summary.get("epochs"), "epochs_recorded": run["n_epochs"],
        "batch_size": summary.get("batch_size"), "optimizer": "Adam",
        "loss": "sparse categorical cross entropy", "precise_bn": settings.get("precise_bn"),
        "training_seconds": clean_number(summary.get("train_seconds")),
        "test_seconds": clean_number(summary.get("test_seconds")),
        "test_ms_per_image": clean_number(summary.get("test_ms_per_image")),
        "parameters": summary.get("parameters"),
        "trainable_parameters": summary.get("trainable_parameters"),
        "diverged": bool(run.get("diverged")), "dataset": summary.get("source_dataset"),
        "split": summary.get("split"), "n_classes": summary.get("n_classes"),
        "n_train": summary.get("n_train"), "n_test": summary.get("n_test"),
        "opscore_rank": (None if opscore_rank is None
                         else f"{opscore_rank[0]} of {opscore_rank[1]}"),
    }
    hardware = {"device": run["device"], "device_name": summary.get("device_name"),
                "gpu_peak_mb": clean_number(summary.get("gpu_peak_mb")),
                "host": summary.get("host"), "python": summary.get("python"),
                "versions": {name: summary.get(name) for name in
                             ("tensorflow", "tf-keras", "tensorflow-model-optimization")},
                "start": summary.get("started"), "end": summary.get("finished")}
    dataset_info = {"name": run["dataset"], "type": summary.get("source_dataset", run["dataset"]),
                    "split": "test", "config": summary.get("split")}
    return _card(run, dataset_info, metrics, unpaired, training, hardware)


def _card(run: Mapping[str, Any], dataset: dict[str, Any], metrics: list[dict],
          unpaired: pd.DataFrame, training: dict[str, Any],
          hardware: dict[str, Any]) -> dict[str, Any]:
    """The card dict; ``seed_spread`` is filled in by the caller that has the metrics table."""
    study = run["study"]
    if study not in TASKS:
        raise InputError(f"Run {run['run_id']} is of study {study!r}; model cards exist for "
                         f"studies {' and '.join(TASKS)} only.")
    task_type, task_name = TASKS[study]
    keys = {key: _plain(run[key]) for key in ("study", "dataset", "arch", "init", "lr", "seed",
                                              "device")}
    return {
        "run_id": run["run_id"], "model_name": model_name(run["run_id"]), "keys": keys,
        "task": {"type": task_type, "name": task_name}, "dataset": dataset,
        "flags": run_flags(run), "seed_spread": None, "metrics": metrics,
        "unpaired": unpaired_notes(run["run_id"], unpaired),
        "not_measured": [{"name": entry["name"], "reason": absence_reason(entry["key"], run)}
                         for entry in metrics if entry["value"] is None],
        "training": {key: _plain(value) for key, value in training.items()},
        "hardware": {key: _plain(value) for key, value in hardware.items()},
        "figure": FIGURE,
        "metric_settings": metric_settings(run),
        "definitions": definitions_text(metrics, run),
    }


def definitions_text(metrics: list[dict], run: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Name, reading and definition of each metric key of the card, from the registry."""
    definitions = definitions_in(run)
    fit_points = metricdefs.fit_points_of(run.keys()) or metricdefs.DEFAULT_FIT_POINTS
    found = {}
    for key in dict.fromkeys(entry["key"] for entry in metrics):
        defined = metricdefs.metric(key, fit_points)
        found[key] = {"name": defined.label, "better": BETTER[defined.better(definitions)],
                      "definition": defined.text(definitions)}
    return found


def absence_reason(key: str, run: Mapping[str, Any]) -> str:
    """Why a metric of the card has no value, as far as the metrics row tells."""
    if run.get("diverged") and key in SUMS_OVER_EPOCHS:
        return "undefined: the run diverged, and a non-finite loss falls inside what it sums"
    if key == "t_m_er":
        return "no training seconds per epoch were recorded"
    if key == "delta_fit_min":
        fits = {int(column.split("_")[2]): status for column, status in run.items()
                if column.startswith("fit_") and column.endswith("_status")}
        if fits and set(fits.values()) == {"too_short"}:
            return (f"the convergence fits need at least {min(fits)} epochs; the run has "
                    f"{run['n_epochs']}")
        return "no convergence fit succeeded on a finite test-loss curve"
    if key == "d_unif":
        return "undefined: a loss curve is constant, shorter than two epochs or not finite"
    if key.startswith("gpu_"):
        return f"no NVML GPU samples on device {run['device']}"
    if key in ("g_init", "d_init_data", "d_init_graph"):
        return "not finite over the two runs' common epochs"
    return "not recorded by this run"


def run_flags(run: Mapping[str, Any]) -> dict[str, Any]:
    """The run's flags from its metrics row (absent columns: not flagged)."""
    reason = run.get("flag_reason")
    kind = run.get("reference_kind")
    return {"diverged": _flag(run.get("diverged")),
            "not_learning": _flag(run.get("not_learning")),
            "reason": reason if isinstance(reason, str) else "",
            "reference_loss": clean_number(run.get("reference_loss")),
            "reference_kind": kind if isinstance(kind, str) else None}


def _flag(value: Any) -> bool:
    return value is not None and value is not pd.NA and not pd.isna(value) and bool(value)


def seed_spread(run: Mapping[str, Any], metrics: pd.DataFrame) -> dict[str, Any]:
    """M_er over the seeds of the run's configuration: n, mean, std, 95 % interval.

    Runs flagged diverged or not learning are left out of the statistics and counted in
    ``n_flagged``; ``seeds`` lists the seeds used. std and the interval are None for n < 2.
    """
    same = pd.Series(True, index=metrics.index)
    for key in CONFIGURATION_KEYS:
        if key in metrics.columns:
            same &= metrics[key] == run[key]
    siblings = metrics[same]
    marked = flagged(siblings)
    usable = siblings[~marked & siblings["m_er"].notna()]
    spread: dict[str, Any] = {"n": len(usable), "mean": None, "std": None, "ci_low": None,
                              "ci_high": None, "n_flagged": int(marked.sum()),
                              "seeds": sorted(int(seed) for seed in usable["seed"])}
    if len(usable):
        row = seed_summary(usable.assign(_group=0), ["_group"], ["m_er"]).iloc[0]
        spread.update({name: clean_number(row[f"m_er_{name}"])
                       for name in ("mean", "std", "ci_low", "ci_high")})
    return spread


def model_name(run_id: str) -> str:
    """The run id as a model name: ``A/easy/unet/random/lr0.001/s0/cpu`` → ``A-easy-…-cpu``."""
    return run_id.replace("/", "-")


def _plain(value: Any) -> Any:
    """JSON-ready: NumPy scalars to Python, NaN to None, containers recursively."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, str | bool):
        return value
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ---------------------------------------------------------------- forecast

FORECAST_OUTCOMES = {"final": "final test loss", "best": "M_er (best test loss)",
                     "best_epoch": "ep* (epoch of M_er)"}
PREDICTOR_TEXT = {
    "pw": "the paper's power-law (PW) fit with a residual bootstrap",
    "exp": "the paper's exponential (EXP) fit with a residual bootstrap",
    "ensemble": "seven learning-curve families weighted by their forecast of held-out epochs",
    "ensemble_ic": "seven learning-curve families weighted by AICc"}


def forecast_summary(rows: pd.DataFrame | None, curves: pd.DataFrame) -> dict[str, Any] | None:
    """The run's forecast at the largest N that gave one (status ok), by the first predictor
    of its forecast-table rows, and what the run then did; None without rows.

    Without any ok forecast the entry says why (the statuses at each N).
    """
    if rows is None or rows.empty:
        return None
    predictor = str(rows["predictor"].iloc[0])
    mine = rows[rows["predictor"] == predictor].sort_values("observed_n", kind="stable")
    summary: dict[str, Any] = {"predictor": predictor,
                               "predictor_text": PREDICTOR_TEXT.get(predictor, predictor),
                               "target": str(mine["target"].iloc[-1]) if "target" in mine
                               else "test_loss"}
    ok = mine[mine["status"] == "ok"]
    if ok.empty:
        statuses = ", ".join(f"N = {int(n)}: {status}" for n, status in
                             zip(mine["observed_n"], mine["status"], strict=True))
        return {**summary, "observed_n": None, "outcomes": None, "actual": None,
                "reason": f"no N gave a forecast ({statuses})"}
    row = ok.iloc[-1]
    horizon = row.get("horizon", row.get("epochs"))
    outcomes = {name: {"median": clean_number(row[name]),
                       **{f"{side}{level}": clean_number(row[f"{name}_{side}{level}"])
                          for level in ("80", "95") for side in ("lo", "hi")},
                       **{f"{side}{level}_conformal": _bound(row[f"{name}_{side}{level}_conformal"])
                          for level in ("80", "95") for side in ("lo", "hi")
                          if f"{name}_{side}{level}_conformal" in row.index}}
                for name in FORECAST_OUTCOMES}
    return {**summary, "observed_n": int(row["observed_n"]), "horizon": clean_number(horizon),
            "outcomes": outcomes, "actual": actual_outcomes(curves, summary["target"]),
            "reason": ""}


def _bound(value: Any) -> float | int | str | None:
    """An interval end: a number, "unbounded" for ±inf, None where there is none."""
    number = clean_number(value)
    if number is None and isinstance(value, float | np.floating) and np.isinf(value):
        return "unbounded"
    return number


def actual_outcomes(curves: pd.DataFrame, target: str) -> dict[str, Any]:
    """Final value, minimum (M_er) and its first epoch of the run's forecast target curve."""
    ordered = curves.sort_values("epoch")
    if target == "test_loss" or "test_accuracy" not in ordered.columns:
        values = ordered["test_loss"].to_numpy(dtype="float64")
    else:
        values = 1.0 - ordered["test_accuracy"].to_numpy(dtype="float64")
    finite = np.where(np.isfinite(values), values, np.inf)
    if not len(values) or not np.isfinite(finite).any():
        return {"final": None, "best": None, "best_epoch": None}
    at = int(np.argmin(finite))
    return {"final": clean_number(values[-1]), "best": clean_number(finite[at]),
            "best_epoch": int(ordered["epoch"].iloc[at])}
