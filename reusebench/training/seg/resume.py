"""Resuming a killed run: the loop's progress saved to ``resume.pt`` and restored from it.

The state holds the weights, the optimizer state, the random states and the rows of the
epochs done; it resumes only a run whose configuration computes the same (:func:`science`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from reusebench.core.io import atomic_write

if TYPE_CHECKING:
    from reusebench.training.seg.models import SegmentationNet
    from reusebench.training.seg.train import Log, RunConfig

RESUME_FILE = "resume.pt"
# RunConfig fields that change how a run is executed, not what it computes
RUNTIME_FIELDS = ("num_threads", "nvml_rate_hz", "keep_optimizer_state", "resume_interval_s",
                  "checkpoint_dtype")


@dataclass
class Progress:
    """Where the loop stands: the rows of the epochs done, the batch-order generator and the
    file the state is saved to (None: never saved)."""

    rows: list[dict[str, float]]
    order: torch.Generator
    path: Path | None


def science(config: RunConfig) -> dict[str, Any]:
    """The fields that decide what a run computes: a saved state resumes only a run with these."""
    return {key: value for key, value in asdict(config).items() if key not in RUNTIME_FIELDS}


def start_progress(model: SegmentationNet, optimizer: torch.optim.Optimizer, config: RunConfig,
          path: Path | None, log: Log) -> Progress:
    """A fresh start, or the state of ``path`` restored into the model and the optimizer."""
    progress = Progress([], torch.Generator().manual_seed(config.seed), path)
    if path is None or not path.is_file():
        return progress
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("config") != science(config):
        log(f"{path}: saved by another configuration, starting afresh")
        return progress
    model.load_state_dict(state["model_state"])
    optimizer.load_state_dict(state["optimizer_state"])
    progress.order.set_state(state["order_rng"])
    torch.set_rng_state(state["torch_rng"])
    progress.rows = list(state["rows"])
    log(f"resuming after epoch {len(progress.rows)} from {path}")
    return progress


def save_progress(model: SegmentationNet, optimizer: torch.optim.Optimizer,
                  config: RunConfig, progress: Progress) -> None:
    """Save the loop's state to ``progress.path``, atomically."""
    state = {"config": science(config), "rows": progress.rows,
             "model_state": model.state_dict(), "optimizer_state": optimizer.state_dict(),
             "order_rng": progress.order.get_state(), "torch_rng": torch.get_rng_state()}
    atomic_write(progress.path, lambda tmp: torch.save(state, tmp))
