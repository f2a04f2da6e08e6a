"""Metrics of partial curves from experiment trackers: accuracy-only runs (losses are
1 − accuracy, ``loss_kind`` "1 - accuracy") and runs without a train loss (Optuna trials)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from reusebench.core.curves import validate_curves
from reusebench.core.metricdefs import METRICS_TABLE, metric_defs
from reusebench.core.metrics import FROM_ACCURACY, NO_LOSS, TRAIN_NOT_LOGGED, per_run_metrics
from reusebench.data.ingest import convert
from reusebench.glue import cli

ACCURACY = [0.30, 0.52, 0.61, 0.68, 0.72, 0.75, 0.77, 0.78, 0.79, 0.80, 0.80, 0.81]
ERROR = [1 - a for a in ACCURACY]
TRAIN_ERROR = [0.95 * e for e in ERROR]
PER_RUN = [m for m in metric_defs() if m.source == METRICS_TABLE]
NO_LOSS_METRICS = [m.column for m in PER_RUN if not m.on_accuracy_curves and m.uses_losses()]
FIT_POINTS = (4, 8)  # every Δ(fit) defined on the 12-epoch curves
ERROR_METRICS = [m.column for m in metric_defs(FIT_POINTS)
                 if m.source == METRICS_TABLE and m.on_accuracy_curves]


def metrics_of(raw: pd.DataFrame, **options) -> pd.DataFrame:
    return per_run_metrics(validate_curves(raw, "memory"), **options).set_index("init")


def test_the_loss_kind_metrics_reads_is_the_one_ingest_writes():
    assert (convert.LOSS_KIND_COLUMN, convert.FROM_ACCURACY) == ("loss_kind", FROM_ACCURACY)


@pytest.mark.parametrize("definitions", ["paper", "authors"])
def test_an_accuracy_only_run_gets_error_metrics_and_no_loss_metrics(make_run, make_curves,
                                                                      definitions):
    raw = make_curves(make_run(TRAIN_ERROR, ERROR, init="accuracy", loss_kind=FROM_ACCURACY),
                      make_run(TRAIN_ERROR, ERROR, init="loss", loss_kind="loss",
                               seconds=[2.0] * len(ERROR)))
    table = metrics_of(raw, definitions=definitions, fit_points=FIT_POINTS)
    accuracy, loss = table.loc["accuracy"], table.loc["loss"]
    assert NO_LOSS_METRICS == ["m_er", "ep_star", "m_stab", "t_m_er", "d_re"]
    for column in NO_LOSS_METRICS:
        assert pd.isna(accuracy[column]), column
        assert not pd.isna(loss[column]), column  # the same curve marked as a loss has them
    assert accuracy["m_stab_status"] == accuracy["d_re_status"] == NO_LOSS
    assert accuracy["stab_window"] == 0
    # the error-based metrics are computed on 1 − accuracy, equal to the loss run's
    for column in ERROR_METRICS:
        assert math.isfinite(accuracy[column]), column
        assert accuracy[column] == pytest.approx(loss[column]), column
    assert accuracy["d_unif_status"] == "ok" and accuracy["fit_pw_8_status"] == "ok"
    assert not accuracy["diverged"] and not accuracy["not_learning"]


@pytest.mark.parametrize("definitions", ["paper", "authors"])
def test_a_run_without_train_loss_is_not_diverged_and_says_not_logged(make_run, make_curves,
                                                                       definitions):
    missing = [np.nan] * len(ERROR)
    raw = make_curves(make_run(missing, ERROR, init="test_only"),
                      make_run(missing, [*ERROR[:4], np.inf, *ERROR[5:]], init="blown_up"),
                      make_run([*TRAIN_ERROR[:2], np.inf, *TRAIN_ERROR[3:]], ERROR,
                               init="train_inf"))
    table = metrics_of(raw, definitions=definitions)
    test_only = table.loc["test_only"]
    assert not test_only["diverged"] and test_only["flag_reason"] == ""
    train_metrics = [m.column for m in PER_RUN if "train_loss" in m.needs]
    assert train_metrics == ["d_re", "d_unif"]
    for column in train_metrics:
        assert pd.isna(test_only[column]) and test_only[f"{column}_status"] == TRAIN_NOT_LOGGED
    assert test_only["m_er"] == min(ERROR) and test_only["delta_fit_min"] > 0
    if definitions == "authors":  # their M_stab sums |H_test − min H_train|
        assert pd.isna(test_only["m_stab"]) and test_only["m_stab_status"] == TRAIN_NOT_LOGGED
    else:
        assert test_only["m_stab"] >= 0 and test_only["m_stab_status"] == "ok"
    # real divergence is still flagged, with or without a train curve
    assert table.loc["blown_up", "diverged"]
    assert table.loc["blown_up", "flag_reason"] == "non-finite test loss at epoch 5"
    assert table.loc["train_inf", "diverged"]
    assert table.loc["train_inf", "flag_reason"] == "non-finite train loss at epoch 3"
    if definitions == "paper":  # the authors' code clips inf to 36 first
        assert table.loc["train_inf", "d_re_status"] == "non-finite train loss at epoch 3"


def _optuna_storage(path, direction: str) -> None:
    optuna = pytest.importorskip("optuna", reason="optuna is not installed")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(storage=f"sqlite:///{path}", study_name="seg_unet",
                                direction=direction)
    curve = ACCURACY if direction == "maximize" else ERROR

    def objective(trial):
        trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        for step, value in enumerate(curve):
            trial.report(value, step)
        return curve[-1]

    study.optimize(objective, n_trials=2)


@pytest.mark.parametrize(("direction", "suffix"), [("minimize", "csv"),
                                                   ("maximize", "parquet")])
def test_an_ingested_optuna_study_round_trips_through_metrics(tmp_path, capsys, direction,
                                                              suffix):
    storage, curves = tmp_path / "optuna.db", tmp_path / f"curves.{suffix}"
    _optuna_storage(storage, direction)
    assert cli.main(["ingest", str(storage), "-o", str(curves)]) == 0
    out = tmp_path / "metrics"
    assert cli.main(["metrics", str(curves), "-o", str(out)]) == 0
    assert "flagged: 0 diverged" in capsys.readouterr().out
    table = pd.read_csv(out / "metrics.csv")
    assert len(table) == 2 and not table["diverged"].any()
    assert (table["d_unif_status"] == TRAIN_NOT_LOGGED).all()
    assert table["delta_fit_pw_10"].notna().all()
    if direction == "maximize":  # accuracies: 1 − accuracy, no loss
        assert table["m_er"].isna().all() and (table["d_re_status"] == NO_LOSS).all()
    else:
        assert table["m_er"].tolist() == [min(ERROR)] * 2
        assert (table["d_re_status"] == TRAIN_NOT_LOGGED).all()


# The scorecard's Eq. 11 Δ(fit) claim names the fit point the metrics table had.

def _eq11_of(fit_column: str) -> pd.DataFrame:
    from reusebench.reporting.study_a.tables import eq11_check

    rows = [{"dataset": dataset, "arch": arch, "seed": seed, "m_er": m_er, "d_unif": 0.5,
             fit_column: m_er + 0.01 * seed}
            for seed in (0, 1, 2) for arch in ("unet", "lraspp")
            for dataset, m_er in (("easy", 0.1), ("hard", 0.5))]
    return eq11_check(pd.DataFrame(rows), "easy", "hard")


def test_the_scorecard_names_the_fit_point_the_check_used():
    from reusebench.reporting.scorecard import EQ11, scorecard

    default = scorecard("default", eq11=_eq11_of("delta_fit_pw_20")).iloc[2]
    assert default["holds_when"] == EQ11[2].holds_when
    assert "power model fitted to 20 epochs" in default["holds_when"]
    other = scorecard("default", eq11=_eq11_of("delta_fit_pw_10")).iloc[2]
    assert "power model fitted to 10 epochs" in other["holds_when"]
    assert "20 epochs" not in other["holds_when"] and "no delta_fit_pw_20" in other["holds_when"]
    assert other["verdict"] == default["verdict"] == "holds"
