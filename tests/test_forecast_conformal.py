"""Conformal recalibration of forecast intervals: the pure functions and `forecast --calibrate`."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reusebench.core.forecast.conformal import (
    calibrate_each_run,
    calibrated_scores,
    conformal_margin,
    interval_scores,
    leave_one_out_margins,
    margin_table,
    unseen_group_coverage,
    widen,
)
from reusebench.glue.cli import EXIT_BAD_INPUT, main

Z80, Z95 = 1.2816, 1.9600


def _gaussian_runs(count: int, interval_scale: float, seed: int = 0):
    """Truths with run-specific spread, and central intervals ``interval_scale`` times the
    right width."""
    rng = np.random.default_rng(seed)
    spread = rng.uniform(0.5, 2.0, count)
    actual = spread * rng.standard_normal(count)
    return spread, actual, interval_scale


def _intervals(spread: np.ndarray, scale: float, z: float) -> tuple[np.ndarray, np.ndarray]:
    return -scale * z * spread, scale * z * spread


@pytest.mark.parametrize("level, z", [(0.80, Z80), (0.95, Z95)])
@pytest.mark.parametrize("scale", [0.3, 3.0])
def test_a_margin_from_backtested_runs_gives_new_runs_nominal_coverage(level, z, scale):
    """Intervals 0.3× or 3× the right width: calibrated on 2,000 runs, applied to 2,000
    others of the same kind."""
    spread, actual, _ = _gaussian_runs(2000, scale, seed=0)
    margin = conformal_margin(interval_scores(*_intervals(spread, scale, z), actual), level)
    new_spread, new_actual, _ = _gaussian_runs(2000, scale, seed=1)
    low, high = widen(*_intervals(new_spread, scale, z), margin)
    raw = np.mean(np.abs(new_actual) <= scale * z * new_spread)
    assert abs(raw - level) > 0.04
    assert abs(np.mean((low <= new_actual) & (new_actual <= high)) - level) < 0.025
    assert (margin > 0) == (scale < 1)


def test_the_recalibrated_width_is_the_width_nominal_coverage_needs():
    spread, actual, scale = _gaussian_runs(4000, 0.3)
    calibrated = calibrated_scores(*_intervals(spread, scale, Z80), actual, 0.80)
    right_width = np.mean(2 * Z80 * spread)
    assert calibrated["width"] == pytest.approx(right_width, rel=0.06)


def test_coverage_on_an_unseen_data_set_is_nominal_for_alike_sets_and_not_for_unlike():
    spread, actual, _ = _gaussian_runs(3000, 1.0, seed=3)
    groups = np.repeat(["a", "b", "c"], 1000)
    alike = calibrated_scores(*_intervals(spread, 1.0, Z80), actual, 0.80, groups)
    assert abs(alike["cover_unseen"] - 0.80) < 0.03
    two = groups[:2000]
    scale = np.where(two == "b", 0.3, 1.0)  # data set b's intervals are 0.3× too narrow
    unlike = unseen_group_coverage(
        interval_scores(-scale * Z80 * spread[:2000], scale * Z80 * spread[:2000],
                        actual[:2000]), two, 0.80)
    assert unlike < 0.70  # b calibrated on a covers ~30 %, a calibrated on b ~100 %
    assert np.isnan(calibrated_scores(*_intervals(spread, 1.0, Z80), actual, 0.8,
                                      np.repeat("a", 3000))["cover_unseen"])


def test_leave_one_out_margin_equals_the_margin_of_the_other_runs():
    rng = np.random.default_rng(2)
    scores = np.round(rng.standard_normal(37), 1)  # ties on purpose
    for level in (0.8, 0.95):
        margins = leave_one_out_margins(scores, level)
        expected = [conformal_margin(np.delete(scores, i), level) for i in range(len(scores))]
        np.testing.assert_array_equal(margins, expected)


def test_too_few_runs_for_the_level_give_an_unbounded_interval():
    scores = np.linspace(-0.4, 0.4, 10)
    assert conformal_margin(scores, 0.95) == math.inf  # ⌈11 · 0.95⌉ = 11 > 10 runs
    assert conformal_margin(scores, 0.80) == pytest.approx(scores[8])  # ⌈11 · 0.8⌉ = 9th
    low, high = widen(np.array([1.0]), np.array([2.0]), math.inf)
    assert low[0] == -math.inf and high[0] == math.inf
    calibrated = calibrated_scores(np.zeros(10), np.ones(10), np.linspace(-1, 2, 10), 0.95)
    assert calibrated["width"] == math.inf


def test_point_forecasts_that_miss_often_get_unbounded_intervals():
    actual = np.linspace(0.0, 1.0, 20)
    low = high = np.where(np.arange(20) < 15, actual, actual + 0.1)  # 5 of 20 miss
    calibrated = calibrated_scores(low, high, actual, 0.80)
    assert calibrated["margin"] == math.inf and calibrated["width"] == math.inf
    assert calibrated_scores(low, high, actual, 0.50)["width"] == 0.0


def test_interval_scores_count_interval_widths_outside_and_are_negative_inside():
    low, high = np.array([0.0, 0.0, 0.0, 1.0, 1.0]), np.array([2.0, 2.0, 2.0, 1.0, 1.0])
    actual = np.array([1.0, 3.0, -4.0, 1.0, 1.5])
    np.testing.assert_allclose(interval_scores(low, high, actual),
                               [-0.5, 0.5, 2.0, 0.0, math.inf])
    new_low, new_high = widen(low[:3], high[:3], 0.5)
    np.testing.assert_allclose(new_low, -1.0) and np.testing.assert_allclose(new_high, 3.0)


def test_the_margin_gives_the_intervals_of_crepes_normalised_conformal_regressor():
    """With y_hat the interval's midpoint and σ its half-width, crepes' normalised score
    |y − y_hat| / σ is 1 + 2 × ours, so both widen to the same interval."""
    crepes = pytest.importorskip("crepes", reason="crepes is in the [test] extra")
    rng = np.random.default_rng(4)
    low = rng.normal(0.0, 1.0, 300)
    high = low + rng.uniform(0.1, 2.0, 300)  # asymmetric around the truth's centre
    actual = rng.normal(0.5, 1.5, 300)
    middle, half = (low + high) / 2, (high - low) / 2
    regressor = crepes.ConformalRegressor().fit(actual - middle, sigmas=half)
    new_low = rng.normal(0.0, 1.0, 50)
    new_high = new_low + rng.uniform(0.1, 2.0, 50)
    for level in (0.8, 0.95):
        margin = conformal_margin(interval_scores(low, high, actual), level)
        ours = np.column_stack(widen(new_low, new_high, margin))
        theirs = regressor.predict_int((new_low + new_high) / 2,
                                       sigmas=(new_high - new_low) / 2, confidence=level)
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def _curves(tmp_path: Path, make_run, make_curves, count: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    x = np.arange(1.0, 31.0)
    runs = [make_run(0.9 * x**-0.3,
                     (0.2 + rng.uniform(0.5, 1.5) * x ** -rng.uniform(0.3, 0.9))
                     * (1 + 0.03 * rng.standard_normal(len(x))), arch=f"a{i}",
                     dataset=("d1", "d2")[i % 2])
            for i in range(count)]
    path = tmp_path / f"curves{seed}.csv"
    make_curves(*runs).to_csv(path, index=False)
    return path


def test_forecast_calibrate_widens_each_interval_by_its_backtest_margin(
        tmp_path, make_run, make_curves):
    backtest = tmp_path / "bt.csv"
    common = ["--observed", "8", "--predictors", "pw", "exp", "--draws", "60",
              "--threads", "1"]
    assert main(["forecast-eval", str(_curves(tmp_path, make_run, make_curves, 24, 0)),
                 "-o", str(backtest), *common]) == 0
    out = tmp_path / "new.csv"
    assert main(["forecast", str(_curves(tmp_path, make_run, make_curves, 3, 1)), "-o",
                 str(out), *common, "--calibrate", str(tmp_path / "bt_runs.csv")]) == 0
    forecasts = pd.read_csv(out)
    margins = margin_table(pd.read_csv(tmp_path / "bt_runs.csv")).set_index(
        ["predictor", "outcome", "level"])["margin"]
    summary = pd.read_csv(backtest).set_index("predictor")
    for name in ("final", "best"):
        assert summary[f"{name}_conformal_cover80_unseen"].between(0, 1).all()  # 2 data sets
        assert (summary[f"{name}_conformal_width95"] > 0).all()
    assert (tmp_path / "bt_coverage.png").stat().st_size > 0
    for _, row in forecasts.iterrows():
        for name in ("final", "best"):
            for level in ("80", "95"):
                margin = margins[row["predictor"], name, level]
                width = row[f"{name}_hi{level}"] - row[f"{name}_lo{level}"]
                shift = math.inf if margin == math.inf else margin * width
                assert row[f"{name}_lo{level}_conformal"] == pytest.approx(
                    row[f"{name}_lo{level}"] - shift)
                assert row[f"{name}_hi{level}_conformal"] == pytest.approx(
                    row[f"{name}_hi{level}"] + shift)


@pytest.mark.parametrize("case", ["not a backtest", "N not backtested"])
def test_calibrate_with_a_table_that_cannot_calibrate_is_one_sentence_and_no_output(
        tmp_path, make_run, make_curves, capsys, case):
    curves = _curves(tmp_path, make_run, make_curves, 6, 0)
    common = ["--predictors", "pw", "--draws", "60", "--threads", "1"]
    if case == "not a backtest":
        table = tmp_path / "forecast.csv"
        assert main(["forecast", str(curves), "-o", str(table), "--observed", "8",
                     *common]) == 0
        message = "not the per-run table of `reusebench forecast-eval`"
    else:
        assert main(["forecast-eval", str(curves), "-o", str(tmp_path / "bt.csv"),
                     "--observed", "8", *common]) == 0
        table = tmp_path / "bt_runs.csv"
        message = "holds no backtest of predictor pw at N = 10"
    capsys.readouterr()
    out = tmp_path / "out" / "new.csv"
    code = main(["forecast", str(curves), "-o", str(out), "--observed", "10", *common,
                 "--calibrate", str(table)])
    error = capsys.readouterr().err.strip()
    assert code == EXIT_BAD_INPUT
    assert message in error and len(error.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_each_finished_run_is_calibrated_on_the_other_runs_only():
    rng = np.random.default_rng(5)
    count = 40
    middle = rng.normal(1.0, 0.1, count)
    actual = middle + rng.normal(0.0, 0.05, count)
    half = rng.uniform(0.01, 0.05, count)
    columns = {f"{name}_{side}{level}": middle + sign * half * (2 if level == "95" else 1)
               for name in ("final", "best") for level in ("80", "95")
               for side, sign in (("lo", -1), ("hi", 1))}
    runs = pd.DataFrame({"run_id": [f"r{i}" for i in range(count)], "predictor": "pw",
                         "observed_n": 10, "status": "ok", "final": middle, "best": middle,
                         **columns, "actual_final": actual, "actual_best": actual})
    new = runs.drop(columns=["actual_final", "actual_best"]).iloc[[3, 7]]
    new = pd.concat([new, new.iloc[[0]].assign(run_id="unseen")], ignore_index=True)
    table = calibrate_each_run(new, runs)
    scores = interval_scores(runs["final_lo80"], runs["final_hi80"], actual)
    for position, run in enumerate([3, 7]):
        margin = conformal_margin(np.delete(scores, run), 0.8)
        low, _ = widen(runs["final_lo80"].to_numpy()[[run]], runs["final_hi80"].to_numpy()[[run]],
                       margin)
        assert table["final_lo80_conformal"].iloc[position] == pytest.approx(low[0])
    pooled = conformal_margin(scores, 0.8)
    low, _ = widen(new["final_lo80"].to_numpy()[[2]], new["final_hi80"].to_numpy()[[2]], pooled)
    assert table["final_lo80_conformal"].iloc[2] == pytest.approx(low[0])
