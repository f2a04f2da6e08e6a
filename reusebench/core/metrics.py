"""Study A metrics (Eq. 1-9) per run, vectorised over runs.

Arrays are (runs × positions), padded with NaN beyond each run's last epoch;
``valid`` marks the real entries. A non-finite loss marks the run diverged:
minima skip such epochs, while sums over epochs (M_stab, D_re, Delta(fit)) and
the correlation D_unif are NaN when a non-finite loss falls inside what they sum,
because skipping epochs would reward divergence.

Every metric that can be NaN for a reason found in the curve has a status column saying
why: ``m_stab_status``, ``d_re_status`` and ``d_unif_status`` read ``ok`` or the reason
(e.g. "non-finite test loss at epoch 12", "fewer than two epochs", "a loss curve is
constant"); ``fit_{model}_{N}_status`` reads ``ok``/``max_iter`` only when its Δ(fit) has a
value, else why not (``too_short``, ``failed``, ``nonfinite_input``, or "non-finite test
loss at epoch N" when the fit succeeded but a later epoch is not finite).

Two flags mark runs whose metrics do not describe a trained model: ``diverged`` (a
non-finite loss, or a test loss above ``diverge_factor`` × its first finite value or ×
the constant-prediction loss) and ``not_learning`` (M_er not below ``1 − learn_margin``
× a reference loss: the curve table's ``reference_loss``, else the first finite test
loss). ``flag_reason`` says why in one sentence.

Partial curves (``reusebench ingest`` of trackers): a run whose ``loss_kind`` reads
"1 - accuracy" holds 1 − accuracy as its losses, so the error-based metrics (Δ(fit), D_unif,
the flags) are computed on it, while every loss-based metric the registry marks undefined on
accuracy curves (``on_accuracy_curves=False``: M_er, ep*, M_stab, T(M_er), D_re) is NaN with
status "accuracy-only curve: no loss" where it has a status column. A run whose train loss
is NaN at every epoch did not log it: it is not flagged diverged for that, and the metrics
that need the train curve (``needs``: D_re, D_unif; the authors' M_stab) are NaN with status
"train loss not logged".

Every column is registered in :mod:`reusebench.core.metricdefs`. ``definitions="authors"``
computes the Study A authors' variants instead of the paper's equations (losses clipped to
[0, 36], a 2δ-epoch stability window of |H_test − min H_train|, T(M_er) as the cumulative
seconds at ep*); the flags always read the unclipped losses.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from reusebench.core import fit
from reusebench.core.curves import CurveMatrix, curve_matrix, run_keys
from reusebench.core.metricdefs import (
    AUTHORS,
    AUTHORS_CLIP,
    DEFAULT_DELTA,
    DEFAULT_FIT_POINTS,
    METRICS_TABLE,
    PAPER,
    check_definitions,
    check_delta,
    check_fit_points,
    metric_defs,
)

DEFAULT_DIVERGE_FACTOR = 10.0
DEFAULT_LEARN_MARGIN = 0.15
REFERENCE_COLUMN = "reference_loss"
FLAG_COLUMNS = ("diverged", "not_learning")
MATRIX_COLUMNS = ("train_loss", "test_loss", "epoch_seconds", "gpu_mem_max_mb",
                  "gpu_util_mean_pct")
LOSS_KIND_COLUMN = "loss_kind"  # as reusebench.data.ingest writes it
FROM_ACCURACY = "1 - accuracy"
NO_LOSS = "accuracy-only curve: no loss"
TRAIN_NOT_LOGGED = "train loss not logged"


def masked_sum(values: np.ndarray, include: np.ndarray) -> np.ndarray:
    """Row sums over ``include``; NaN for a row where an included value is not finite."""
    total = np.where(include, values, 0.0).sum(axis=1)
    broken = (include & ~np.isfinite(values)).any(axis=1)
    return np.where(broken, np.nan, total)


def masked_reduce(values: np.ndarray, include: np.ndarray, how: str) -> np.ndarray:
    """Row max or mean over included finite values; NaN for a row with none."""
    usable = include & np.isfinite(values)
    count = usable.sum(axis=1)
    if how == "max":
        reduced = np.where(usable, values, -np.inf).max(axis=1)
    elif how == "mean":
        reduced = np.where(usable, values, 0.0).sum(axis=1) / np.maximum(count, 1)
    else:
        raise ValueError(f"unknown reduction {how!r}")
    return np.where(count > 0, reduced, np.nan)


def model_error(test_loss: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """M_er (Eq. 1) and the position of its first occurrence (-1 where no finite loss)."""
    usable = valid & np.isfinite(test_loss)
    candidates = np.where(usable, test_loss, np.inf)
    position = candidates.argmin(axis=1)  # argmin returns the first of tied minima
    has_value = usable.any(axis=1)
    m_er = np.where(has_value, candidates[np.arange(len(candidates)), position], np.nan)
    return m_er, np.where(has_value, position, -1)


def epoch_at(epoch: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Epoch number at a per-run position (NaN where position is -1)."""
    picked = epoch[np.arange(len(epoch)), np.maximum(position, 0)]
    return np.where(position >= 0, picked, np.nan)


def stability(test_loss: np.ndarray, epoch: np.ndarray, valid: np.ndarray, m_er: np.ndarray,
              ep_star: np.ndarray, delta: int = DEFAULT_DELTA) -> tuple[np.ndarray, np.ndarray]:
    """M_stab (Eq. 2): sum of H_test - M_er over epochs in [ep*-δ, ep*+δ] ∩ [1, EP].

    Returns the sum and the window length actually used (clipped at the curve's ends).
    """
    in_window = paper_window(epoch, valid, ep_star, delta)
    window_length = in_window.sum(axis=1)
    m_stab = masked_sum(test_loss - m_er[:, None], in_window)
    no_minimum = ~np.isfinite(m_er)
    return np.where(no_minimum, np.nan, m_stab), np.where(no_minimum, 0, window_length)


def paper_window(epoch: np.ndarray, valid: np.ndarray, ep_star: np.ndarray,
                 delta: int = DEFAULT_DELTA) -> np.ndarray:
    """The epochs of Eq. 2's window: [ep*-δ, ep*+δ] ∩ [1, EP]."""
    return valid & (np.abs(epoch - ep_star[:, None]) <= delta)


def authors_window(valid: np.ndarray, star: np.ndarray, delta: int = DEFAULT_DELTA) -> np.ndarray:
    """The authors' window: 2δ positions from ep*-δ, shifted to stay inside the run (all of a
    run shorter than 2δ); ``star`` is the position of ep* (-1 where there is none)."""
    n_valid = valid.sum(axis=1)
    length = np.minimum(2 * delta, n_valid)
    start = np.clip(star - delta, 0, n_valid - length)
    position = np.arange(valid.shape[1])[None, :]
    inside = (position >= start[:, None]) & (position < (start + length)[:, None])
    return valid & inside & (star >= 0)[:, None]


def authors_stability(train_loss: np.ndarray, test_loss: np.ndarray, valid: np.ndarray,
                      window: np.ndarray) -> np.ndarray:
    """The authors' M_stab: Σ over their window of |H_test - min H_train|."""
    min_train, _ = model_error(train_loss, valid)
    return masked_sum(np.abs(test_loss - min_train[:, None]), window)


def speed(ep_star: np.ndarray, n_epochs: np.ndarray, epoch_seconds: np.ndarray,
          valid: np.ndarray) -> np.ndarray:
    """T(M_er) (Eq. 3): ep* × (1/EP) × total training seconds."""
    total_seconds = masked_sum(epoch_seconds, valid)
    return ep_star / n_epochs * total_seconds


def cumulative_speed(star: np.ndarray, epoch_seconds: np.ndarray,
                     valid: np.ndarray) -> np.ndarray:
    """The authors' T(M_er): the training seconds of every epoch up to ep* (position star)."""
    up_to_star = valid & (np.arange(valid.shape[1])[None, :] <= star[:, None])
    return np.where(star >= 0, masked_sum(epoch_seconds, up_to_star), np.nan)


def clip_losses(values: np.ndarray) -> np.ndarray:
    """Losses clipped to the authors' [0, 36] (NaN stays NaN, ±inf become the bounds)."""
    return np.clip(values, *AUTHORS_CLIP)


def representation(train_loss: np.ndarray, test_loss: np.ndarray,
                   valid: np.ndarray) -> np.ndarray:
    """D_re (Eq. 7): sum over epochs of H_train + H_test."""
    return masked_sum(train_loss + test_loss, valid)


def uniformity(train_loss: np.ndarray, test_loss: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """D_unif (Eq. 8): Pearson correlation of H_train and H_test over a run's epochs.

    NaN when either curve is constant, has fewer than two epochs, or is not finite.
    """
    count = valid.sum(axis=1)
    broken = (valid & ~(np.isfinite(train_loss) & np.isfinite(test_loss))).any(axis=1)
    safe_count = np.maximum(count, 1)
    train_dev = np.where(valid, train_loss - masked_sum(train_loss, valid)[:, None]
                         / safe_count[:, None], 0.0)
    test_dev = np.where(valid, test_loss - masked_sum(test_loss, valid)[:, None]
                        / safe_count[:, None], 0.0)
    covariance = (train_dev * test_dev).sum(axis=1)
    spread = np.sqrt((train_dev**2).sum(axis=1) * (test_dev**2).sum(axis=1))
    scale = np.maximum(np.abs(np.where(valid, train_loss, 0)).max(axis=1),
                       np.abs(np.where(valid, test_loss, 0)).max(axis=1))
    constant = spread <= 1e-12 * np.maximum(scale, 1e-300) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.clip(covariance / spread, -1.0, 1.0)
    return np.where(broken | (count < 2) | constant, np.nan, rho)


def predictability(epoch: np.ndarray, test_loss: np.ndarray, valid: np.ndarray,
                   fit_points: Sequence[int] = DEFAULT_FIT_POINTS) -> pd.DataFrame:
    """Δ(fit; m, N) (Eq. 5) for m ∈ {pw, exp} and each N, with fitted (a, b) and status.

    Each model is fitted to the first N test-loss points; Δ sums abs(H_test - Ĥ) over
    all the run's epochs. Runs with fewer than N epochs get NaN and ``too_short``.
    The six fits are independent, so they run in threads (NumPy releases the GIL).
    """
    all_finite = ~(valid & ~np.isfinite(test_loss)).any(axis=1)
    why_masked = nonfinite_reason(epoch, valid, test=test_loss)
    jobs = [(model, n_points) for n_points in fit_points for model in fit.MODELS]
    with ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
        results = pool.map(lambda job: _one_fit(*job, epoch, test_loss, valid), jobs)
        columns = {}
        for (model, n_points), (delta, result) in zip(jobs, results, strict=True):
            name = f"{model}_{n_points}"
            columns[f"delta_fit_{name}"] = np.where(all_finite, delta, np.nan)
            columns[f"fit_{name}_a"], columns[f"fit_{name}_b"] = result.a, result.b
            columns[f"fit_{name}_status"] = np.where(
                all_finite | ~np.isin(result.status, ("ok", "max_iter")), result.status,
                why_masked).astype(object)
    table = pd.DataFrame(columns)
    deltas = table[[f"delta_fit_{model}_{n}" for model, n in jobs]]
    has_delta = deltas.notna().any(axis=1)
    table["delta_fit_min"] = deltas.min(axis=1, skipna=True)
    best = deltas.fillna(np.inf).to_numpy().argmin(axis=1)
    names = np.array([f"{model}_{n}" for model, n in jobs])
    table["delta_fit_best"] = np.where(has_delta, names[best], None)
    return table


def _one_fit(model: str, n_points: int, epoch: np.ndarray, test_loss: np.ndarray,
             valid: np.ndarray) -> tuple[np.ndarray, fit.FitResult]:
    """Δ(fit) and the fit of one (model, N) for every run long enough to have N epochs.

    Δ of runs with a non-finite loss is masked to NaN by the caller, so here the sum
    only has to skip padding.
    """
    n_runs = len(valid)
    long_enough = (valid[:, :n_points].sum(axis=1) == n_points if valid.shape[1] >= n_points
                   else np.zeros(n_runs, dtype=bool))
    rows = slice(None) if long_enough.all() else np.flatnonzero(long_enough)
    a, b = np.full(n_runs, np.nan), np.full(n_runs, np.nan)
    status = np.full(n_runs, "too_short", dtype=object)
    delta = np.full(n_runs, np.nan)
    if long_enough.any():
        result = fit.fit_curves(model, epoch[rows, :n_points], test_loss[rows, :n_points])
        a[rows], b[rows], status[rows] = result.a, result.b, result.status
        predicted = fit.predict(model, result.a, result.b, epoch[rows])
        predicted -= test_loss[rows]
        np.abs(predicted, out=predicted)
        predicted[~valid[rows]] = 0.0
        delta[rows] = predicted.sum(axis=1)
    return delta, fit.FitResult(a, b, status)


def nonfinite_reason(epoch: np.ndarray, include: np.ndarray,
                     train: np.ndarray | None = None,
                     test: np.ndarray | None = None) -> np.ndarray:
    """Per run, "non-finite {train|test} loss at epoch N" for the first included epoch
    with a non-finite loss among those given ("" where there is none)."""
    losses = [(name, values) for name, values in (("train", train), ("test", test))
              if values is not None]
    broken = np.zeros(include.shape, dtype=bool)
    for _, values in losses:
        broken |= include & ~np.isfinite(values)
    position = first_position(broken)
    reasons = np.full(len(include), "", dtype=object)
    for run in np.flatnonzero(position >= 0):
        at = position[run]
        which = next(name for name, values in losses if not np.isfinite(values[run, at]))
        reasons[run] = f"non-finite {which} loss at epoch {int(epoch[run, at])}"
    return reasons


def status_columns(epoch: np.ndarray, valid: np.ndarray, train_loss: np.ndarray,
                   test_loss: np.ndarray, m_er: np.ndarray, ep_star: np.ndarray,
                   d_unif: np.ndarray, delta: int = DEFAULT_DELTA,
                   window: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """``m_stab_status``, ``d_re_status``, ``d_unif_status``: ``ok`` or why the metric is NaN.

    The reasons follow the NaN rules of :func:`stability`, :func:`representation` and
    :func:`uniformity`, first reason first. ``window`` is the stability window summed
    (default: Eq. 2's, of half-width ``delta``).
    """
    in_window = paper_window(epoch, valid, ep_star, delta) if window is None else window
    both = nonfinite_reason(epoch, valid, train=train_loss, test=test_loss)
    m_stab = np.where(~np.isfinite(m_er), "no finite test loss",
                      nonfinite_reason(epoch, in_window, test=test_loss))
    count = valid.sum(axis=1)
    why_unif = np.where(both != "", both, np.where(count < 2, "fewer than two epochs", ""))
    why_unif = np.where((why_unif == "") & np.isnan(d_unif), "a loss curve is constant",
                        why_unif)
    return {name: np.where(reason == "", "ok", reason).astype(object)
            for name, reason in (("m_stab_status", m_stab), ("d_re_status", both),
                                 ("d_unif_status", why_unif))}


def first_position(mask: np.ndarray) -> np.ndarray:
    """Per row, the first position where ``mask`` holds; -1 where it never does."""
    return np.where(mask.any(axis=1), mask.argmax(axis=1), -1)


def first_finite(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the first finite valid value and its position (NaN and -1 where none)."""
    position = first_position(valid & np.isfinite(values))
    picked = values[np.arange(len(values)), np.maximum(position, 0)]
    return np.where(position >= 0, picked, np.nan), position


def reference_losses(test_loss: np.ndarray, valid: np.ndarray,
                     given: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The loss a run must beat to count as learning, and which kind it is.

    ``constant_prediction`` where the curve table's ``reference_loss`` holds a finite value
    (the first one of the run), else ``first_epoch`` (the first finite test loss), else
    ``none`` (a run without a finite test loss).
    """
    first, _ = first_finite(test_loss, valid)
    stated = first_finite(given, valid)[0] if given is not None else np.full(len(valid), np.nan)
    use_stated = np.isfinite(stated)
    kind = np.where(use_stated, "constant_prediction",
                    np.where(np.isfinite(first), "first_epoch", "none"))
    return np.where(use_stated, stated, first), kind.astype(object)


def _loss(value: float) -> str:
    return f"{value:.4g}"


def divergence(train_loss: np.ndarray, test_loss: np.ndarray, epoch: np.ndarray,
               valid: np.ndarray, reference: np.ndarray, reference_kind: np.ndarray,
               factor: float = DEFAULT_DIVERGE_FACTOR,
               train_logged: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``diverged`` per run and why ("" where not), from the earliest of three events.

    A non-finite train or test loss; a test loss above ``factor`` × the run's first finite
    test loss; a test loss above ``factor`` × its constant-prediction loss (where known).
    Bounds from a reference that is not positive are not applied. The train loss of a run
    where ``train_logged`` is False (default: every run logged it) is not checked.
    """
    finite_test = valid & np.isfinite(test_loss)
    finite_train = np.isfinite(train_loss)
    if train_logged is not None:
        finite_train |= ~np.asarray(train_logged, dtype=bool)[:, None]
    nonfinite = first_position(valid & ~(finite_train & finite_test))
    first, first_pos = first_finite(test_loss, valid)
    with np.errstate(invalid="ignore"):
        over_first = first_position(finite_test & (first > 0)[:, None]
                                    & (test_loss > factor * first[:, None]))
        stated = np.where(reference_kind == "constant_prediction", reference, np.nan)
        over_stated = first_position(finite_test & (stated > 0)[:, None]
                                     & (test_loss > factor * stated[:, None]))
    events = np.stack([nonfinite, over_first, over_stated]).astype("float64")
    events[events < 0] = np.inf
    diverged = np.isfinite(events).any(axis=0)
    reasons = np.full(len(valid), "", dtype=object)
    for run in np.flatnonzero(diverged):
        position = int(events[:, run].min())
        at = int(epoch[run, position])
        loss = test_loss[run, position]
        if position == nonfinite[run]:
            which = "train" if np.isfinite(loss) else "test"
            reasons[run] = f"non-finite {which} loss at epoch {at}"
        elif position == over_first[run]:
            reasons[run] = (f"test loss {_loss(loss)} at epoch {at} exceeds {factor:g} × its "
                            f"epoch-{int(epoch[run, first_pos[run]])} value "
                            f"{_loss(first[run])}")
        else:
            reasons[run] = (f"test loss {_loss(loss)} at epoch {at} exceeds {factor:g} × the "
                            f"constant-prediction loss {_loss(stated[run])}")
    return diverged, reasons


def not_learning(m_er: np.ndarray, reference: np.ndarray, reference_kind: np.ndarray,
                 margin: float = DEFAULT_LEARN_MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """``not_learning`` per run (M_er > (1 − margin) × reference) and why ("" where not)."""
    with np.errstate(invalid="ignore"):
        flagged = m_er > (1 - margin) * reference
    names = {"constant_prediction": "constant-prediction loss",
             "first_epoch": "first-epoch test loss"}
    reasons = np.full(len(m_er), "", dtype=object)
    for run in np.flatnonzero(flagged):
        reasons[run] = (f"best test loss {_loss(m_er[run])} not below {1 - margin:g} × "
                        f"{names[reference_kind[run]]} {_loss(reference[run])}")
    return flagged, reasons


def run_flags(train_loss: np.ndarray, test_loss: np.ndarray, epoch: np.ndarray,
              valid: np.ndarray, m_er: np.ndarray, given_reference: np.ndarray | None = None,
              diverge_factor: float = DEFAULT_DIVERGE_FACTOR,
              learn_margin: float = DEFAULT_LEARN_MARGIN,
              train_logged: np.ndarray | None = None) -> pd.DataFrame:
    """diverged, not_learning, flag_reason, reference_loss and reference_kind per run."""
    reference, kind = reference_losses(test_loss, valid, given_reference)
    diverged, why_diverged = divergence(train_loss, test_loss, epoch, valid, reference, kind,
                                        diverge_factor, train_logged)
    stalled, why_stalled = not_learning(m_er, reference, kind, learn_margin)
    reasons = [("; ".join(part for part in pair if part))
               for pair in zip(why_diverged, why_stalled, strict=True)]
    return pd.DataFrame({"diverged": diverged, "not_learning": stalled,
                         "flag_reason": reasons, "reference_loss": reference,
                         "reference_kind": kind})


def flagged(run_metrics: pd.DataFrame) -> pd.Series:
    """True for runs flagged diverged or not learning (a table without a flag column: False)."""
    marked = pd.Series(False, index=run_metrics.index)
    for column in FLAG_COLUMNS:
        if column in run_metrics.columns:
            marked |= run_metrics[column].fillna(False).astype(bool)
    return marked


def matrix_columns(curves: pd.DataFrame) -> tuple[str, ...]:
    """The curve columns the metrics read: MATRIX_COLUMNS, plus reference_loss and loss_kind
    where present."""
    return (*MATRIX_COLUMNS, *(column for column in (REFERENCE_COLUMN, LOSS_KIND_COLUMN)
                               if column in curves.columns))


def accuracy_only(matrix: CurveMatrix) -> np.ndarray:
    """Per run, True where the curve table's ``loss_kind`` reads "1 - accuracy": its losses
    are 1 − accuracy (False where the column is absent or says ``loss``)."""
    kinds = matrix.values.get(LOSS_KIND_COLUMN)
    if kinds is None:
        return np.zeros(len(matrix.valid), dtype=bool)
    return (matrix.valid & (kinds == FROM_ACCURACY)).any(axis=1)


def train_logged(train_loss: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per run, False where the train loss is NaN at every epoch (not logged, e.g. an Optuna
    trial); ±inf is a logged loss."""
    return (valid & ~np.isnan(train_loss)).any(axis=1)


def _partial_curve_columns(fit_points: Sequence[int],
                           definitions: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """From the registry: the per-run metrics undefined on accuracy-only curves (loss-based,
    ``on_accuracy_curves=False``) and those that need the train curve."""
    per_run = [m for m in metric_defs(fit_points) if m.source == METRICS_TABLE]
    no_loss = tuple(m.column for m in per_run if not m.on_accuracy_curves and m.uses_losses())
    needs_train = tuple(m.column for m in per_run if "train_loss" in m.needs)
    if definitions == AUTHORS:  # the authors' M_stab sums |H_test − min H_train|
        needs_train += ("m_stab",)
    return no_loss, needs_train


def _mask_partial(table: pd.DataFrame, no_loss_runs: np.ndarray, no_train_runs: np.ndarray,
                  fit_points: Sequence[int], definitions: str) -> pd.DataFrame:
    """NaN, with the reason in the status column, for the metrics a partial curve lacks."""
    no_loss, needs_train = _partial_curve_columns(fit_points, definitions)
    for columns, runs, reason in ((needs_train, no_train_runs, TRAIN_NOT_LOGGED),
                                  (no_loss, no_loss_runs, NO_LOSS)):
        if not runs.any():
            continue
        rows = pd.Series(runs, index=table.index)
        for column in columns:
            table[column] = table[column].mask(rows)
            if f"{column}_status" in table.columns:
                table[f"{column}_status"] = table[f"{column}_status"].mask(rows, reason)
            if column == "m_stab":
                table["stab_window"] = table["stab_window"].mask(rows, 0)
    return table


def per_run_metrics(curves: pd.DataFrame, delta: int = DEFAULT_DELTA,
                    fit_points: Sequence[int] = DEFAULT_FIT_POINTS,
                    diverge_factor: float = DEFAULT_DIVERGE_FACTOR,
                    learn_margin: float = DEFAULT_LEARN_MARGIN,
                    definitions: str = PAPER) -> pd.DataFrame:
    """The per-run metrics table (run keys + metric columns) of a validated curve table."""
    matrix = curve_matrix(curves, matrix_columns(curves))
    return pd.concat([run_keys(curves), metrics_of_matrix(matrix, delta, fit_points,
                                                          diverge_factor, learn_margin,
                                                          definitions)], axis=1)


def metrics_of_matrix(matrix: CurveMatrix, delta: int = DEFAULT_DELTA,
                      fit_points: Sequence[int] = DEFAULT_FIT_POINTS,
                      diverge_factor: float = DEFAULT_DIVERGE_FACTOR,
                      learn_margin: float = DEFAULT_LEARN_MARGIN,
                      definitions: str = PAPER) -> pd.DataFrame:
    """Every per-run metric from padded arrays (the part that scales with the run count).

    ``matrix.values`` may hold ``reference_loss`` (the constant-prediction loss per epoch
    row); the flags then use it as the reference. It may hold ``loss_kind`` (accuracy-only
    runs, see the module docstring). ``definitions`` is ``paper`` (the equations) or
    ``authors`` (the Study A authors' code, :mod:`reusebench.core.metricdefs`).
    """
    delta, fit_points = check_delta(delta), check_fit_points(fit_points)
    definitions = check_definitions(definitions)
    values, valid, epoch = matrix.values, matrix.valid, matrix.epoch
    raw_train, raw_test = values["train_loss"], values["test_loss"]
    train_loss, test_loss = ((clip_losses(raw_train), clip_losses(raw_test))
                             if definitions == AUTHORS else (raw_train, raw_test))
    m_er, star = model_error(test_loss, valid)
    ep_star = epoch_at(epoch, star)
    raw_m_er = m_er if definitions == PAPER else model_error(raw_test, valid)[0]
    logged = train_logged(raw_train, valid)
    flags = run_flags(raw_train, raw_test, epoch, valid, raw_m_er,
                      values.get(REFERENCE_COLUMN), diverge_factor, learn_margin, logged)
    loss_metrics = _loss_metrics(matrix, train_loss, test_loss, m_er, star, delta, definitions)
    table = pd.DataFrame({
        "n_epochs": matrix.n_epochs.astype("int64"),
        "definitions": np.full(len(valid), definitions, dtype=object),
        **{column: flags[column].to_numpy() for column in (
            "diverged", "not_learning", "flag_reason", "reference_loss", "reference_kind")},
        "m_er": m_er,
        "ep_star": pd.array(np.where(np.isfinite(ep_star), ep_star, np.nan), dtype="Int64"),
        **loss_metrics,
        "gpu_max_mem_mb": masked_reduce(values["gpu_mem_max_mb"], valid, "max"),
        "gpu_avg_util_pct": masked_reduce(values["gpu_util_mean_pct"], valid, "mean"),
    })
    table = pd.concat([table, predictability(epoch, test_loss, valid, fit_points)], axis=1)
    return _mask_partial(table, accuracy_only(matrix), ~logged, fit_points, definitions)


def _loss_metrics(matrix: CurveMatrix, train_loss: np.ndarray, test_loss: np.ndarray,
                  m_er: np.ndarray, star: np.ndarray, delta: int,
                  definitions: str) -> dict[str, np.ndarray]:
    """M_stab with δ and its window, T(M_er), D_re, D_unif and their status columns."""
    valid, epoch, seconds = matrix.valid, matrix.epoch, matrix.values["epoch_seconds"]
    ep_star = epoch_at(epoch, star)
    if definitions == AUTHORS:
        window = authors_window(valid, star, delta)
        m_stab = np.where(np.isfinite(m_er),
                          authors_stability(train_loss, test_loss, valid, window), np.nan)
        t_m_er = cumulative_speed(star, seconds, valid)
    else:
        window = paper_window(epoch, valid, ep_star, delta)
        m_stab = stability(test_loss, epoch, valid, m_er, ep_star, delta)[0]
        t_m_er = speed(ep_star, matrix.n_epochs, seconds, valid)
    d_unif = uniformity(train_loss, test_loss, valid)
    return {"m_stab": m_stab, "stab_delta": np.full(len(valid), delta, dtype="int64"),
            "stab_window": np.where(np.isfinite(m_er), window.sum(axis=1), 0),
            "t_m_er": t_m_er, "d_re": representation(train_loss, test_loss, valid),
            "d_unif": d_unif,
            **status_columns(epoch, valid, train_loss, test_loss, m_er, ep_star, d_unif,
                             delta, window)}


def coefficient_of_variation(images: Iterable[np.ndarray]) -> float:
    """CV (Eq. 10): mean over images of σ_i / μ_i of their pixel intensities."""
    ratios = []
    for image in images:
        pixels = np.asarray(image, dtype="float64").ravel()
        mean = pixels.mean()
        ratios.append(pixels.std() / mean if mean != 0 else np.nan)
    if not ratios:
        raise ValueError("coefficient_of_variation needs at least one image")
    return float(np.mean(ratios))
