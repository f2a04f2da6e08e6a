"""Study A tables (Table 5, Eq. 11) and figures drawn from metric tables."""

import pandas as pd
import pytest

from reusebench.figures import (
    convergence_fits,
    parallel_coordinates,
    parallel_coordinates_html,
    stability_by_arch,
)
from reusebench.metrics import per_run_metrics
from reusebench.plots import save_figure
from reusebench.study_a import best_per_arch, eq11_check
from reusebench.synthetic import synthetic_curves, synthetic_grid


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


def test_eq11_compares_medians_and_flips_when_datasets_swap():
    run_metrics = pd.DataFrame({"dataset": ["a", "a", "b", "b"], "m_er": [0.1, 0.2, 0.5, 0.6],
                                "d_unif": [0.99, 0.98, 0.5, 0.4],
                                "delta_fit_pw_20": [1.0, 2.0, 3.0, 4.0]})
    assert (eq11_check(run_metrics, "a", "b")["verdict"] == "holds").all()
    assert (eq11_check(run_metrics, "b", "a")["verdict"] == "does not hold").all()


def test_figures_render_to_png_svg_and_html(curves_and_metrics, tmp_path):
    curves, run_metrics = curves_and_metrics
    easy = run_metrics[run_metrics.dataset == "easy"]
    save_figure(convergence_fits(curves, easy, "easy"), tmp_path / "f4.png", tmp_path / "f4.svg")
    save_figure(parallel_coordinates(easy, "easy"), tmp_path / "f5.png")
    save_figure(stability_by_arch(run_metrics), tmp_path / "f6.png")
    html = parallel_coordinates_html(easy, "easy")
    for name in ("f4.png", "f4.svg", "f5.png", "f6.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert "parcoords" in html and "log10 m_er" in html
