"""Loss curves in the form an LC-PFN accepts, and back.

LC-PFN (Adriaensen et al., NeurIPS 2023) models *increasing* curves in [0, 1] (accuracies)
on an abscissa it normalises itself. A loss curve decreases from its first value L1 towards
an unknown asymptote ≥ 0, in units that differ between runs. The mapping is

    y = 1 − loss / (m · L1)        x = epoch / horizon

with L1 the run's first finite observed loss and the margin ``m`` (> 1, default 1.5):

- dividing by L1 makes runs of different loss scales comparable (the PFN sees the *shape*);
- the first epoch lands at y = 1 − 1/m (1/3 for m = 1.5), a loss of 0 at y = 1, so a
  falling loss is a rising y and every non-negative loss up to m·L1 lies in [0, 1];
- the margin leaves room above L1 for losses that rise again (spikes, overfitting) and for
  the noise of L1 itself;
- x = epoch / horizon puts every run's last epoch at 1, so the PFN reads "how far through
  training" rather than absolute epochs (the prior draws horizons of many lengths).

The inverse is ``loss = m·L1·(1 − y)``, exact wherever nothing was clipped.

Limits. A loss above m·L1 maps below 0 and is clipped to y = 0 (status ``clipped``); a
negative loss (e.g. a Gaussian negative log-likelihood) maps above 1 and is clipped to 1
(status ``negative``): the inverse returns m·L1 or 0 there, not the loss. A run whose L1 is
not a positive finite number has no scale (status ``no_scale``, y all NaN). Forecasts
mapped back can never exceed m·L1 nor fall below 0. Runs whose loss barely moves (final ≈
0.85·L1, common for segmentation losses) use a narrow band of y, so the resolution of the
PFN's buckets (m·L1 / K in loss units for K buckets) matters there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_MARGIN = 1.5
STATUSES = ("ok", "clipped", "negative", "no_scale")


@dataclass(frozen=True)
class PfnCurves:
    """Mapped curves (runs × epochs), each run's scale m·L1 and mapping status."""

    x: np.ndarray
    y: np.ndarray
    scale: np.ndarray
    status: np.ndarray


def first_loss(loss: np.ndarray) -> np.ndarray:
    """Each run's first finite value (NaN where none)."""
    loss = np.atleast_2d(np.asarray(loss, dtype="float64"))
    finite = np.isfinite(loss)
    first = finite.argmax(axis=1)
    value = loss[np.arange(len(loss)), first]
    return np.where(finite.any(axis=1), value, np.nan)


def epochs_to_x(epochs: np.ndarray, horizon: np.ndarray | float) -> np.ndarray:
    """x = epoch / horizon (horizon per run, broadcast over the epochs)."""
    horizon = np.asarray(horizon, dtype="float64")
    return np.asarray(epochs, dtype="float64") / (horizon[..., None] if horizon.ndim else horizon)


def x_to_epochs(x: np.ndarray, horizon: np.ndarray | float) -> np.ndarray:
    """The inverse of :func:`epochs_to_x`."""
    horizon = np.asarray(horizon, dtype="float64")
    return np.asarray(x, dtype="float64") * (horizon[..., None] if horizon.ndim else horizon)


def loss_to_pfn(loss: np.ndarray, horizon: np.ndarray | float,
                margin: float = DEFAULT_MARGIN, scale: np.ndarray | None = None) -> PfnCurves:
    """Map loss curves (runs × epochs from epoch 1, NaN = missing) to the PFN's form.

    ``scale`` (m·L1 per run) defaults to ``margin`` times each run's first finite loss.
    NaN losses stay NaN in y.
    """
    if not margin > 1:
        raise ValueError(f"the margin must exceed 1, not {margin}")
    loss = np.atleast_2d(np.asarray(loss, dtype="float64"))
    if scale is None:
        scale = margin * first_loss(loss)
    scale = np.asarray(scale, dtype="float64")
    usable = np.isfinite(scale) & (scale > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = 1.0 - loss / np.where(usable, scale, np.nan)[:, None]
    above = (raw < 0).any(axis=1)
    negative = (raw > 1).any(axis=1)
    status = np.where(~usable, "no_scale", np.where(above, "clipped",
                                                    np.where(negative, "negative", "ok")))
    epochs = np.arange(1.0, loss.shape[1] + 1.0)
    horizon = np.broadcast_to(np.asarray(horizon, dtype="float64"), (len(loss),))
    return PfnCurves(epochs_to_x(epochs, horizon), np.clip(raw, 0.0, 1.0), scale,
                     status.astype(object))


def pfn_to_loss(y: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Losses of PFN values y (runs × …) for runs of scale m·L1: m·L1 · (1 − y)."""
    y = np.asarray(y, dtype="float64")
    scale = np.asarray(scale, dtype="float64").reshape((-1,) + (1,) * (y.ndim - 1))
    return scale * (1.0 - y)
