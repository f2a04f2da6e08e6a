"""PFN weights on disk, and forecast draws from them in the structure of
:mod:`reusebench.core.forecast.predict`.

Checkpoint format (``CHECKPOINT_FORMAT``): a ``torch.save``d dict ``{"format", "state",
"settings", "provenance"}`` of plain values and tensors, read with ``weights_only=True``
(no code runs on load). The provenance holds the SHA-256 of the weights, checked on load.

The published LC-PFN weights (``lcpfn`` 0.1.3 on PyPI downloads them on first use) are a
whole pickled ``lcpfn`` model (``torch.save(model)``: classes of the ``lcpfn`` package, a
different architecture, x normalised as epoch/101), not a state dict. They cannot be read
without that package, and reading any pickle by running its code is what
``weights_only=True`` exists to avoid, so :func:`load_weights` refuses them with one sentence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from reusebench.core.errors import InputError
from reusebench.core.forecast.pfn_mapping import loss_to_pfn, pfn_to_loss
from reusebench.core.forecast.predict import OUTCOMES, Draws, _simulate
from reusebench.core.io import atomic_write_all, check_output
from reusebench.training.pfn import CHECKPOINT_FORMAT
from reusebench.training.pfn.model import CurvePFN, PfnSettings, quantiles, weights_sha256

REFUSAL = ("{path} is not a reusebench PFN checkpoint: only the files `reusebench "
           "forecast-pfn-train` writes (a torch-saved dict of state, settings and provenance) "
           "are accepted, not the published LC-PFN weights, which are a pickled lcpfn model "
           "that cannot be read without the lcpfn package.")


@dataclass(frozen=True)
class PfnWeights:
    """A loaded PFN (in eval mode), its settings, its provenance and where it came from."""

    model: CurvePFN
    settings: PfnSettings
    provenance: dict
    path: str

    @property
    def sha256(self) -> str:
        return str(self.provenance["sha256"])


def save_weights(path: str | Path, state: dict[str, torch.Tensor], provenance: dict,
                 provenance_path: str | Path | None = None) -> None:
    """Write a checkpoint atomically (InputError if ``path`` cannot be written); with
    ``provenance_path``, its provenance as JSON too (both files or neither)."""
    check_output(path)
    checkpoint = {"format": CHECKPOINT_FORMAT, "state": state,
                  "settings": dict(provenance["model"]), "provenance": provenance}
    writes = {Path(path): lambda tmp: torch.save(checkpoint, tmp)}
    if provenance_path is not None:
        text = json.dumps(provenance, indent=2, sort_keys=True) + "\n"
        writes[Path(provenance_path)] = lambda tmp: tmp.write_text(text)
    atomic_write_all(writes)


def load_weights(path: str | Path, device: str = "cpu") -> PfnWeights:
    """Read a checkpoint of :func:`save_weights`; InputError (one sentence) otherwise."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such weights file.")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle errors, torch's refusal of unknown classes, bad zip
        raise InputError(REFUSAL.format(path=path)) from error
    if (not isinstance(raw, dict) or raw.get("format") != CHECKPOINT_FORMAT
            or not {"state", "settings", "provenance"} <= raw.keys()):
        raise InputError(REFUSAL.format(path=path))
    try:
        settings = PfnSettings.from_dict(raw["settings"])
        model = CurvePFN(settings)
        model.load_state_dict(raw["state"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"{path}: its weights do not fit its model settings ({first}).") \
            from error
    if weights_sha256(raw["state"]) != raw["provenance"].get("sha256"):
        raise InputError(f"{path}: its weights do not match the SHA-256 in its provenance "
                         "(the file was altered or is damaged).")
    model.eval()
    return PfnWeights(model.to(device), settings, raw["provenance"], str(path))


def pfn_draws(prefix: np.ndarray, horizon: np.ndarray, n_draws: int, weights: PfnWeights,
              seed: int | np.random.Generator = 0) -> Draws:
    """Draws for runs whose first N losses are ``prefix`` (runs × N, NaN = missing) and that
    end at epoch ``horizon`` (per run), like :func:`reusebench.core.forecast.predict.
    predict_draws`.

    Each run's prefix is mapped to the PFN's form (:mod:`reusebench.core.forecast.
    pfn_mapping`, scale m·L1); the PFN gives, at every future epoch, a predictive
    distribution of y that is conditioned on the prefix alone (queries never see each
    other), i.e. marginals, not a joint law of the future curve. M_er and ep* need whole
    curves, so each draw s takes one probability level u_s and reads every future epoch's
    u_s-quantile (comonotone draws; the u_s are stratified, (s + U)/S). Why comonotone: a
    learning curve's uncertainty is mostly about its level and shape, which persist across
    epochs, and a draw then is a smooth curve like the parametric predictors' draws; the
    final loss's draws are exactly the marginal's quantiles. Independent levels per epoch
    would make every draw jagged, its minimum biased low and ep* nearly random. The price:
    a draw has no epoch-to-epoch noise, so M_er (the minimum of a noisy run) tends to be
    forecast a little high and ep* late on flat curves. Draws are mapped back with
    m·L1·(1 − y), so they lie in [0, m·L1].

    Statuses as the core predictors (``no_epochs_after_n``, ``diverged_in_prefix``) plus
    ``no_scale`` (no positive first loss); runs whose observed losses exceed m·L1 (clipped
    by the mapping) are forecast, with a note in ``detail``, which also names the weights.
    """
    prefix = np.atleast_2d(np.asarray(prefix, dtype="float64"))
    n_runs, n_obs = prefix.shape
    horizon = np.broadcast_to(np.asarray(horizon), (n_runs,)).astype("int64")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    mapped = loss_to_pfn(prefix, horizon, weights.settings.margin)
    status = np.where(horizon <= n_obs, "no_epochs_after_n",
                      np.where(~np.isfinite(prefix[:, -1]), "diverged_in_prefix",
                               np.where(mapped.status == "no_scale", "no_scale", "ok")))
    draws = Draws.empty(n_runs, n_draws, status)
    draws.detail[:] = _notes(prefix, mapped.scale, weights)
    rows = np.flatnonzero(status == "ok")
    if not rows.size:
        return draws
    steps = horizon[rows] - n_obs
    future = n_obs + 1.0 + np.arange(steps.max())
    parameter = next(weights.model.parameters())

    def tensor(values: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(values, dtype=parameter.dtype, device=parameter.device)

    def make_block(block: np.ndarray) -> np.ndarray:
        runs = rows[block]
        x_query = np.minimum(future[None, :] / horizon[runs, None], 1.0)
        levels = (np.arange(n_draws)[None, :] + rng.random((len(runs), n_draws))) / n_draws
        with torch.inference_mode():
            logits = weights.model(tensor(mapped.x[runs]), tensor(mapped.y[runs]),
                                   tensor(x_query))
            u = tensor(levels)[:, None, :].expand(-1, len(future), -1)
            y = quantiles(logits, u).double().cpu().numpy()  # runs × F × S
        return pfn_to_loss(y.transpose(0, 2, 1), mapped.scale[runs])

    outcomes = _simulate(prefix[rows], steps, n_draws, make_block)
    for name, values in zip(OUTCOMES, outcomes, strict=True):
        getattr(draws, name)[rows] = values
    return draws


def _notes(prefix: np.ndarray, scale: np.ndarray, weights: PfnWeights) -> list[str]:
    """Per run: the weights used, the scale m·L1 and how many observed epochs it clipped."""
    with np.errstate(invalid="ignore"):
        above = (prefix > scale[:, None]).sum(axis=1)
        below = (prefix < 0).sum(axis=1)
    notes = []
    for value, high, low in zip(scale, above, below, strict=True):
        note = f"pfn {weights.sha256[:12]} m·L1={value:.4g}"
        if high:
            note += f"; {high} observed epochs above m·L1 clipped"
        if low:
            note += f"; {low} negative observed losses clipped to 0"
        notes.append(note)
    return notes
