"""Figure helpers shared by the studies: a headless backend and PNG + SVG output."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from reusebench.core.io import atomic_write


def save_figure(figure: plt.Figure, *paths: str | Path) -> None:
    """Save a figure to every path (format from the suffix), atomically, then close it."""
    for path in paths:
        suffix = Path(path).suffix.lstrip(".")
        atomic_write(path, lambda tmp, fmt=suffix: figure.savefig(tmp, format=fmt, dpi=150,
                                                                  bbox_inches="tight"))
    plt.close(figure)
