"""Train the PFN on the prior: Adam, linear warm-up then cosine decay, cross entropy on the
bar distribution's buckets.

Each step draws a horizon T, a number of observed epochs n (uniform on 2 … T − 1) and a
batch of prior curves; the first n epochs are observed, the remaining T − n are queries.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable

import numpy as np
import torch

from reusebench.training.pfn import CHECKPOINT_FORMAT, DEFAULT_SIZE, SIZES
from reusebench.training.pfn.model import CurvePFN, PfnSettings, bucket_of, weights_sha256
from reusebench.training.pfn.prior import PriorSettings, sample_batch, sample_horizon

MIN_OBSERVED = 2
WARMUP_SHARE = 0.05


def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU (for the command line, which imports no torch)."""
    return torch.cuda.is_available()


def size_settings(size: str = DEFAULT_SIZE) -> PfnSettings:
    """Model settings of a named size (see :data:`reusebench.training.pfn.SIZES`)."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose from {tuple(SIZES)}")
    return PfnSettings.from_dict({**PfnSettings().to_dict(),
                                  **{key: int(value) for key, value in SIZES[size].items()
                                     if key in PfnSettings.__dataclass_fields__}})


def train_pfn(steps: int | None = None, seed: int = 0, device: str = "cpu", *,
              size: str = DEFAULT_SIZE, settings: PfnSettings | None = None,
              prior: PriorSettings | None = None, batch_size: int | None = None,
              lr: float | None = None, num_threads: int | None = None,
              progress: Callable[[int, float], None] | None = None
              ) -> tuple[dict[str, torch.Tensor], dict]:
    """Train a PFN; return its state dict (on the CPU) and its provenance.

    ``size`` gives the defaults of the model settings, steps, batch size and learning rate;
    ``settings``, ``steps``, ``batch_size`` and ``lr`` override them. ``progress(step,
    loss)`` is called every 100 steps. ``num_threads``: torch's CPU threads while training.
    """
    defaults = SIZES[size] if size in SIZES else SIZES[DEFAULT_SIZE]
    settings = settings or size_settings(size)
    prior = prior or PriorSettings()
    steps = int(defaults["steps"] if steps is None else steps)
    batch_size = int(defaults["batch_size"] if batch_size is None else batch_size)
    lr = float(defaults["lr"] if lr is None else lr)
    if steps < 1 or batch_size < 1:
        raise ValueError("steps and batch_size must be at least 1")
    previous_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        return _train(steps, seed, device, settings, prior, batch_size, lr, progress)
    finally:
        torch.set_num_threads(previous_threads)


def _train(steps: int, seed: int, device: str, settings: PfnSettings, prior: PriorSettings,
           batch_size: int, lr: float, progress: Callable[[int, float], None] | None
           ) -> tuple[dict[str, torch.Tensor], dict]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = CurvePFN(settings).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    warmup = max(1, int(WARMUP_SHARE * steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    losses = []
    start = time.perf_counter()
    model.train()
    for step in range(steps):
        horizon = sample_horizon(rng, prior)
        n_obs = int(rng.integers(MIN_OBSERVED, horizon))
        batch = sample_batch(rng, batch_size, horizon, prior, settings.margin)
        x = torch.from_numpy(batch.x).to(device)
        y = torch.from_numpy(batch.y).to(device)
        logits = model(x[:, :n_obs], y[:, :n_obs], x[:, n_obs:])
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, settings.buckets),
            bucket_of(y[:, n_obs:], settings.buckets).reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if progress is not None and (step + 1) % 100 == 0:
            progress(step + 1, float(np.mean(losses[-100:])))
    seconds = time.perf_counter() - start
    state = {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()}
    final = float(np.mean(losses[-max(1, steps // 20):]))
    provenance = {
        "format": CHECKPOINT_FORMAT,
        "source": "trained by reusebench (reusebench.training.pfn.train.train_pfn)",
        "model": settings.to_dict(),
        "prior": prior.to_dict(),
        "steps": steps, "seed": seed, "batch_size": batch_size, "lr": lr,
        "device": str(device), "seconds": round(seconds, 1),
        "parameters": int(sum(tensor.numel() for tensor in state.values())),
        "final_loss": final,  # cross entropy over the buckets, mean of the last 5 % of steps
        "final_log_score": math.log(settings.buckets) - final,  # mean log density of y
        "torch": str(torch.__version__), "python": platform.python_version(),
        "sha256": weights_sha256(state),
    }
    return state, provenance
