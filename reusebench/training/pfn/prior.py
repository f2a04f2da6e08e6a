"""The prior the PFN is trained on: loss curves of the seven families, noisy, mapped.

Each curve is drawn in loss units on epochs 1 … T and then mapped exactly as a real run is
(:func:`reusebench.core.forecast.pfn_mapping.loss_to_pfn`), so the network learns the very
form it is later given. A curve is

    loss(x) = r + (1 − r) · g(x) / g(1)  [+ rise]  + noise,    x = 1 … T,

where g is the decreasing part of one of the seven families of
:mod:`reusebench.core.forecast.families` (picked uniformly; evaluated through the family's
own formula with asymptote 0 and scale 1) with random nonlinear parameters, so that
loss(1) = 1 before noise (the scale does not matter: the mapping divides by the first loss).
r, the asymptote as a share of the first loss, is 1 − gap with gap log-uniform (curves that
barely move are common). With probability ``overfit_prob`` a rise ``amp·((x − x0)/T)^p``
after an epoch x0 mimics a test loss that turns up again (the families alone are monotone,
and M_er and ep* only differ from the final loss when curves turn). Gaussian noise has a
per-curve σ, log-uniform, in units of the first loss. The horizon T is uniform per batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from reusebench.core.forecast.families import FAMILIES
from reusebench.core.forecast.pfn_mapping import DEFAULT_MARGIN, loss_to_pfn


@dataclass(frozen=True)
class PriorSettings:
    """Ranges of the prior; recorded in the weights' provenance."""

    min_horizon: int = 10
    max_horizon: int = 100
    gap: tuple[float, float] = (0.03, 1.0)  # 1 − asymptote / first loss, log-uniform
    noise: tuple[float, float] = (0.002, 0.05)  # σ / first loss, log-uniform
    overfit_prob: float = 0.3
    overfit_start: tuple[float, float] = (0.1, 0.9)  # x0 / T, uniform
    overfit_amp: tuple[float, float] = (0.01, 0.5)  # rise at T / gap, log-uniform
    overfit_power: tuple[float, float] = (1.0, 2.0)
    families: tuple[str, ...] = tuple(FAMILIES)

    def to_dict(self) -> dict:
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in asdict(self).items()}


@dataclass(frozen=True)
class PriorBatch:
    """Mapped curves (batch × T, float32), the loss curves they came from and the families."""

    x: np.ndarray
    y: np.ndarray
    loss: np.ndarray
    family: np.ndarray


def _log_uniform(rng: np.random.Generator, bounds, size) -> np.ndarray:
    low, high = np.log(bounds[0]), np.log(bounds[1])
    return np.exp(rng.uniform(low, high, size))


def _shape_theta(name: str, rng: np.random.Generator, size: int, horizon: int) -> np.ndarray:
    """Family parameters with asymptote 0 and scale 1: the decreasing part g only."""
    zeros, ones = np.zeros(size), np.ones(size)
    late = np.log(horizon) + 0.5
    if name == "pow3":
        columns = [zeros, ones, _log_uniform(rng, (0.05, 3.0), size)]
    elif name == "pow4":
        columns = [zeros, ones, _log_uniform(rng, (0.1, horizon), size),
                   _log_uniform(rng, (0.1, 4.0), size)]
    elif name == "log_power":
        columns = [ones, rng.uniform(-3.0, late, size), _log_uniform(rng, (0.3, 5.0), size)]
    elif name == "mmf":
        columns = [zeros, ones, rng.uniform(-3.0, late, size),
                   _log_uniform(rng, (0.3, 5.0), size)]
    elif name == "weibull":  # m ≥ 0 keeps g(1) ≥ e^-1
        columns = [zeros, ones, rng.uniform(0.0, late, size), _log_uniform(rng, (0.2, 3.0), size)]
    elif name == "ilog2":
        columns = [zeros, ones]
    elif name == "vap":
        columns = [zeros, rng.uniform(0.0, 3.0, size), rng.uniform(-1.5, 0.0, size)]
    else:
        raise ValueError(f"unknown family {name!r}; choose from {tuple(FAMILIES)}")
    return np.stack(columns, axis=1)


def sample_losses(rng: np.random.Generator, batch_size: int, horizon: int,
                  settings: PriorSettings = PriorSettings()) -> tuple[np.ndarray, np.ndarray]:
    """Noisy loss curves (batch × horizon, first loss ≈ 1) and the index of each family."""
    x = np.arange(1.0, horizon + 1.0)
    names = settings.families
    family = rng.integers(0, len(names), batch_size)
    shape = np.empty((batch_size, horizon))
    for index, name in enumerate(names):
        rows = np.flatnonzero(family == index)
        if rows.size:
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                g = FAMILIES[name].values(x, _shape_theta(name, rng, rows.size, horizon))
                shape[rows] = g / g[:, :1]
    broken = ~np.isfinite(shape).all(axis=1)
    if broken.any():  # numerically degenerate draws fall back to a power law
        alpha = _log_uniform(rng, (0.05, 3.0), int(broken.sum()))
        shape[broken] = x[None, :] ** -alpha[:, None]
    gap = _log_uniform(rng, settings.gap, batch_size)[:, None]
    loss = (1.0 - gap) + gap * shape
    overfit = rng.random(batch_size) < settings.overfit_prob
    start = rng.uniform(*settings.overfit_start, batch_size)[:, None]
    amp = _log_uniform(rng, settings.overfit_amp, batch_size)[:, None] * gap
    power = rng.uniform(*settings.overfit_power, batch_size)[:, None]
    excess = np.clip(x[None, :] / horizon - start, 0.0, None) / np.maximum(1.0 - start, 1e-9)
    loss += np.where(overfit[:, None], amp * excess**power, 0.0)
    sigma = _log_uniform(rng, settings.noise, batch_size)[:, None]
    loss += sigma * rng.standard_normal((batch_size, horizon))
    return loss, family


def sample_batch(rng: np.random.Generator, batch_size: int, horizon: int,
                 settings: PriorSettings = PriorSettings(),
                 margin: float = DEFAULT_MARGIN) -> PriorBatch:
    """A batch of prior curves in the PFN's form (x = epoch / T, y in [0, 1])."""
    loss, family = sample_losses(rng, batch_size, horizon, settings)
    mapped = loss_to_pfn(loss, horizon, margin)
    return PriorBatch(mapped.x.astype("float32"), mapped.y.astype("float32"), loss, family)


def sample_horizon(rng: np.random.Generator, settings: PriorSettings = PriorSettings()) -> int:
    return int(rng.integers(settings.min_horizon, settings.max_horizon + 1))
