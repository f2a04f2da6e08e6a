"""OpScore (paper B, Eq. 1), the ranking tables with MIN/MAX rows, and Pareto fronts."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from reusebench.core.opscore import opscore, pareto_front, ranking
from reusebench.reporting.study_b.tables import accuracy_table, ranking_by_seed, seed_table


def test_paper_examples():
    # paper B, Sec. 4.5: <Acc 0.99, 10 MB, 10 s> → 0.0 and <Acc 0.01, 1 GB, 100 s> → 5.0
    assert opscore(0.99, 10.0, 10.0) == pytest.approx(0.0, abs=1e-12)
    assert opscore(0.01, 100.0, 1000.0) == pytest.approx(5.0, abs=0.005)


def test_higher_accuracy_less_time_and_less_size_each_lower_the_score():
    base = opscore(0.9, 50.0, 100.0)
    assert opscore(0.95, 50.0, 100.0) < base
    assert opscore(0.9, 25.0, 100.0) < base
    assert opscore(0.9, 50.0, 50.0) < base
    assert opscore(0.9, 50.0, 50.0) == pytest.approx(base - np.log10(2))


def _runs():
    return pd.DataFrame({
        "arch": ["resnet50", "vgg16", "efficientnetb0"],
        "technique": ["top1", "top1", "fp16"],
        "device": ["cpu"] * 3,
        "accuracy": [0.9, 0.6, 0.8],
        "n_test": [100, 100, 100],
        "size_mb": [100.0, 60.0, 10.0],
        "gzip_mb": [90.0, 55.0, 8.0],
        "train_seconds": [30.0, 20.0, 10.0],
        "test_seconds": [3.0, 2.0, 4.0],
        "total_seconds": [33.0, 22.0, 14.0],
    })


def test_ranking_sorts_by_total_opscore_between_min_and_max_rows():
    table = ranking(_runs())
    assert table["model"].tolist() == ["MIN", "efficientnetb0 fp16", "resnet50 top1",
                                       "vgg16 top1", "MAX"]
    ranked = table.iloc[1:-1]
    assert ranked["rank"].tolist() == [1, 2, 3]
    assert ranked["opscore_total"].is_monotonic_increasing
    first = ranked.iloc[0]
    assert first["opscore_total"] == pytest.approx(np.log10(0.2) + np.log10(14) + np.log10(10))
    assert first["opscore_train"] == pytest.approx(np.log10(0.2) + np.log10(10) + np.log10(10))
    assert first["opscore_test"] == pytest.approx(np.log10(0.2) + np.log10(4) + np.log10(10))
    assert first["opscore_total_gzip"] == pytest.approx(np.log10(0.2) + np.log10(14)
                                                        + np.log10(8))


def test_min_and_max_rows_take_the_best_and_worst_of_each_column():
    table = ranking(_runs()).set_index("model")
    best, worst = table.loc["MIN"], table.loc["MAX"]
    assert best["accuracy"] == 0.9 and worst["accuracy"] == 0.6
    assert best["size_mb"] == 10.0 and worst["size_mb"] == 100.0
    assert best["train_seconds"] == 10.0 and worst["train_seconds"] == 30.0
    assert best["test_seconds"] == 2.0 and worst["test_seconds"] == 4.0
    assert best["total_seconds"] == 14.0 and worst["total_seconds"] == 33.0
    assert best["opscore_test"] == pytest.approx(np.log10(0.1) + np.log10(2) + np.log10(10))
    assert worst["opscore_total"] == pytest.approx(np.log10(0.4) + np.log10(33)
                                                   + np.log10(100))
    models = table.drop(index=["MIN", "MAX"])
    for column in ("opscore_train", "opscore_test", "opscore_total"):
        assert best[column] <= models[column].min() and worst[column] >= models[column].max()


def test_perfect_accuracy_is_floored_at_half_a_test_image_not_minus_infinity():
    runs = _runs().assign(accuracy=[1.0, 0.6, 0.8])
    table = ranking(runs).set_index("model")
    row = table.loc["resnet50 top1"]
    assert bool(row["error_floored"])
    assert row["opscore_total"] == pytest.approx(np.log10(0.005) + np.log10(33)
                                                 + np.log10(100))
    assert np.isfinite(table["opscore_total"]).all()
    assert np.isneginf(opscore(1.0, 10.0, 10.0))


def test_pareto_front_keeps_exactly_the_undominated_rows():
    costs = np.array([[1.0, 5.0], [2.0, 2.0], [3.0, 3.0], [5.0, 1.0], [2.0, 2.0]])
    # row 2 is dominated by row 1; equal rows 1 and 4 do not dominate each other
    assert pareto_front(costs).tolist() == [True, True, False, True, True]


def _seeded_runs():
    runs = pd.concat([_runs().assign(seed=seed) for seed in (0, 1, 2)], ignore_index=True)
    runs["accuracy"] += runs["seed"] * 0.01
    return runs.assign(dataset="synth10", split="own", source_dataset="synth10")


def test_per_run_ranking_keeps_one_row_per_seed_and_names_it():
    table = ranking(_seeded_runs())
    assert len(table) == 2 + 9 and "resnet50 top1 s2" in set(table["model"])


def test_ranking_over_seeds_has_n_mean_std_and_a_t_interval():
    summary = ranking_by_seed(ranking(_seeded_runs()))
    assert summary["n"].tolist() == [3, 3, 3] and summary["rank"].tolist() == [1, 2, 3]
    row = summary.set_index("arch").loc["resnet50"]
    assert row["accuracy_mean"] == pytest.approx(0.91)
    assert row["accuracy_std"] == pytest.approx(0.01)
    half = stats.t.ppf(0.975, 2) * 0.01 / np.sqrt(3)
    assert row["accuracy_ci_low"] == pytest.approx(0.91 - half)
    assert row["accuracy_ci_high"] == pytest.approx(0.91 + half)
    assert summary["opscore_total_mean"].is_monotonic_increasing


def test_seed_tables_leave_the_interval_empty_for_a_single_seed():
    runs = _seeded_runs().assign(technique="top1", method="base", clusters=np.nan,
                                 precision=0.5, recall=0.5, f1=0.5, correct=50, n_classes=10,
                                 above_chance_p=1e-3)
    table = seed_table("accuracy", accuracy_table(runs[runs["seed"] == 0],
                                                   pd.DataFrame()))
    assert (table["n"] == 1).all() and table["accuracy_ci_low"].isna().all()
    assert table["max_above_chance_p"].tolist() == [1e-3] * 3


def test_bubble_chart_draws_one_labelled_bubble_per_model_with_seed_error_bars():
    import matplotlib

    matplotlib.use("Agg")
    from reusebench.reporting.study_b.figures import bubble_chart

    figure = bubble_chart(_seeded_runs(), "synth10")
    axis = figure.axes[0]
    labels = {text.get_text() for text in axis.texts}
    assert labels == {"resnet50 top1", "vgg16 top1", "efficientnetb0 fp16"}
    assert "3 seed(s)" in axis.get_xlabel()
    assert axis.containers  # the error bars over seeds
