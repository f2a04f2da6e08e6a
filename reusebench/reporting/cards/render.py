"""A card's fields as a Hugging Face model card (README.md), checked offline, and its figure.

The YAML front matter is built by ``huggingface_hub`` (``ModelCardData`` with one
``EvalResult`` per measured metric, which it writes as ``model-index``), and every card is
parsed back by ``huggingface_hub`` before it is written: ``ModelCard(text)`` validates the
metadata and ``model_index_to_eval_results`` must return exactly the card's metrics. Nothing
here talks to the Hub (``ModelCard.validate`` would).
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from huggingface_hub import EvalResult, ModelCard, ModelCardData
from huggingface_hub.repocard_data import model_index_to_eval_results
from matplotlib.ticker import MaxNLocator

from reusebench.reporting.cards.content import FORECAST_OUTCOMES
from reusebench.reporting.markdown import format_value

NOT_MEASURED = "not measured"
SEGMENTATION_CURVES = ("pixel_accuracy", "f1", "iou")
CLASSIFICATION_CURVES = ("train_accuracy", "test_accuracy")


def measured(content: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry for entry in content["metrics"] if entry["value"] is not None]


def card_data(content: dict[str, Any]) -> ModelCardData:
    """The card's metadata: model-index results (task, dataset, metrics), tags, pipeline."""
    task, dataset, keys = content["task"], content["dataset"], content["keys"]
    results = [EvalResult(task_type=task["type"], task_name=task["name"],
                          dataset_type=dataset["type"], dataset_name=dataset["name"],
                          dataset_config=dataset["config"], dataset_split=dataset["split"],
                          metric_type=entry["type"], metric_name=entry["name"],
                          metric_value=entry["value"])
               for entry in measured(content)]
    flags = content.get("flags") or {}
    tags = ["reusebench", f"study-{keys['study'].lower()}", task["type"], keys["arch"],
            keys["init"], *(f"flagged-{name.replace('_', '-')}"
                            for name in ("diverged", "not_learning") if flags.get(name))]
    return ModelCardData(model_name=content["model_name"], eval_results=results or None,
                         pipeline_tag=task["type"], tags=tags)


def card_text(content: dict[str, Any]) -> str:
    """README.md: YAML front matter from :func:`card_data`, then the Markdown body."""
    text = f"---\n{card_data(content).to_yaml()}\n---\n\n{card_body(content)}"
    check_card(text, content)
    return text


def check_card(text: str, content: dict[str, Any]) -> list[EvalResult]:
    """Parse ``text`` with huggingface_hub and compare its model-index with ``content``.

    Raises ValueError when the metadata does not parse or its results differ from the card's
    measured metrics; returns the parsed results.
    """
    card = ModelCard(text)
    metadata = card.data.to_dict()
    expected = [(content["task"]["type"], content["dataset"]["type"], entry["type"],
                 entry["name"], entry["value"]) for entry in measured(content)]
    if not expected:
        return []
    name, results = model_index_to_eval_results(metadata["model-index"])
    found = [(result.task_type, result.dataset_type, result.metric_type, result.metric_name,
              result.metric_value) for result in results]
    if name != content["model_name"] or found != expected:
        raise ValueError(f"The model-index of the card of {content['run_id']} does not match "
                         "its metrics after a round trip through huggingface_hub.")
    return results


# ---------------------------------------------------------------- the Markdown body


def card_body(content: dict[str, Any]) -> str:
    keys, training = content["keys"], content["training"]
    task = content["task"]["name"].lower()
    intro = (f"{content['task']['name']} model trained by the reusebench pipeline (Study "
             f"{keys['study']}): `{keys['arch']}` on data set `{keys['dataset']}`, init "
             f"`{keys['init']}`, learning rate {keys['lr']:g}, seed {keys['seed']}, device "
             f"`{keys['device']}`, {training['epochs_recorded']} epochs. Run id "
             f"`{content['run_id']}`. The metrics below were computed from this run's "
             f"per-epoch curves ({task}); the YAML metadata above holds the measured ones.")
    sections = [
        f"# {content['model_name']}", warning_line(content), intro,
        "## Task metrics", _metric_table(content, "task"), seed_spread_line(content),
        "## Reuse metrics", _metric_table(content, "reuse"), _unpaired_text(content),
        *forecast_section(content),
        "## Metric settings", settings_table(content),
        "## Not measured", _not_measured_text(content),
        "## Training configuration", _key_value_table(training),
        "## Hardware", _key_value_table(content["hardware"]),
        "## Training curves",
        f"![Train and test loss per epoch of {content['run_id']}]({content['figure']})",
        "## How to read the metrics", _definitions_text(content),
    ]
    return "\n\n".join(section for section in sections if section) + "\n"


def flag_label(flags: dict[str, Any]) -> str:
    """"diverged", "not learning", both joined by "and", or "" for an unflagged run."""
    names = [name for key, name in (("diverged", "diverged"), ("not_learning", "not learning"))
             if flags.get(key)]
    return " and ".join(names)


def warning_line(content: dict[str, Any]) -> str:
    """The warning a flagged run's card opens with; "" for an unflagged run."""
    flags = content.get("flags") or {}
    label = flag_label(flags)
    if not label:
        return ""
    reason = flags.get("reason") or label
    return (f"**Warning: {label}** — {reason}; its metrics do not describe a trained model.")


def seed_spread_line(content: dict[str, Any]) -> str:
    """M_er over the seeds of the run's configuration, e.g. "over 3 seeds: 0.3 ± 0.1 (…)"."""
    spread = content.get("seed_spread")
    if not spread:
        return ""
    n, left_out = spread["n"], spread["n_flagged"]
    if n >= 2 and spread["std"] is not None:
        text = (f"M_er over {n} seeds: {format_value(spread['mean'], 4)} ± "
                f"{format_value(spread['std'], 4)} (95 % interval "
                f"[{format_value(spread['ci_low'], 4)}, {format_value(spread['ci_high'], 4)}])")
    elif n == 1:
        text = "M_er over 1 seed: no spread"
    else:
        text = "M_er over seeds: no unflagged seed of this configuration"
    if left_out:
        text += f"; {left_out} flagged seed{'s' if left_out > 1 else ''} left out"
    return (f"{text}. Seeds: the runs identical to this one in every key but the seed "
            f"({', '.join(map(str, spread['seeds'])) or 'none'}).")


def _metric_table(content: dict[str, Any], group: str) -> str:
    rows = ["| metric | value | reading | paired with |", "| --- | --- | --- | --- |"]
    for entry in content["metrics"]:
        if entry["group"] != group:
            continue
        value = NOT_MEASURED if entry["value"] is None else format_value(entry["value"], 6)
        better = content["definitions"][entry["key"]]["better"]
        partner = f"`{entry['partner']}`" if entry["partner"] else ""
        rows.append(f"| {entry['name']} | {value} | {better} | {partner} |")
    return "\n".join(rows)


def settings_table(content: dict[str, Any]) -> str:
    """Definitions, δ and the stability window used, and the fit points N, as a table."""
    settings = content.get("metric_settings") or {}
    definitions = settings.get("definitions", "paper")
    reading = ("Study A's equations" if definitions == "paper"
               else "the Study A authors' code (losses clipped to [0, 36])")
    delta, window = settings.get("stab_delta"), settings.get("stab_window")
    points = ", ".join(str(n) for n in settings.get("fit_points") or []) or "none"
    rows = ["| setting | value |", "| --- | --- |",
            f"| definitions | {definitions}: {reading} |",
            f"| δ (stab_delta): half-width of the M_stab window | "
            f"{'not recorded' if delta is None else f'{delta:g} epochs'} |",
            f"| stab_window: epochs the M_stab window summed | "
            f"{'not recorded' if window is None else f'{window:g} epochs'} |",
            f"| fit points N of Δ(fit) | {points} |"]
    return "\n".join(rows)


def forecast_section(content: dict[str, Any]) -> list[str]:
    """"## Forecast": what the run's first N epochs forecast, beside what it then did."""
    forecast = content.get("forecast")
    if not forecast:
        return []
    if forecast["outcomes"] is None:
        return ["## Forecast", f"No forecast of this run by `{forecast['predictor']}`: "
                f"{forecast['reason']}."]
    target = ("test loss" if forecast["target"] == "test_loss"
              else forecast["target"].replace("_", " "))
    conformal = "lo80_conformal" in forecast["outcomes"]["final"]
    rows = ["| outcome | forecast (median) | 80 % interval | 95 % interval |"
            + (" 80 % conformal |" if conformal else "") + " actual |",
            "| --- | --- | --- | --- |" + (" --- |" if conformal else "") + " --- |"]
    for name, label in FORECAST_OUTCOMES.items():
        values = forecast["outcomes"][name]
        actual = (forecast["actual"] or {}).get(name)
        recalibrated = (f"{_interval(values, '80_conformal')} | "
                        if "lo80_conformal" in values else ("| " if conformal else ""))
        rows.append(f"| {label if target == 'test loss' else label.replace('test loss', target)}"
                    f" | {format_value(values['median'], 4)} | {_interval(values, '80')} | "
                    f"{_interval(values, '95')} | {recalibrated}"
                    f"{NOT_MEASURED if actual is None else format_value(actual, 4)} |")
    horizon = forecast.get("horizon")
    intro = (f"From its first {forecast['observed_n']} epochs"
             f"{'' if horizon is None else f' (of {horizon:g})'}, predictor "
             f"`{forecast['predictor']}` ({forecast['predictor_text']}) forecast where the "
             f"{target} would end; the largest N of the forecast stage that gave a forecast. "
             "Intervals are central intervals of the predictive draws"
             + ("; `80 % conformal` recalibrates the 80 % interval on how far the backtest's "
                "intervals of the other runs missed (leave one run out)" if conformal else "")
             + "; `actual` is what the run then did.")
    return ["## Forecast", intro, "\n".join(rows)]


def _interval(values: dict[str, Any], level: str) -> str:
    low, high = values.get(f"lo{level}"), values.get(f"hi{level}")
    if "unbounded" in (low, high):
        return "unbounded"
    return f"[{format_value(low, 4)}, {format_value(high, 4)}]"


def _unpaired_text(content: dict[str, Any]) -> str:
    lines = [f"- no {note['kind']} pair: {note['reason']}." for note in content["unpaired"]]
    return "\n".join(lines)


def _not_measured_text(content: dict[str, Any]) -> str:
    if not content["not_measured"]:
        return "Every metric of this card was measured."
    lines = "\n".join(f"- {item['name']}: {item['reason']}." for item in content["not_measured"])
    return f"These metrics have no value for this run and are left out of the metadata:\n\n{lines}"


def _key_value_table(fields: dict[str, Any]) -> str:
    rows = ["| key | value |", "| --- | --- |"]
    for key, value in fields.items():
        if value is not None:  # e.g. the CUDA version of a CPU run
            rows.append(f"| {key} | {_cell(value)} |")
    return "\n".join(rows)


def _cell(value: Any) -> str:
    if value is None:
        return "not recorded"
    if isinstance(value, dict):
        return ", ".join(f"{key} {_cell(item)}" for key, item in value.items())
    if isinstance(value, list):
        return " × ".join(_cell(item) for item in value)
    return format_value(value, 6).replace("|", "\\|")


def _definitions_text(content: dict[str, Any]) -> str:
    return "\n".join(f"- **{item['name']}** ({item['better']}): {item['definition']}"
                     for item in content["definitions"].values())


# ---------------------------------------------------------------- the curves figure


def curves_figure(curves: pd.DataFrame, content: dict[str, Any]) -> plt.Figure:
    """Train and test loss per epoch with M_er and ep* marked; beside it the test scores."""
    scores = [column for column in (*SEGMENTATION_CURVES, *CLASSIFICATION_CURVES)
              if column in curves.columns and curves[column].notna().any()]
    figure, axes = plt.subplots(1, 2 if scores else 1, figsize=(9 if scores else 5, 3.4),
                                squeeze=False)
    loss_axis = axes[0, 0]
    epoch = curves["epoch"].to_numpy()
    for column, marker in (("train_loss", "o-"), ("test_loss", "s-")):
        finite = curves[column].where(np.isfinite(curves[column]))  # a diverged epoch is inf
        loss_axis.plot(epoch, finite, marker, markersize=3, label=column.replace("_", " "))
    values = {entry["key"]: entry["value"] for entry in content["metrics"]}
    if values.get("m_er") is not None and values.get("ep_star") is not None:
        loss_axis.axhline(values["m_er"], color="grey", linewidth=0.8, linestyle=":")
        loss_axis.axvline(values["ep_star"], color="grey", linewidth=0.8, linestyle="--",
                          label=f"ep* = {values['ep_star']}, M_er = {values['m_er']:.4g}")
    loss_axis.set_ylabel("cross-entropy loss")
    loss_axis.legend(fontsize=8)
    if scores:
        score_axis = axes[0, 1]
        for column in scores:
            label = column if column in CLASSIFICATION_CURVES else f"test {column}"
            score_axis.plot(epoch, curves[column], "o-", markersize=3,
                            label=label.replace("_", " "))
        score_axis.set_ylabel("score")
        score_axis.legend(fontsize=8)
    for axis in axes.flat:
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.suptitle(content["run_id"], fontsize=9)
    figure.tight_layout()
    return figure


def figure_png(figure: plt.Figure) -> bytes:
    """The figure as PNG bytes; closes it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    plt.close(figure)
    return buffer.getvalue()
