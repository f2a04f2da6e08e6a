"""One run's logged scalars, the form every reader produces and every later step reads.

A *series* is one tag's (or one CSV column's) values by step: steps strictly increasing,
a value and a wall-clock time (seconds since 1970, NaN where the log has none) per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Series:
    """One tag's values by step; steps are distinct and increasing."""

    steps: np.ndarray
    values: np.ndarray
    walls: np.ndarray

    def __len__(self) -> int:
        return len(self.steps)


@dataclass(frozen=True)
class RunLog:
    """The scalars of one run as read from its files, before tags are chosen.

    ``name`` is the run folder's name (TensorBoard, Lightning) or the file's stem (CSV);
    ``stated_keys`` holds run keys the log itself records (the authors' Model/LR columns,
    a Lightning ``hparams.yaml``); ``epoch_tag``, ``time_tag`` and ``time_unit`` are set
    by readers whose layout fixes them (seconds per unit of the time tag's values).
    """

    name: str
    source: Path
    fmt: str
    series: dict[str, Series]
    start_wall: float = float("nan")
    stated_keys: dict[str, object] = field(default_factory=dict)
    epoch_tag: str | None = None
    time_tag: str | None = None
    time_unit: float | None = None

    @property
    def tags(self) -> list[str]:
        return list(self.series)


def make_series(steps, values, walls=None) -> Series:
    """A series from unsorted points; where a step repeats, the value written last wins
    (a resumed run rewrites the steps it repeats)."""
    steps = np.asarray(steps, dtype="int64")
    values = np.asarray(values, dtype="float64")
    walls = (np.full(len(steps), np.nan) if walls is None
             else np.asarray(walls, dtype="float64"))
    # the last occurrence of each step, in step order
    reversed_steps = steps[::-1]
    unique, first_in_reversed = np.unique(reversed_steps, return_index=True)
    keep = len(steps) - 1 - first_in_reversed
    return Series(unique, values[keep], walls[keep])
