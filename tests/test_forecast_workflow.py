"""Forecasts beyond the CLI: NAS-Bench-101 contours as curves, the forecast in model cards,
`recommend --forecast`, the scorecard's "PW predicts better than EXP" claim, and the
workflow's forecast stage end to end (tests/configs/tiny.yaml, the shared ``finished_run``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT
from test_cards import provenance, segmentation_curves

from reusebench.core.curves import validate_curves, write_curves
from reusebench.core.errors import InputError
from reusebench.core.evidence import FAILS, HOLDS, INCONCLUSIVE, NOT_RUN
from reusebench.core.forecast.backtest import backtest_runs
from reusebench.core.forecast.predict import forecast_table, latest_forecasts
from reusebench.core.forecast.targets import (
    ERROR_TARGET,
    LOSS_TARGET,
    nasbench_curves,
    targets_of,
    with_error_targets,
)
from reusebench.core.metric_tables import compute_metric_files
from reusebench.glue.cli import EXIT_BAD_INPUT, main
from reusebench.reporting.cards.build import write_study_cards
from reusebench.reporting.recommend import PREDICTED_M_ER, task_of, with_forecast
from reusebench.reporting.scorecard import FORECAST_PW_EXP, forecast_pw_exp_row, scorecard

TRAINING_LOGS = ROOT.parent / "shared" / "data" / "training_logs" / "tensorboard_pets_unet"
OBSERVED = [5, 10]  # the card runs have 12 epochs: N = 10 is the largest that forecasts


# ---------------------------------------------------------------- NAS-Bench-101 contours


def test_nasbench_cells_become_curves_over_their_evaluation_points():
    records = pd.DataFrame({
        "module_hash": ["c1"] * 4 + ["c2"] * 2, "epochs": [4, 4, 12, 12, 4, 12],
        "repeat": [0, 1, 0, 1, 0, 0], "halfway_epoch": [2, 2, 6, 6, 2, 6],
        "final_epoch": [4, 4, 12, 12, 4, 12],
        "halfway_test_accuracy": [0.3, 0.5, 0.6, 0.6, 0.2, 0.5],
        "final_test_accuracy": [0.5, 0.7, 0.8, 0.9, 0.4, 0.6]})
    curves = nasbench_curves(records, "mini")
    c1 = curves[curves["arch"] == "c1"]
    assert list(c1["epoch"]) == [1, 2, 3, 4] and list(c1["nasbench_epoch"]) == [2, 4, 6, 12]
    np.testing.assert_allclose(c1["test_accuracy"], [0.4, 0.6, 0.6, 0.85])
    targets = targets_of(validate_curves(with_error_targets(curves, "x"), source="x"))
    assert set(targets.kind) == {ERROR_TARGET}
    np.testing.assert_allclose(targets.values[0], [0.6, 0.4, 0.4, 0.15])
    assert set(targets.runs["study"]) == {"nasbench"} and set(targets.runs["dataset"]) == {"mini"}
    with pytest.raises(InputError, match="final_epoch"):
        nasbench_curves(records.drop(columns="final_epoch"), "mini")


# ---------------------------------------------------------------- a Study A tree with forecasts


@pytest.fixture
def forecast_tree(tmp_path) -> Path:
    """Three Study A runs of 12 epochs (metrics tables, run folders) and their forecast table."""
    results = tmp_path / "results"
    curve_files = []
    for arch, init, scale in (("unet", "random", 1.0), ("unet", "pretrained", 0.8),
                              ("lraspp", "random", 1.5)):
        run_dir = results / "runs" / "A" / "easy" / arch / init / "lr0.001" / "s0" / "cpu"
        curves = segmentation_curves(arch, init, scale)
        curves["test_loss"] *= 1 + 0.02 * np.sin(3.0 * curves["epoch"] + scale)
        write_curves(curves, run_dir / "curves.csv")
        (run_dir / "provenance.json").write_text(json.dumps(provenance(arch, init)))
        (run_dir / "checkpoint.pt").write_bytes(b"\0" * 1000)
        curve_files.append(run_dir / "curves.csv")
    compute_metric_files(curve_files, results / "metrics" / "A")
    from reusebench.core.forecast.targets import read_targets

    table = forecast_table(read_targets(curve_files), OBSERVED, ["pw", "exp"], 60)
    (results / "forecast" / "A").mkdir(parents=True)
    table.to_csv(results / "forecast" / "A" / "forecast.csv", index=False)
    return results


def test_latest_forecast_is_the_first_predictors_at_the_largest_n_that_gave_one(forecast_tree):
    table = pd.read_csv(forecast_tree / "forecast" / "A" / "forecast.csv")
    latest = latest_forecasts(table)
    assert len(latest) == 3 and set(latest["predictor"]) == {"pw"}
    assert set(latest["observed_n"]) == {10}
    assert set(latest_forecasts(table, "exp")["predictor"]) == {"exp"}


def test_cards_carry_the_forecast_at_the_largest_n_with_its_intervals(forecast_tree, tmp_path):
    run_dirs = sorted(path.parent for path in (forecast_tree / "runs" / "A").rglob("curves.csv"))
    out = tmp_path / "cards"
    contents = write_study_cards(run_dirs, forecast_tree / "metrics" / "A" / "metrics.parquet",
                                 out, tmp_path / "index.md",
                                 forecast_path=forecast_tree / "forecast" / "A" / "forecast.csv")
    for content in contents:
        forecast = content["forecast"]
        assert forecast["predictor"] == "pw" and forecast["observed_n"] == 10
        assert forecast["horizon"] == 12 and forecast["reason"] == ""
        for name in ("final", "best"):
            values = forecast["outcomes"][name]
            assert (values["lo95"] <= values["lo80"] <= values["median"] <= values["hi80"]
                    <= values["hi95"])
        curves = pd.read_csv(forecast_tree / "runs" / "A" / Path(*content["run_id"].split("/")[1:])
                             / "curves.csv")
        assert forecast["actual"]["final"] == pytest.approx(curves["test_loss"].iloc[-1], 1e-5)
        assert forecast["actual"]["best"] == pytest.approx(curves["test_loss"].min(), 1e-5)
    card = next(out.rglob("README.md")).read_text()
    section = card.split("## Forecast\n\n")[1].split("\n## ")[0]
    assert "From its first 10 epochs (of 12), predictor `pw`" in section
    assert "| M_er (best test loss) |" in section and "95 % interval" in section
    saved = json.loads(next(out.rglob("card.json")).read_text())
    assert saved["forecast"]["observed_n"] == 10


def test_cards_show_the_conformal_interval_where_the_forecast_table_has_one(forecast_tree,
                                                                           tmp_path):
    from reusebench.core.forecast.backtest import backtest_runs
    from reusebench.core.forecast.conformal import calibrate_each_run
    from reusebench.core.forecast.targets import read_targets

    run_dirs = sorted(path.parent for path in (forecast_tree / "runs" / "A").rglob("curves.csv"))
    targets = read_targets([run_dir / "curves.csv" for run_dir in run_dirs])
    past, _ = backtest_runs(targets, OBSERVED, ["pw", "exp"], 60)
    path = forecast_tree / "forecast" / "A" / "forecast.csv"
    calibrate_each_run(pd.read_csv(path, dtype={"run_id": str}), past).to_csv(path, index=False)
    contents = write_study_cards(run_dirs, forecast_tree / "metrics" / "A" / "metrics.parquet",
                                 tmp_path / "cards", tmp_path / "index.md", forecast_path=path)
    # 3 runs: the other two cannot back an 80 % interval (⌈3 · 0.8⌉ = 3 > 2), so unbounded
    assert all(content["forecast"]["outcomes"]["final"]["lo80_conformal"] == "unbounded"
               for content in contents)
    section = next((tmp_path / "cards").rglob("README.md")).read_text().split(
        "## Forecast\n\n")[1].split("\n## ")[0]
    assert "80 % conformal" in section and "| unbounded |" in section


def test_the_single_run_card_command_carries_the_results_trees_forecast(forecast_tree,
                                                                          tmp_path, capsys):
    run_dir = next((forecast_tree / "runs" / "A").rglob("curves.csv")).parent
    assert main(["card", str(run_dir), "-o", str(tmp_path / "tree")]) == 0
    assert json.loads((tmp_path / "tree" / "card.json").read_text())["forecast"][
        "observed_n"] == 10
    other = tmp_path / "other.csv"
    table = pd.read_csv(forecast_tree / "forecast" / "A" / "forecast.csv")
    table[table["observed_n"] == 5].to_csv(other, index=False)
    assert main(["card", str(run_dir), "-o", str(tmp_path / "given"), "--forecast",
                 str(other)]) == 0
    assert json.loads((tmp_path / "given" / "card.json").read_text())["forecast"][
        "observed_n"] == 5
    (forecast_tree / "forecast" / "A" / "forecast.csv").unlink()
    assert main(["card", str(run_dir), "-o", str(tmp_path / "none")]) == 0
    assert json.loads((tmp_path / "none" / "card.json").read_text())["forecast"] is None
    capsys.readouterr()
    assert main(["card", str(run_dir), "-o", str(tmp_path / "bad"), "--forecast",
                 str(tmp_path / "missing.csv")]) == EXIT_BAD_INPUT
    assert "missing.csv" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_a_card_says_why_its_run_has_no_forecast(forecast_tree, tmp_path):
    table = pd.read_csv(forecast_tree / "forecast" / "A" / "forecast.csv")
    table.loc[table["observed_n"] == 10, "status"] = "no_epochs_after_n"
    table.loc[table["observed_n"] == 5, "status"] = "fit_failed"
    path = tmp_path / "forecast.csv"
    table.to_csv(path, index=False)
    run_dirs = sorted(path.parent for path in (forecast_tree / "runs" / "A").rglob("curves.csv"))
    contents = write_study_cards(run_dirs, forecast_tree / "metrics" / "A" / "metrics.parquet",
                                 tmp_path / "cards", tmp_path / "index.md", forecast_path=path)
    forecast = contents[0]["forecast"]
    assert forecast["outcomes"] is None
    assert forecast["reason"] == ("no N gave a forecast (N = 5: fit_failed, "
                                  "N = 10: no_epochs_after_n)")
    card = next((tmp_path / "cards").rglob("README.md")).read_text()
    assert "No forecast of this run by `pw`: no N gave a forecast" in card


def test_cards_without_a_forecast_table_have_no_forecast_section(forecast_tree, tmp_path):
    run_dirs = sorted(path.parent for path in (forecast_tree / "runs" / "A").rglob("curves.csv"))
    contents = write_study_cards(run_dirs, forecast_tree / "metrics" / "A" / "metrics.parquet",
                                 tmp_path / "cards", tmp_path / "index.md")
    assert all(content["forecast"] is None for content in contents)
    assert "## Forecast" not in next((tmp_path / "cards").rglob("README.md")).read_text()


# ---------------------------------------------------------------- recommend --forecast


def test_refine_ranks_by_the_predicted_m_er_and_shows_its_interval(forecast_tree):
    metrics = pd.read_parquet(forecast_tree / "metrics" / "A" / "metrics.parquet")
    table = pd.read_csv(forecast_tree / "forecast" / "A" / "forecast.csv")
    from reusebench.reporting.recommend import candidate_table, recommend

    task = task_of("refine")
    refine, candidates = with_forecast(task, candidate_table(task, metrics), table)
    assert refine.metrics[0] == PREDICTED_M_ER and refine.metrics[1:] == task.metrics
    result = recommend(refine, candidates).table
    assert result["rank"].notna().all()
    latest = latest_forecasts(table)
    by_forecast = result["forecast_m_er"].rank(method="min").astype(int)
    for row, rank in zip(result.itertuples(), by_forecast, strict=True):
        assert row.forecast_m_er == pytest.approx(latest.loc[row.run_id, "best"])
        assert row.forecast_m_er_lo80 <= row.forecast_m_er <= row.forecast_m_er_hi80
        assert row.reason.split(": ", 1)[1].startswith(
            f"predicted M_er {row.forecast_m_er:.4g} [80 %: {row.forecast_m_er_lo80:.4g}, "
            f"{row.forecast_m_er_hi80:.4g}; N = 10, pw] (#{rank}/3, lower is better)")


def test_recommend_cli_takes_a_forecast_table_for_refine_only(forecast_tree, tmp_path, capsys):
    metrics = forecast_tree / "metrics" / "A" / "metrics.parquet"
    forecast = forecast_tree / "forecast" / "A" / "forecast.csv"
    out = tmp_path / "refine.csv"
    assert main(["recommend", "--task", "refine", "--metrics", str(metrics), "--forecast",
                 str(forecast), "-o", str(out)]) == 0
    written = pd.read_csv(out)
    assert {"forecast_m_er", "forecast_m_er_lo80", "forecast_m_er_hi95", "forecast_n",
            "forecast_predictor"} <= set(written.columns)
    assert main(["recommend", "--task", "reproduce", "--metrics", str(metrics), "--forecast",
                 str(forecast), "-o", str(tmp_path / "no.csv")]) == EXIT_BAD_INPUT
    error = capsys.readouterr().err.strip()
    assert "--forecast is used by task refine only" in error and len(error.splitlines()) == 1
    assert not (tmp_path / "no.csv").exists()
    assert main(["recommend", "--task", "refine", "--metrics", str(metrics), "--forecast",
                 str(metrics)]) == EXIT_BAD_INPUT
    assert "not a forecast table" in capsys.readouterr().err


# ---------------------------------------------------------------- the scorecard claim


def _backtest(pw_errors, exp_errors, study="A", n_obs=10) -> pd.DataFrame:
    """A backtest runs table: per run, PW and EXP forecasts off the actual final by the errors."""
    rows = []
    for index, (pw, exp) in enumerate(zip(pw_errors, exp_errors, strict=True)):
        for predictor, error in (("pw", pw), ("exp", exp)):
            rows.append({"run_id": f"{study}/r{index}", "study": study, "dataset": "d",
                         "observed_n": n_obs, "predictor": predictor, "status": "ok",
                         "final": 1.0 + error, "actual_final": 1.0})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("pw", "exp", "verdict"), [
    ([0.01] * 10, [0.05] * 10, HOLDS),
    ([0.05] * 10, [0.01] * 10, FAILS),
    ([0.01, 0.05] * 3, [0.05, 0.01] * 3, INCONCLUSIVE),
])
def test_pw_against_exp_is_a_sign_test_over_runs(pw, exp, verdict):
    row = forecast_pw_exp_row([_backtest(pw, exp)])
    assert row["verdict"] == verdict and row["n"] == len(pw)
    low, high = (float(part) for part in row["interval"].strip("[]").split(","))
    assert low <= np.mean(np.array(pw) < np.array(exp)) <= high
    assert (row["reason"] != "") == (verdict == INCONCLUSIVE)


def test_pw_against_exp_pools_backtests_each_at_its_n_with_most_runs():
    study_a = pd.concat([_backtest([0.01] * 4, [0.05] * 4, n_obs=20),
                         _backtest([0.05] * 6, [0.01] * 6, n_obs=10)])
    study_b = _backtest([0.01] * 6, [0.02] * 6, study="B", n_obs=5)
    row = forecast_pw_exp_row([study_a, study_b])
    assert row["n"] == 12
    assert "Study A (N = 10): PW closer in 0 of 6 runs" in row["ours"]
    assert "Study B (N = 5): PW closer in 6 of 6 runs" in row["ours"]


def test_pw_against_exp_is_not_run_without_backtests_or_pairs():
    assert forecast_pw_exp_row([])["verdict"] == NOT_RUN
    unpaired = _backtest([0.01] * 3, [0.02] * 3)
    unpaired = unpaired[unpaired["predictor"] == "pw"]
    assert forecast_pw_exp_row([unpaired])["verdict"] == NOT_RUN
    without = scorecard("default")
    with_claim = scorecard("default", forecast_backtests=[])
    assert len(with_claim) == len(without) + 1
    assert FORECAST_PW_EXP.claim not in set(without["claim"])
    assert with_claim.set_index("claim").loc[FORECAST_PW_EXP.claim, "verdict"] == NOT_RUN


@pytest.mark.skipif(not TRAINING_LOGS.is_dir(),
                    reason=f"real TensorBoard runs not found at {TRAINING_LOGS}")
def test_pw_predicts_the_real_tensorboard_runs_better_than_exp(tmp_path):
    """18 real UNet runs: PW's final-loss forecast from 10 epochs is closer than EXP's."""
    curves = tmp_path / "pets.csv"
    assert main(["ingest", str(TRAINING_LOGS / "runs"), "-o", str(curves)]) == 0
    from reusebench.core.forecast.targets import read_targets

    runs, _ = backtest_runs(read_targets([curves]), [10], ["pw", "exp"], 60)
    row = forecast_pw_exp_row([runs])
    assert row["n"] == 18 and row["verdict"] == HOLDS, row


# ---------------------------------------------------------------- the workflow end to end

CURVE_SETS = ("synthetic", "A", "B", "nasbench-mini")


@pytest.mark.e2e
def test_tiny_run_forecasts_and_backtests_every_curve_set(finished_run):
    check_forecast_outputs(finished_run)


def check_forecast_outputs(workdir: Path) -> None:
    """The forecast stage's files in a finished tiny run (also callable on any run folder)."""
    results = workdir / "results"
    for name in CURVE_SETS:
        table = pd.read_csv(results / "forecast" / name / "forecast.csv", dtype={"run_id": str})
        assert len(table) == table["run_id"].nunique() * 3 * 4  # runs × N (5, 10, 20) × 4
        assert list(dict.fromkeys(table["predictor"])) == ["pw", "exp", "ensemble", "pfn"]
        for stem in ("forecast", "backtest"):
            markdown = (results / "tables" / "forecast" / name / f"{stem}.md").read_text()
            assert markdown.startswith("# Forecast")
        for figure in ("coverage", "error"):
            assert (results / "figures" / "forecast" / name /
                    f"backtest_{figure}.png").stat().st_size > 1000
        runs = pd.read_csv(results / "forecast" / name / "backtest_runs.csv")
        assert len(runs) == len(table)
    synthetic = pd.read_csv(results / "forecast" / "synthetic" / "forecast.csv")
    ok = synthetic[synthetic["status"] == "ok"]
    assert len(ok) > 0  # 22 epochs: every N forecasts with PW and EXP
    assert ((ok["final_lo95"] <= ok["final"]) & (ok["final"] <= ok["final_hi95"])).all()
    calibrated = ok.dropna(subset=["final_lo80_conformal"])  # from the other runs' backtest
    assert len(calibrated) > 0
    assert (calibrated["final_lo80_conformal"] <= calibrated["final_hi80_conformal"]).all()
    assert "80 % conformal" in (results / "tables" / "forecast" / "synthetic" /
                                "forecast.md").read_text()
    study_a = pd.read_csv(results / "forecast" / "A" / "forecast.csv")
    assert set(study_a["status"]) == {"shorter_than_n"}  # tiny Study A trains 3 epochs
    assert set(pd.read_csv(results / "forecast" / "nasbench-mini" / "forecast.csv")["target"]) \
        == {LOSS_TARGET}  # the mini's per-epoch test-loss curves, not its accuracy contours
    card = json.loads(next((results / "cards" / "A" / "runs").rglob("card.json")).read_text())
    assert card["forecast"]["predictor"] == "pw" and card["forecast"]["outcomes"] is None
    assert "shorter_than_n" in card["forecast"]["reason"]
    check_pfn_outputs(results)
    refine = pd.read_csv(results / "tables" / "reuse" / "A" / "recommend_refine_forecast.csv")
    assert len(refine) > 0 and refine["forecast_m_er"].isna().all()  # 3 epochs: no forecast
    assert "predicted M_er is not measured in any candidate run: left out of the ranking" in (
        results / "tables" / "reuse" / "A" / "recommend_refine_forecast.md").read_text()
    scorecard_table = pd.read_csv(results / "tables" / "reuse" / "scorecard.csv")
    claim = scorecard_table.set_index("claim").loc[FORECAST_PW_EXP.claim]
    assert claim["verdict"] == NOT_RUN and "forecast by both PW and EXP" in claim["reason"]


def check_pfn_outputs(results: Path) -> None:
    """The pipeline trained its own PFN (tiny.yaml: 30 steps), recorded which weights it used,
    and forecast the synthetic curves with them."""
    provenance = json.loads((results / "forecast" / "pfn" / "provenance.json").read_text())
    assert provenance["steps"] == 30 and provenance["source"].startswith("trained by reusebench")
    markdown = (results / "tables" / "forecast" / "synthetic" / "forecast.md").read_text()
    assert f"sha256 {provenance['sha256'][:12]}" in markdown
    assert "forecast/pfn/weights.pt" in markdown
    synthetic = pd.read_csv(results / "forecast" / "synthetic" / "forecast.csv")
    pfn = synthetic[synthetic["predictor"] == "pfn"]
    assert (pfn["status"] == "ok").any()
    assert pfn["detail"].str.contains(provenance["sha256"][:12]).all()


def test_configured_pfn_weights_replace_the_pipelines_own_training(tmp_path):
    from conftest import copy_workflow, snakemake

    workdir = copy_workflow(tmp_path)
    weights = workdir / "mine.pt"
    assert main(["forecast-pfn-train", "-o", str(weights), "--steps", "2"]) == 0
    result = snakemake(workdir, "--configfile", "tiny.yaml", "--dry-run",
                       "--config", "forecast={'pfn': {'weights': 'mine.pt'}}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "forecast_backtest" in result.stdout and "forecast_pfn_train" not in result.stdout
    for override, message in (
            ("forecast={'pfn': {'weights': 'missing.pt'}}",
             "Error: Configuration key forecast.pfn.weights names missing.pt, which is not a "
             "file"),
            ("forecast={'logs': {'mine': 'no/such/runs'}}",
             "Error: Configuration key forecast.logs.mine names no/such/runs, which does not "
             "exist")):
        result = snakemake(workdir, "--configfile", "tiny.yaml", "--dry-run", "--config",
                           override)
        assert result.returncode == 2
        assert message in result.stderr
        assert "Traceback" not in result.stderr and not (workdir / "results").exists()


@pytest.mark.parametrize("pfn, fragment", [
    ({"weights": "nowhere.pt", "device": "cpu"}, "forecast.pfn.weights names nowhere.pt"),
    ({"weights": None, "device": "gpu0"}, "forecast.pfn.device is 'gpu0'; use cpu, cuda"),
])
def test_bad_pfn_settings_are_one_sentence_naming_the_key(pfn, fragment):
    from reusebench.glue.workflow_config import check_forecast, trains_pfn

    config = {"forecast": {"enabled": True, "predictors": ["pw", "pfn"], "pfn": pfn,
                           "logs": {}}}
    with pytest.raises(InputError, match=fragment):
        check_forecast(config)
    config["forecast"]["predictors"] = ["pw"]
    check_forecast(config)  # pfn not asked for: its settings are not read
    assert not trains_pfn(config)


def test_the_pfn_device_is_checked_with_the_other_devices_only_when_the_pipeline_trains_it():
    from reusebench.glue.workflow_config import named_devices

    config = {"study_a": {"devices": ["cpu"], "pretrain": {"device": "cpu"}},
              "study_b": {"pretrain": {"device": "cpu"}, "runs": []},
              "forecast": yaml.safe_load((ROOT / "config" / "config.yaml").read_text())[
                  "forecast"]}
    config["forecast"]["pfn"]["device"] = "cuda:1"
    assert ("forecast.pfn.device", "cuda:1") in named_devices(config)
    config["forecast"]["pfn"]["weights"] = "mine.pt"
    assert all(key != "forecast.pfn.device" for key, _ in named_devices(config))


@pytest.mark.e2e
@pytest.mark.skipif(not TRAINING_LOGS.is_dir(),
                    reason=f"the real TensorBoard runs are not at {TRAINING_LOGS}")
def test_training_logs_a_user_has_are_forecast_and_backtested_by_the_workflow(tmp_path):
    from conftest import copy_workflow, snakemake

    workdir = copy_workflow(tmp_path)
    logs = f"forecast={{'logs': {{'pets': '{TRAINING_LOGS / 'runs'}'}}, 'pfn': {{'steps': 30}}}}"
    target = "results/tables/forecast/logs-pets/backtest.md"
    result = snakemake(workdir, target, "--configfile", "tiny.yaml", "--config", logs)
    assert result.returncode == 0, result.stderr[-3000:]
    results = workdir / "results"
    curves = pd.read_csv(results / "forecast" / "curves" / "logs-pets.csv")
    assert curves.groupby(["arch", "init", "lr", "seed"], dropna=False).ngroups >= 1
    summary = pd.read_csv(results / "tables" / "forecast" / "logs-pets" / "backtest.csv")
    at_ten = summary[summary["observed_n"] == 10].set_index("predictor")
    assert list(at_ten.index) == ["pw", "exp", "ensemble", "pfn"]
    assert (at_ten["runs"] == 18).all() and (at_ten.loc[["pw", "exp"], "forecast"] == 18).all()
    assert at_ten.loc["pw", "final_mae"] < at_ten.loc["exp", "final_mae"]
    assert "Predictor pfn used the weights" in (results / "tables" / "forecast" / "logs-pets" /
                                                 "backtest.md").read_text()
