"""Study A tables (Table 5, Eq. 11) and figures drawn from metric tables."""

import pandas as pd
import pytest

from reusebench.core.metrics import per_run_metrics
from reusebench.data.synthetic import synthetic_curves, synthetic_grid
from reusebench.reporting.plots import save_figure
from reusebench.reporting.study_a.figures import (
    convergence_fits,
    parallel_coordinates,
    parallel_coordinates_html,
    stability_by_arch,
)
from reusebench.reporting.study_a.tables import (
    best_per_arch,
    eq11_check,
    seed_aggregate,
    seed_notes,
    table5_notes,
)


@pytest.fixture(scope="module")
def curves_and_metrics():
    keys = synthetic_grid(["easy", "hard"], ["lraspp", "unet"], [1e-3, 1e-4],
                          ["random", "pretrained"], [0])
    curves = synthetic_curves(keys, 22, seed=3)
    return curves, per_run_metrics(curves)


def test_table5_keeps_the_lowest_m_er_per_dataset_and_arch(curves_and_metrics):
    _, run_metrics = curves_and_metrics
    table = best_per_arch(run_metrics)
    assert len(table) == 4
    for row in table.itertuples():
        same = run_metrics[(run_metrics.dataset == row.dataset) & (run_metrics.arch == row.arch)]
        assert row.m_er == same["m_er"].min()


def eq11_metrics(seeds: tuple[int, ...]) -> pd.DataFrame:
    rows = [{"dataset": dataset, "seed": seed, "m_er": m_er + 0.01 * seed + 0.1 * k,
             "d_unif": d_unif - 0.01 * seed, "delta_fit_pw_20": fit + seed + k}
            for seed in seeds for k in (0, 1)
            for dataset, m_er, d_unif, fit in (("a", 0.1, 0.99, 1.0), ("b", 0.5, 0.5, 3.0))]
    return pd.DataFrame(rows)


def test_eq11_compares_per_seed_medians_and_flips_when_datasets_swap():
    run_metrics = eq11_metrics((0, 1, 2))
    check = eq11_check(run_metrics, "a", "b")
    assert (check["verdict"] == "holds").all() and (check["n"] == 3).all()
    assert check["easy_value"].iloc[0] == pytest.approx(0.16)  # mean of 0.15, 0.16, 0.17
    assert (eq11_check(run_metrics, "b", "a")["verdict"] == "does not hold").all()


def test_eq11_with_one_seed_is_inconclusive():
    check = eq11_check(eq11_metrics((0,)), "a", "b")
    assert (check["verdict"] == "inconclusive").all()
    assert check["reason"].str.startswith("1 seed").all()


def test_eq11_leaves_out_flagged_runs_and_counts_them():
    run_metrics = eq11_metrics((0, 1, 2)).assign(not_learning=False)
    run_metrics.loc[0, ["m_er", "not_learning"]] = [0.69, True]
    check = eq11_check(run_metrics, "a", "b")
    assert "left out 1 runs flagged diverged or not learning (1 a)" in check["reason"].iloc[0]
    assert check["easy_value"].iloc[0] == pytest.approx((0.2 + 0.16 + 0.17) / 3)


def test_figures_render_to_png_svg_and_html(curves_and_metrics, tmp_path):
    curves, run_metrics = curves_and_metrics
    easy = run_metrics[run_metrics.dataset == "easy"]
    save_figure(convergence_fits(curves, easy, "easy"), tmp_path / "f4.png", tmp_path / "f4.svg")
    save_figure(parallel_coordinates(easy, "easy"), tmp_path / "f5.png")
    save_figure(stability_by_arch(run_metrics), tmp_path / "f6.png")
    html = parallel_coordinates_html(easy, "easy")
    for name in ("f4.png", "f4.svg", "f5.png", "f6.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert "parcoords" in html and "log10 M_er" in html  # registry symbols label the axes


def grid_metrics(m_er: list[float], flags: list[bool], seeds: list[int],
                 lrs: list[float] | None = None) -> pd.DataFrame:
    """A unet grid on data set 'easy' with the given M_er, diverged flag and seed per run."""
    n = len(m_er)
    lrs = lrs or [0.001] * n
    return pd.DataFrame({
        "run_id": [f"A/easy/unet/random/lr{lr:g}/s{seed}/cpu"
                   for lr, seed in zip(lrs, seeds, strict=True)],
        "study": "A", "dataset": "easy", "arch": "unet", "init": "random", "lr": lrs,
        "seed": seeds, "device": "cpu", "m_er": m_er, "d_unif": [0.9] * n,
        "diverged": flags, "not_learning": [False] * n,
        "flag_reason": ["test loss 2.2e+07 at epoch 3 exceeds 10 × its epoch-1 value 0.71"
                        if flag else "" for flag in flags]})


def test_table5_leaves_out_flagged_runs_and_counts_them():
    # the lr=1000 run has the lowest M_er of the grid but is flagged diverged
    run_metrics = grid_metrics([0.05, 0.3, 0.4], [True, False, False], [0, 0, 0],
                               [1000.0, 0.001, 0.0001])
    table = best_per_arch(run_metrics)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["m_er"], row["lr"], row["n_runs"], row["n_flagged"]) == (0.3, 0.001, 3, 1)
    assert table5_notes(run_metrics) == [
        "Left out 1 of 3 runs: 1 flagged diverged, 0 (more) flagged not learning; n_flagged "
        "counts them per data set and architecture."]


def test_table5_keeps_a_row_for_an_architecture_whose_runs_are_all_flagged():
    run_metrics = grid_metrics([0.05, 0.06], [True, True], [0, 1])
    row = best_per_arch(run_metrics).iloc[0]
    assert pd.isna(row["m_er"]) and (row["n_runs"], row["n_flagged"]) == (2, 2)


def test_seed_aggregate_has_n_mean_std_and_a_student_t_interval():
    # lr 0.001: seeds 0-2 at M_er 0.2, 0.3, 0.4 (+ a flagged seed 3); lr 0.0001: 0.5, 0.7
    run_metrics = grid_metrics([0.2, 0.3, 0.4, 1e7, 0.5, 0.7],
                               [False, False, False, True, False, False],
                               [0, 1, 2, 3, 0, 1], [0.001] * 4 + [0.0001] * 2)
    table = seed_aggregate(run_metrics).set_index("lr")
    first = table.loc[0.001]
    assert (first["n"], first["n_flagged"], bool(first["best"])) == (3, 1, True)
    assert first["m_er_mean"] == pytest.approx(0.3)
    assert first["m_er_std"] == pytest.approx(0.1)
    half_width = 4.302653 * 0.1 / 3 ** 0.5  # t(0.975, 2) × s / √n
    assert first["m_er_ci_low"] == pytest.approx(0.3 - half_width, rel=1e-5)
    assert first["m_er_ci_high"] == pytest.approx(0.3 + half_width, rel=1e-5)
    second = table.loc[0.0001]
    assert (second["n"], bool(second["best"])) == (2, False)
    assert second["m_er_mean"] == pytest.approx(0.6)
    assert seed_notes(run_metrics)[0].startswith(
        "Mean ± std and Student-t 95 % interval over 2–3 seeds per configuration")


def test_seed_aggregate_of_a_one_seed_grid_says_there_is_no_spread(curves_and_metrics):
    _, run_metrics = curves_and_metrics
    table = seed_aggregate(run_metrics)
    assert (table["n"] + table["n_flagged"] == 1).all() and table["m_er_std"].isna().all()
    assert table["best"].sum() == 4  # one per dataset × arch
    assert seed_notes(run_metrics)[0].startswith("The grid has one seed per configuration")
