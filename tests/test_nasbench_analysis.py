"""NAS-Bench-101 analysis: families, contour metrics and the paper's claims."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reusebench.data.nasbench.records import read_nasbench
from reusebench.reporting.nasbench.analysis import (
    INCEPTION,
    RESNET,
    analyse,
    cell_family,
    contour_fits,
    graph_compatibility,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nasbench101"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"real NAS-Bench data absent at {DATA}")


def test_family_is_resnet_like_when_input_feeds_output():
    # 3 vertices, row-major: input→conv, conv→output, input→output
    assert cell_family("011001000", 3) == RESNET
    assert cell_family("010001000", 3) == INCEPTION


def test_graph_compatibility_sums_inception_minus_resnet_over_matched_points():
    contour = pd.DataFrame({
        "family": [INCEPTION, INCEPTION, RESNET, RESNET, RESNET],
        "epochs": [4, 12, 4, 12, 36], "stage": ["final"] * 5,
        "validation": [0.8, 0.9, 0.7, 0.85, 0.95]})
    # only budgets 4 and 12 are matched: (0.8 - 0.7) + (0.9 - 0.85) = 0.15
    assert graph_compatibility(contour) == pytest.approx(0.15)


@needs_data
def test_ec_nas_claims_are_decided_over_its_three_repeats():
    tables = analyse(read_nasbench([DATA / "ecnas_energy_4V9E.tfrecord"]))
    assert set(tables["metrics"]["family"]) == {RESNET, INCEPTION}
    assert tables["metrics"]["n_cells"].sum() == 91
    claims = tables["claims"]
    assert list(claims["points"]) == [8] * 4 and list(claims["n"]) == [3] * 4
    # ResNet-like 0.1569 vs Inception-like 0.1659: within the spread of the three repeats
    assert list(claims["verdict"]) == ["holds", "holds", "inconclusive", "holds"], claims
    assert "contains 0" in claims["reason"].iloc[2]


@needs_data
def test_json_export_without_train_accuracy_reports_d_unif_as_not_run():
    tables = analyse(read_nasbench([DATA / "nasbench-vis_data-1k.json"]))
    claims = tables["claims"].set_index("claim")
    assert claims["verdict"].iloc[0] == "not run"
    # final validation accuracy only, four budgets, one repeat: nothing can be decided
    assert list(claims["verdict"].iloc[1:]) == ["inconclusive"] * 3
    assert claims["reason"].iloc[1].startswith("4 points per contour")
    assert claims["reason"].iloc[3].startswith("1 repeat")
    assert np.isfinite(tables["metrics"]["delta_fit_pw"]).all()


def test_a_fit_trapped_by_an_error_of_zero_is_nan_with_its_status_not_a_huge_number():
    # one repeat of the mini benchmark: the Inception-like contour reaches accuracy 1.0
    contour = pd.DataFrame({
        "family": INCEPTION, "epochs": [1, 1, 2, 2, 4, 4, 8, 8],
        "stage": ["final", "halfway"] * 4,
        "epoch": [1.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, 8.0],
        "validation": [0.14, 0.14, 0.14, 0.2, 0.231667, 0.665, 0.898333, 1.0]})
    fits = contour_fits(contour)
    assert np.isnan(fits["delta_fit_pw"]) and fits["fit_pw_status"] == "worse_than_mean"
    assert fits["fit_exp_status"] != "ok" and np.isnan(fits["delta_fit_exp"])
