"""What the experiment-tracker readers (MLflow, W&B, Optuna, Ray Tune, Sacred) share.

A tracker holds many runs in one store, so its readers return, besides the runs, the runs
they left out and why (deleted, no metrics logged), for the summary line; and a run whose
metrics name no loss or accuracy is left out with the reason instead of stopping the
whole ingest (unless no run is left).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reusebench.data.ingest.runlog import RunLog

TRACKER_FORMATS = ("mlflow", "wandb", "optuna", "ray-tune", "sacred")
VALUE_KINDS = ("loss", "accuracy")


@dataclass(frozen=True)
class TrackedRun(RunLog):
    """A run read from a tracker: ``state`` is the tracker's word for how it ended
    (FINISHED, PRUNED, FAIL, …; "" where it keeps none); ``value_kind`` is set where the
    run holds one unnamed series ``value`` (an Optuna trial's intermediate values)."""

    state: str = ""
    value_kind: str | None = None


@dataclass(frozen=True)
class Skipped:
    """A run a reader left out, and why (a few words, e.g. "deleted", "no metrics")."""

    name: str
    source: Path
    fmt: str
    reason: str


@dataclass
class ReadResult:
    runs: list[RunLog] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def extend(self, other: ReadResult) -> None:
        self.runs.extend(other.runs)
        self.skipped.extend(other.skipped)


def flatten(params: Mapping[str, object], sep: str = ".",
            prefix: str = "") -> dict[str, object]:
    """Nested configs as one level, keys joined with ``sep`` (``{"model": {"arch": x}}`` →
    ``{"model.arch": x}``)."""
    flat: dict[str, object] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, sep, f"{name}{sep}"))
        else:
            flat[name] = value
    return flat


def number(value: object) -> float | None:
    """A logged metric value as a float (NaN and ±inf kept); None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def unique_names(names: list[str], ids: list[str]) -> list[str]:
    """Run names, with ``#id`` added to those several runs share (runs stay apart)."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return [name if counts[name] == 1 else f"{name}#{run_id}"
            for name, run_id in zip(names, ids, strict=True)]


def seconds_since_epoch(milliseconds: float | None) -> float:
    return float(milliseconds) / 1000.0 if milliseconds is not None else math.nan
