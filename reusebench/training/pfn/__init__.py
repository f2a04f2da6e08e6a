"""An LC-PFN-style forecaster of loss curves (the ``[forecast]`` extra, torch).

A prior-data fitted network (Adriaensen et al., NeurIPS 2023): a small transformer trained
on curves drawn from a parametric prior (:mod:`.prior`), which, given the observed (x, y)
pairs of a run's first epochs and query x's, outputs a discretised ("bar") predictive
distribution of y at each query (:mod:`.model`); :mod:`.train` trains it, :mod:`.predict`
loads weights and turns its outputs into forecast draws. This module imports no torch, so
the command line can name the sizes without it.
"""

from __future__ import annotations

# model sizes: "small" trains in minutes on two CPU cores, "large" is meant for a GPU
SIZES: dict[str, dict[str, float]] = {
    "small": {"d_model": 64, "n_layers": 3, "n_heads": 4, "d_ff": 128, "buckets": 200,
              "steps": 3000, "batch_size": 64, "lr": 1e-3},
    "large": {"d_model": 256, "n_layers": 6, "n_heads": 8, "d_ff": 512, "buckets": 1000,
              "steps": 30000, "batch_size": 256, "lr": 3e-4},
}
DEFAULT_SIZE = "small"
CHECKPOINT_FORMAT = "reusebench-pfn/1"
