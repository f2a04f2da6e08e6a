"""Verdicts with evidence: chance, seed spread and too few points give "inconclusive"."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reusebench.core.evidence import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NOT_RUN,
    Evidence,
    above_chance,
    chance_gate,
    combine,
    compare_paired,
    compare_to_bound,
    enough_points,
    mean_interval,
    proportion_interval,
    seed_summary,
    within_range,
)


def test_a_clear_effect_over_three_seeds_holds_and_its_interval_excludes_zero():
    evidence = compare_paired([0.10, 0.12, 0.11], [0.50, 0.52, 0.49], "<")
    assert evidence.verdict == HOLDS and evidence.n == 3
    low, high = evidence.interval
    assert low < -0.37 < high < 0


def test_the_same_effect_with_one_seed_is_inconclusive_with_its_seed_count():
    evidence = compare_paired([0.10], [0.50], "<")
    assert evidence.verdict == INCONCLUSIVE and evidence.n == 1
    assert evidence.reason.startswith("1 seed;") and evidence.interval is None


def test_an_effect_in_the_other_direction_does_not_hold():
    assert compare_paired([0.5, 0.52, 0.51], [0.1, 0.12, 0.11], "<").verdict == FAILS
    assert compare_paired([0.5, 0.52, 0.51], [0.1, 0.12, 0.11], ">").verdict == HOLDS


def test_a_difference_within_the_seed_spread_is_inconclusive():
    evidence = compare_paired([0.30, 0.50, 0.40], [0.45, 0.35, 0.42], "<")
    assert evidence.verdict == INCONCLUSIVE and "contains 0" in evidence.reason


def test_chance_level_accuracies_are_inconclusive_never_holds():
    rng = np.random.default_rng(0)
    n_test, n_classes = 500, 10
    correct = rng.binomial(n_test, 1 / n_classes, size=6)
    runs = pd.DataFrame({"correct": correct, "n_test": n_test, "n_classes": n_classes})
    gate = chance_gate(runs)
    assert gate is not None and gate.verdict == INCONCLUSIVE
    assert "not significantly above the random baseline" in gate.reason


def test_accuracies_well_above_chance_pass_the_gate():
    runs = pd.DataFrame({"correct": [300, 310], "n_test": 500, "n_classes": 10})
    assert chance_gate(runs) is None
    assert above_chance(300, 500, 10) < 1e-100
    assert above_chance(50, 500, 10) > 0.4


def test_two_points_per_contour_cannot_decide_a_two_parameter_fit():
    evidence = enough_points(2, 2)
    assert evidence.verdict == INCONCLUSIVE and evidence.reason.startswith("2 points per")
    assert enough_points(4, 2) is not None and enough_points(5, 2) is None


def test_a_bound_and_a_range_are_judged_by_the_interval_of_the_mean():
    assert compare_to_bound([0.0, 0.0, 0.0], 0.02, "<").verdict == HOLDS
    assert compare_to_bound([0.05, 0.06, 0.055], 0.02, "<").verdict == FAILS
    assert compare_to_bound([0.0, 0.05, 0.01], 0.02, "<").verdict == INCONCLUSIVE
    assert within_range([1.7, 1.71, 1.69], 1.6, 1.8).verdict == HOLDS
    assert within_range([2.5, 2.6, 2.55], 1.6, 1.8).verdict == FAILS
    assert within_range([1.5, 1.9, 1.7], 1.6, 1.8).verdict == INCONCLUSIVE


def test_the_mean_interval_is_the_student_t_interval():
    low, high = mean_interval([1.0, 2.0, 3.0])
    half_width = 4.302652729911275 * 1.0 / np.sqrt(3)  # t(0.975, 2) × s / √n
    assert (low, high) == pytest.approx((2 - half_width, 2 + half_width))
    assert mean_interval([1.0]) is None and mean_interval([2.0, 2.0]) == (2.0, 2.0)


def test_proportion_interval_is_clopper_pearson():
    low, high = proportion_interval(10, 100)
    assert low == pytest.approx(0.04900, abs=1e-4) and high == pytest.approx(0.17622, abs=1e-4)


def test_seed_summary_gives_n_mean_std_and_interval_per_group():
    table = pd.DataFrame({"arch": ["a", "a", "a", "b"], "m_er": [0.1, 0.2, 0.3, 0.5]})
    summary = seed_summary(table, ["arch"], ["m_er"]).set_index("arch")
    assert summary.loc["a", "n"] == 3 and summary.loc["b", "n"] == 1
    assert summary.loc["a", "m_er_mean"] == pytest.approx(0.2)
    assert summary.loc["a", "m_er_std"] == pytest.approx(0.1)
    assert summary.loc["a", "m_er_ci_low"] < 0.2 < summary.loc["a", "m_er_ci_high"]
    assert np.isnan(summary.loc["b", "m_er_std"]) and np.isnan(summary.loc["b", "m_er_ci_low"])


def test_combined_verdicts_fail_on_any_failure_and_hold_only_when_all_hold():
    holds, fails = Evidence(HOLDS, 3), Evidence(FAILS, 3)
    unsure = Evidence(INCONCLUSIVE, 1, reason="1 seed")
    assert combine([holds, holds]).verdict == HOLDS
    assert combine([holds, unsure]).verdict == INCONCLUSIVE
    assert combine([unsure, fails]).verdict == FAILS
    assert combine([]).verdict == NOT_RUN


def test_an_inconclusive_verdict_without_a_reason_is_refused():
    with pytest.raises(ValueError, match="needs a reason"):
        Evidence(INCONCLUSIVE, 3)
