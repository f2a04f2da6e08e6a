"""The metric registry: every metric column registered once, read by every consumer; the
authors' definitions; fit points and δ flowing through tables, figures, cards and recommend."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT

from reusebench.core.curves import curve_matrix, validate_curves
from reusebench.core.metric_tables import metric_tables
from reusebench.core.metricdefs import (
    AUTHORS,
    BY_COLUMN,
    METRICS_TABLE,
    PAPER,
    companion_columns,
    fit_points_of,
    metric_defs,
    metrics_table_columns,
    paper_fit_column,
)
from reusebench.core.metrics import matrix_columns, metrics_of_matrix, per_run_metrics
from reusebench.data.synthetic import synthetic_curves, synthetic_grid
from reusebench.glue import cli
from reusebench.reporting.cards.content import study_a_card
from reusebench.reporting.cards.render import card_text
from reusebench.reporting.nasbench.analysis import UNDEFINED_METRICS
from reusebench.reporting.recommend import TASKS, candidate_table, recommend
from reusebench.reporting.report import metrics_summary_markdown
from reusebench.reporting.study_a.figures import (
    convergence_fits,
    parallel_axes,
    parallel_coordinates,
    parallel_coordinates_html,
    stability_by_arch,
)
from reusebench.reporting.study_a.tables import (
    best_per_arch,
    eq11_check,
    per_dataset_tables,
    seed_aggregate,
)

FIT_POINT_LISTS = [(10, 15), (5,), (10, 15, 20, 30)]


# ---------------------------------------------------------------- the registry is complete


@pytest.mark.parametrize("definitions", [PAPER, AUTHORS])
@pytest.mark.parametrize("fit_points", [(10, 15, 20), *FIT_POINT_LISTS])
def test_every_column_metrics_of_matrix_writes_is_registered(fit_points, definitions):
    curves = synthetic_curves(synthetic_grid(["easy"], ["unet"], [1e-3], ["random"], [0]), 12)
    matrix = curve_matrix(curves, matrix_columns(curves))
    columns = set(metrics_of_matrix(matrix, fit_points=fit_points, definitions=definitions))
    registered = set(metrics_table_columns(fit_points))
    assert columns == registered, (columns - registered, registered - columns)


def test_columns_metrics_symbols_are_each_defined_once():
    metrics = metric_defs((10, 15, 20, 30))
    columns = [m.column for m in metrics] + [c.column for c in companion_columns((10, 30))]
    assert len(columns) == len(set(columns))
    assert all(m.symbol and m.label and m.definition.endswith(".") for m in metrics)


def test_the_registry_agrees_with_the_nasbench_analysis_on_accuracy_only_curves():
    undefined = {m.column for m in metric_defs() if m.source == METRICS_TABLE
                 and not m.on_accuracy_curves}
    assert undefined == set(UNDEFINED_METRICS)


# ---------------------------------------------------------------- reusebench metrics --list


def test_metrics_list_prints_every_registered_symbol(capsys):
    assert cli.main(["metrics", "--list"]) == 0
    text = capsys.readouterr().out
    for defined in metric_defs():
        assert f"| {defined.column} | {defined.symbol} |" in text, defined.column
    for column in companion_columns():
        assert f"| {column.column} |" in text


def test_metrics_list_follows_fit_points_and_definitions(capsys):
    assert cli.main(["metrics", "--list", "--fit-points", "5", "--definitions", "authors"]) == 0
    text = capsys.readouterr().out
    assert "Δ(fit; PW, 5)" in text and "Δ(fit; PW, 10)" not in text
    assert "(authors definitions)" in text and "min H_train" in text
    assert cli.main(["metrics", "--list"]) == 0
    assert "min H_train" not in capsys.readouterr().out  # paper is the default


def test_metrics_without_curves_and_without_list_is_bad_input(capsys):
    assert cli.main(["metrics"]) == cli.EXIT_BAD_INPUT
    assert "--list" in capsys.readouterr().err


# ---------------------------------------------------------------- the authors' definitions

TEST = [50.0, 2.0, 0.5, 0.7, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6]  # ep* = 3, M_er = 0.5
TRAIN = [40.0, 1.5, 0.6, 0.5, 0.45, 0.4, 0.38, 0.36, 0.34, 0.32, 0.3, 0.28]
SECONDS = [float(epoch) for epoch in range(1, 13)]  # epoch i takes i seconds


@pytest.fixture
def hand_built(make_run, make_curves):
    return validate_curves(make_curves(make_run(TRAIN, TEST, seconds=SECONDS)), "hand-built")


def test_paper_is_the_default_and_follows_the_equations(hand_built):
    row = per_run_metrics(hand_built, fit_points=(5,)).iloc[0]
    assert row["definitions"] == PAPER
    assert (row["m_er"], row["ep_star"]) == (0.5, 3)
    assert row["stab_window"] == 8  # epochs 1..8 = [3 - 5, 3 + 5] ∩ [1, 12]
    assert row["m_stab"] == pytest.approx(sum(t - 0.5 for t in TEST[:8]))
    assert row["t_m_er"] == pytest.approx(3 / 12 * sum(SECONDS))
    assert row["d_re"] == pytest.approx(sum(TRAIN) + sum(TEST))


def test_authors_definitions_give_the_authors_values(hand_built):
    row = per_run_metrics(hand_built, fit_points=(5,), definitions=AUTHORS).iloc[0]
    clipped_test, clipped_train = np.clip(TEST, 0, 36), np.clip(TRAIN, 0, 36)
    assert row["definitions"] == AUTHORS
    assert (row["m_er"], row["ep_star"]) == (0.5, 3)
    # ten epochs: ep* - 5 … ep* + 4 shifted to start at epoch 1
    assert (row["stab_delta"], row["stab_window"]) == (5, 10)
    assert row["m_stab"] == pytest.approx(np.abs(clipped_test[:10] - clipped_train.min()).sum())
    assert row["t_m_er"] == pytest.approx(1 + 2 + 3)  # cumulative seconds at ep*
    assert row["d_re"] == pytest.approx(clipped_train.sum() + clipped_test.sum())


def test_authors_window_is_shifted_at_the_end_and_the_whole_of_a_short_run(make_run,
                                                                          make_curves):
    late = list(np.linspace(2.0, 1.0, 12))  # ep* = EP = 12
    short = [1.0, 0.5, 0.7]
    table = per_run_metrics(validate_curves(make_curves(
        make_run(late, late, arch="late"), make_run(short, short, arch="short")), "two"),
        fit_points=(2,), definitions=AUTHORS).set_index("arch")
    assert table.loc["late", "stab_window"] == 10  # epochs 3..12
    assert table.loc["late", "m_stab"] == pytest.approx(sum(np.abs(np.array(late[2:]) - 1.0)))
    assert table.loc["short", "stab_window"] == 3


def test_authors_flags_read_the_unclipped_losses(make_run, make_curves):
    test = [1.0, 0.8, np.inf, 0.7, 0.6]
    curves = validate_curves(make_curves(make_run(test, test)), "inf")
    row = per_run_metrics(curves, fit_points=(2,), definitions=AUTHORS).iloc[0]
    assert bool(row["diverged"]) and "non-finite" in row["flag_reason"]
    assert np.isfinite(row["d_re"])  # the authors' clipping turns inf into 36


@pytest.fixture
def init_pair(make_run, make_curves):
    """random: M_er 0.6; pretrained: M_er 0.5, worse than random at epoch 2 only."""
    return validate_curves(make_curves(
        make_run([1.0, 0.8, 0.6], [1.0, 0.8, 0.6], init="random"),
        make_run([0.9, 1.0, 0.5], [0.9, 1.0, 0.5], init="pretrained")), "pair")


def test_authors_pairs_flip_g_init_and_sum_only_where_pretrained_is_worse(init_pair):
    paper = metric_tables(init_pair, fit_points=(2,))["pairs"].iloc[0]
    authors = metric_tables(init_pair, fit_points=(2,), definitions=AUTHORS)["pairs"].iloc[0]
    assert paper["g_init"] == pytest.approx(0.1) and paper["d_init"] == pytest.approx(0.0)
    assert authors["g_init"] == pytest.approx(-0.1) and authors["d_init"] == pytest.approx(0.2)


def test_recommend_and_cards_read_the_authors_directions(init_pair):
    tables = metric_tables(init_pair, fit_points=(2,), definitions=AUTHORS)
    task = TASKS["transfer"]
    result = recommend(task, candidate_table(task, tables["metrics"], tables["pairs"]))
    assert "G_init -0.1 (#1/1, lower is better)" in result.table["reason"].iloc[0]
    row = tables["metrics"][tables["metrics"]["init"] == "pretrained"].iloc[0].to_dict()
    content = study_a_card(row, init_pair[init_pair["init"] == "pretrained"], {},
                           tables["pairs"], tables["unpaired"], None)
    g_init = next(entry for entry in content["metrics"] if entry["key"] == "g_init")
    assert g_init["name"] == "G_init: M_er(pretrained) − M_er(random)"
    assert g_init["better"] == "lower"
    assert "the authors' code" in content["definitions"]["m_stab"]["definition"]


def test_the_cli_and_the_config_default_to_paper_and_accept_authors(hand_built, tmp_path):
    schema = yaml.safe_load((ROOT / "config" / "config.schema.yaml").read_text())
    key = schema["properties"]["metrics"]["properties"]["definitions"]
    assert key["default"] == PAPER and key["enum"] == [PAPER, AUTHORS]
    curves = tmp_path / "curves.csv"
    hand_built.to_csv(curves, index=False)
    for extra, definitions, t_m_er in (([], PAPER, 19.5), (["--definitions", "authors"],
                                                            AUTHORS, 6.0)):
        out = tmp_path / definitions
        assert cli.main(["metrics", str(curves), "-o", str(out), "--fit-points", "5",
                         *extra]) == 0
        row = pd.read_csv(out / "metrics.csv").iloc[0]
        assert (row["definitions"], row["t_m_er"]) == (definitions, pytest.approx(t_m_er))


# ---------------------------------------------------------------- fit points everywhere


@pytest.fixture(scope="module")
def grid_curves():
    keys = synthetic_grid(["easy", "hard"], ["lraspp", "unet"], [1e-3], ["random", "pretrained"],
                          [0, 1], study="A")
    return synthetic_curves(keys, 32, seed=4)


@pytest.mark.parametrize("fit_points", FIT_POINT_LISTS)
def test_fit_points_flow_through_tables_figures_cards_and_recommend(grid_curves, fit_points):
    tables = metric_tables(grid_curves, fit_points=fit_points)
    run_metrics = tables["metrics"]
    fit_columns = {c for c in run_metrics.columns if c.startswith("delta_fit_")} - {
        "delta_fit_min", "delta_fit_best"}
    assert fit_columns == {f"delta_fit_{m}_{n}" for m in ("pw", "exp") for n in fit_points}
    assert fit_points_of(run_metrics.columns) == tuple(sorted(fit_points))
    assert run_metrics["delta_fit_min"].notna().all()
    _study_a_tables_use(run_metrics, fit_points)
    _figures_draw(grid_curves, run_metrics, fit_points)
    _cards_carry(grid_curves, tables, fit_points)
    for name, task in TASKS.items():
        result = recommend(task, candidate_table(task, run_metrics, tables["pairs"]))
        assert result.n_ranked > 0, name


def _study_a_tables_use(run_metrics, fit_points):
    easy = per_dataset_tables(run_metrics)["easy"]
    assert {f"delta_fit_pw_{n}" for n in fit_points} <= set(easy.columns)
    assert {"stab_delta", "stab_window"} <= set(easy.columns)
    eq11 = eq11_check(run_metrics, "easy", "hard")
    assert paper_fit_column(fit_points) in eq11["inequality"].iloc[2]
    assert len(best_per_arch(run_metrics)) == 4 and len(seed_aggregate(run_metrics)) == 8
    summary = metrics_summary_markdown(run_metrics, pd.DataFrame(), "A")
    assert f"N ∈ {{{', '.join(map(str, fit_points))}}}" in summary


def _figures_draw(curves, run_metrics, fit_points):
    easy = run_metrics[run_metrics["dataset"] == "easy"]
    labels = [label for _, _, label in parallel_axes(easy)]
    assert BY_COLUMN["m_er"].symbol in labels
    assert f"Δ(fit; PW, {20 if 20 in fit_points else max(fit_points)})" in labels
    for figure in (convergence_fits(curves, easy, "easy"), parallel_coordinates(easy, "easy"),
                   stability_by_arch(run_metrics)):
        plt.close(figure)
    assert "parcoords" in parallel_coordinates_html(easy, "easy")


def _cards_carry(curves, tables, fit_points):
    row = tables["metrics"].iloc[0].to_dict()
    content = study_a_card(row, curves[curves["run_id"] == row["run_id"]], {},
                           tables["pairs"], tables["unpaired"], None)
    assert content["metric_settings"]["fit_points"] == sorted(fit_points)
    points = ", ".join(map(str, fit_points))
    assert f"N ∈ {{{points}}}" in content["definitions"]["delta_fit_min"]["definition"]
    assert f"| fit points N of Δ(fit) | {points} |" in card_text(content)


# ---------------------------------------------------------------- δ and its window


def test_delta_and_the_window_used_are_columns_of_the_metrics_table_and_in_the_card(
        make_run, make_curves):
    test = list(np.linspace(2.0, 1.0, 12))  # ep* = EP = 12: the window is epochs 10..12
    curves = validate_curves(make_curves(make_run(test, test)), "delta")
    tables = metric_tables(curves, delta=2, fit_points=(5,))
    row = tables["metrics"].iloc[0]
    assert (row["stab_delta"], row["stab_window"]) == (2, 3)
    content = study_a_card(row.to_dict(), curves, {}, tables["pairs"], tables["unpaired"], None)
    assert (content["metric_settings"]["stab_delta"],
            content["metric_settings"]["stab_window"]) == (2, 3)
    text = card_text(content)
    assert "| δ (stab_delta): half-width of the M_stab window | 2 epochs |" in text
    assert "| stab_window: epochs the M_stab window summed | 3 epochs |" in text
