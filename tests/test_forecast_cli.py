"""`reusebench forecast` and `reusebench forecast-eval`: outputs, accuracy-only runs,
bad input, and a backtest on real TensorBoard runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from reusebench.glue.cli import EXIT_BAD_INPUT, main

TRAINING_LOGS = ROOT.parent / "shared" / "data" / "training_logs" / "tensorboard_pets_unet"


def _curve_file(tmp_path: Path, make_run, make_curves, name: str = "curves.csv") -> Path:
    x = np.arange(1.0, 26.0)
    runs = [make_run(0.9 * x**-0.3, (0.2 + scale * x**-0.6) * (1 + 0.01 * np.sin(7 * x)),
                     arch=f"a{i}") for i, scale in enumerate((0.8, 1.0, 1.3))]
    runs.append(make_run(x[:6] ** -0.5, x[:6] ** -0.5, arch="short"))
    path = tmp_path / name
    make_curves(*runs).to_csv(path, index=False)
    return path


def test_forecast_writes_one_row_per_run_n_and_predictor(tmp_path, make_run, make_curves,
                                                          capsys):
    out = tmp_path / "forecast.parquet"
    code = main(["forecast", str(_curve_file(tmp_path, make_run, make_curves)), "-o", str(out),
                 "--observed", "8", "12", "--draws", "60", "--threads", "1"])
    assert code == 0
    table = pd.read_parquet(out)
    assert len(table) == 4 * 2 * 3
    short = table[table["arch"] == "short"]
    assert set(short["status"]) == {"shorter_than_n"} and short["final"].isna().all()
    done = table[table["arch"] != "short"]
    assert set(done["status"]) == {"ok"}
    for outcome in ("final", "best", "best_epoch"):
        assert (done[f"{outcome}_lo95"] <= done[f"{outcome}_lo80"]).all()
        assert (done[f"{outcome}_lo80"] <= done[outcome]).all()
        assert (done[outcome] <= done[f"{outcome}_hi80"]).all()
        assert (done[f"{outcome}_hi80"] <= done[f"{outcome}_hi95"]).all()
    assert done.loc[done["predictor"] == "ensemble", "detail"].str.contains("pow3").any()
    assert "forecasts" in capsys.readouterr().out


def test_accuracy_only_runs_forecast_one_minus_accuracy(tmp_path):
    x = np.arange(1, 21)
    table = pd.DataFrame({"study": "N", "dataset": "cifar10", "arch": "cell", "init": "random",
                          "lr": 0.1, "seed": 0, "device": "cpu", "epoch": x,
                          "test_accuracy": 0.9 - 0.5 * x**-0.7})
    source, out = tmp_path / "acc.csv", tmp_path / "out.csv"
    table.to_csv(source, index=False)
    assert main(["forecast", str(source), "-o", str(out), "--observed", "10",
                 "--predictors", "pw", "ensemble", "--draws", "60"]) == 0
    result = pd.read_csv(out)
    assert set(result["target"]) == {"1-test_accuracy"}
    assert set(result["status"]) == {"ok"}
    assert result["final"].between(0.05, 0.2).all()  # 1 − acc at epoch 20 is 0.1 + 0.5·20^-0.7


def test_forecast_eval_writes_table_runs_and_figures(tmp_path, make_run, make_curves):
    out = tmp_path / "eval" / "backtest.csv"
    code = main(["forecast-eval", str(_curve_file(tmp_path, make_run, make_curves)), "-o",
                 str(out), "--observed", "8", "12", "--draws", "60", "--threads", "1"])
    assert code == 0
    summary = pd.read_csv(out)
    assert len(summary) == 2 * 3
    assert {"final_mae", "best_cover80", "final_crps", "stop_correct",
            "seconds_per_curve"} <= set(summary.columns)
    for name in ("backtest_runs.csv", "backtest_coverage.png", "backtest_error.png"):
        assert (out.parent / name).stat().st_size > 0


def _bad_accuracy(tmp_path: Path) -> Path:
    path = tmp_path / "percent.csv"
    pd.DataFrame({"study": "N", "dataset": "d", "arch": "a", "init": "random", "lr": 0.1,
                  "seed": 0, "device": "cpu", "epoch": [1, 2],
                  "test_accuracy": [55.0, 60.0]}).to_csv(path, index=False)
    return path


BAD_ARGUMENTS = {
    "wrong suffix": (["--observed", "8"], "out.txt", "must end in .csv or .parquet"),
    "observed below 3": (["--observed", "2"], "out.csv", "at least 3"),
    "too few draws": (["--observed", "8", "--draws", "10"], "out.csv", "at least 40"),
    "missing file": (["--observed", "8"], "out.csv", "no such curve file"),
    "percent accuracy": (["--observed", "8"], "out.csv", "fraction in [0, 1]"),
}


@pytest.mark.parametrize("command", ["forecast", "forecast-eval"])
@pytest.mark.parametrize("case", sorted(BAD_ARGUMENTS))
def test_bad_input_is_one_sentence_exit_2_and_no_output(tmp_path, make_run, make_curves,
                                                       capsys, command, case):
    options, out_name, message = BAD_ARGUMENTS[case]
    source = _curve_file(tmp_path, make_run, make_curves)
    if case == "missing file":
        source = tmp_path / "absent.csv"
    elif case == "percent accuracy":
        source = _bad_accuracy(tmp_path)
    out = tmp_path / "out" / out_name
    code = main([command, str(source), "-o", str(out), *options])
    error = capsys.readouterr().err.strip()
    assert code == EXIT_BAD_INPUT
    assert error.startswith("reusebench: error:") and message in error
    assert len(error.splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not TRAINING_LOGS.is_dir(),
                    reason=f"real TensorBoard runs not found at {TRAINING_LOGS}")
def test_backtest_on_real_tensorboard_runs(tmp_path):
    """18 real UNet runs (16–50 epochs): every predictor forecasts every run at N = 10."""
    curves = tmp_path / "pets.csv"
    assert main(["ingest", str(TRAINING_LOGS / "runs"), "-o", str(curves)]) == 0
    out = tmp_path / "backtest.csv"
    assert main(["forecast-eval", str(curves), "-o", str(out), "--observed", "10",
                 "--draws", "100", "--threads", "1"]) == 0
    summary = pd.read_csv(out).set_index("predictor")
    assert list(summary.index) == ["pw", "exp", "ensemble"]
    assert (summary["forecast"] == 18).all()
    for column in ("final_mae", "best_mae", "final_cover95", "final_width95", "final_crps"):
        assert np.isfinite(summary[column]).all(), column
    assert (summary["stop_scored"] == 17).all()
