"""The forecast library: curve families, batched fits, predictive draws and the backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reusebench.core.curves import validate_curves
from reusebench.core.forecast.backtest import (
    actual_outcomes,
    backtest_runs,
    backtest_summary,
    crps,
    incumbents,
)
from reusebench.core.forecast.batchfit import fit_family
from reusebench.core.forecast.families import FAMILIES
from reusebench.core.forecast.predict import predict_draws, summarize
from reusebench.core.forecast.targets import targets_of

TRUE_PARAMETERS = {
    "pow3": [0.2, 1.0, 0.7],
    "pow4": [0.1, 0.5, 2.0, 0.8],
    "log_power": [1.0, 1.0, 1.5],
    "mmf": [0.2, 1.0, 1.2, 1.5],
    "weibull": [0.3, 1.0, 1.5, 0.8],
    "ilog2": [0.1, 0.5],
    "vap": [-1.0, 1.0, -0.3],
}
EPOCHS = np.arange(1.0, 31.0)


def test_every_family_has_true_parameters_to_recover():
    assert set(TRUE_PARAMETERS) == set(FAMILIES)


@pytest.mark.parametrize("name", sorted(TRUE_PARAMETERS))
def test_families_recover_known_parameters(name):
    family = FAMILIES[name]
    theta = np.tile(TRUE_PARAMETERS[name], (3, 1))
    y = family.values(EPOCHS, theta)
    result = fit_family(family, EPOCHS, y, np.ones_like(y))
    assert set(result.status) == {"ok"}
    np.testing.assert_allclose(result.theta, theta, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", sorted(TRUE_PARAMETERS))
def test_jacobians_match_finite_differences(name):
    family = FAMILIES[name]
    theta = np.array([TRUE_PARAMETERS[name]], dtype="float64")
    _, jacobian = family.evaluate(EPOCHS, theta, True)
    for column in range(family.n_params):
        step = np.zeros_like(theta)
        step[0, column] = 1e-6 * max(1.0, abs(theta[0, column]))
        slope = (family.values(EPOCHS, theta + step) - family.values(EPOCHS, theta - step))
        np.testing.assert_allclose(jacobian[0, :, column], slope[0] / (2 * step[0, column]),
                                   rtol=1e-5, atol=1e-8)


def test_fit_skips_missing_points_and_reports_too_few():
    family = FAMILIES["pow3"]
    y = family.values(EPOCHS[:12], np.array([[0.2, 1.0, 0.7], [0.2, 1.0, 0.7]]))
    weight = np.ones_like(y)
    y[0, 4] = 1e6  # a spike at a point marked missing must not matter
    weight[0, 4] = 0.0
    weight[1, 4:] = 0.0  # four points: fewer than p + 2 = 5
    result = fit_family(family, EPOCHS[:12], y, weight)
    assert list(result.status) == ["ok", "too_few_points"]
    np.testing.assert_allclose(result.theta[0], [0.2, 1.0, 0.7], rtol=1e-4)
    assert np.isnan(result.theta[1]).all()


def _noisy_curves(rng: np.random.Generator, kind: str, runs: int = 160, epochs: int = 40,
                  noise: float = 0.02) -> np.ndarray:
    x = np.arange(1.0, epochs + 1.0)
    scale, rate = rng.uniform(0.5, 2.0, runs), rng.uniform(0.2, 0.8, runs)
    floor = 0.0 if kind == "pw" else rng.uniform(0.05, 0.3, runs)[:, None]
    clean = floor + scale[:, None] * x ** -rate[:, None]
    return clean + noise * rng.standard_normal((runs, epochs))


@pytest.mark.parametrize(("kind", "predictor"), [("pw", "pw"), ("pow3", "ensemble")])
def test_intervals_cover_about_the_nominal_rate(kind, predictor):
    """Curves drawn from a family with Gaussian noise: measured coverage near 80 % / 95 %."""
    y = _noisy_curves(np.random.default_rng(3), kind)
    draws = predict_draws(predictor, y[:, :15], np.full(len(y), y.shape[1]), 200,
                          np.random.default_rng(0))
    summary = summarize(draws)
    assert set(draws.status) == {"ok"}
    for outcome, truth in (("final", y[:, -1]), ("best", y.min(axis=1))):
        for level, low, high in (("80", 0.65, 0.92), ("95", 0.85, 1.0)):
            inside = ((summary[f"{outcome}_lo{level}"] <= truth)
                      & (truth <= summary[f"{outcome}_hi{level}"]))
            assert low <= inside.mean() <= high, (outcome, level, inside.mean())


def test_statuses_for_short_diverged_flat_and_finished_prefixes():
    prefix = np.array([np.linspace(1.0, 0.3, 10), np.full(10, 0.5),
                       [1.0, 0.8, 0.6, 0.5, 0.4, 0.4, 0.3, 0.3, np.inf, np.inf],
                       np.linspace(1.0, 0.3, 10)])
    horizon = np.array([30, 30, 30, 10])
    for predictor in ("pw", "exp", "ensemble", "ensemble_ic"):
        draws = predict_draws(predictor, prefix, horizon, 50, np.random.default_rng(0))
        assert list(draws.status) == ["ok", "ok", "diverged_in_prefix", "no_epochs_after_n"]
        summary = summarize(draws)
        assert summary["final"][1] == pytest.approx(0.5)  # a flat curve stays flat
        assert np.isnan(summary["final"][2:]).all()


def test_ensemble_needs_enough_points_for_its_held_out_epochs():
    draws = predict_draws("ensemble", np.linspace(1.0, 0.5, 5)[None], np.array([20]), 50,
                          np.random.default_rng(0))
    assert list(draws.status) == ["too_few_points"]


def test_crps_of_known_samples():
    samples = np.array([[0.0, 1.0], [2.0, 2.0]])
    np.testing.assert_allclose(crps(samples, np.array([0.0, 1.5])), [0.25, 0.5])
    assert crps(np.array([[0.0, np.inf]]), np.array([0.0]))[0] == np.inf


def test_backtest_on_a_hand_built_set_gives_the_known_numbers(make_run, make_curves):
    """Noise-free PW curves: PW forecasts them exactly, so every number is known."""
    def pw_run(scale: float, epochs: int, arch: str) -> pd.DataFrame:
        loss = scale * np.arange(1.0, epochs + 1.0) ** -0.5
        return make_run(loss, loss, arch=arch)

    table = validate_curves(make_curves(
        pw_run(2.0, 30, "a"),  # first run of its group: no incumbent
        pw_run(1.0, 30, "b"),  # beats a (M_er 1/√30 < 2/√30): should continue
        pw_run(3.0, 30, "c"),  # worse than b: should stop
        pw_run(1.0, 8, "d"),  # shorter than N
    ), source="hand-built")
    targets = targets_of(table)
    runs, seconds = backtest_runs(targets, [10], ["pw"], 50)
    summary = backtest_summary(runs, seconds).iloc[0]
    assert (summary["runs"], summary["forecast"], summary["skipped"]) == (4, 3, "shorter_than_n 1")
    assert summary["final_mae"] == pytest.approx(0.0, abs=1e-9)
    assert summary["best_mae"] == pytest.approx(0.0, abs=1e-9)
    assert summary["best_epoch_mae"] == 0.0
    assert summary["final_median_rel_error"] == pytest.approx(0.0, abs=1e-9)
    assert summary["final_width95"] == pytest.approx(0.0, abs=1e-9)
    assert summary["final_crps"] == pytest.approx(0.0, abs=1e-9)
    assert (summary["stop_scored"], summary["stop_correct"]) == (2, 1.0)
    by_arch = runs.set_index("arch")
    assert by_arch.loc["b", "continue"] and not by_arch.loc["c", "continue"]
    assert by_arch.loc["b", "incumbent"] == pytest.approx(2.0 / np.sqrt(30))


def test_actual_outcomes_and_incumbents_of_a_hand_built_set(make_run, make_curves):
    table = validate_curves(make_curves(
        make_run([1.0] * 4, [0.9, 0.5, 0.7, np.inf], arch="a"),
        make_run([1.0] * 3, [0.6, 0.4, 0.4], arch="b"),
        make_run([1.0] * 3, [0.8, 0.7, 0.9], arch="c", dataset="other"),
    ), source="hand-built")
    targets = targets_of(table)
    actual = actual_outcomes(targets)
    np.testing.assert_array_equal(actual["final"], [np.inf, 0.4, 0.9])
    np.testing.assert_array_equal(actual["best"], [0.5, 0.4, 0.7])
    np.testing.assert_array_equal(actual["best_epoch"], [2, 2, 2])
    np.testing.assert_array_equal(incumbents(targets, actual["best"]), [np.nan, 0.5, np.nan])


def test_results_do_not_depend_on_threads(make_run, make_curves, monkeypatch):
    monkeypatch.setattr("reusebench.core.forecast.predict.FIT_BLOCK", 2)  # three chunks
    y = _noisy_curves(np.random.default_rng(5), "pow3", runs=6, epochs=25)
    frames = [make_run(row, row, arch=f"a{i}") for i, row in enumerate(y)]
    targets = targets_of(validate_curves(make_curves(*frames), source="synthetic"))
    one, _ = backtest_runs(targets, [12], ["ensemble"], 60, threads=1)
    two, _ = backtest_runs(targets, [12], ["ensemble"], 60, threads=3)
    pd.testing.assert_frame_equal(one, two)
