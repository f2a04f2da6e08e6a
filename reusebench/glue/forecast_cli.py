"""``reusebench forecast`` and ``reusebench forecast-eval``: parsers and handlers."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from reusebench.core.errors import InputError
from reusebench.core.io import check_output, check_table_path

if TYPE_CHECKING:
    import pandas as pd

PREDICTOR_HELP = ("pw, exp: the paper's fits with a residual bootstrap; ensemble: seven "
                  "learning-curve families (Domhan et al. 2015) weighted by their forecast "
                  "of held-out last epochs of the prefix; ensemble_ic: the same weighted by "
                  "AICc")


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register ``forecast`` and ``forecast-eval``."""
    _add_forecast_parser(commands)
    _add_eval_parser(commands)


def _common_options(parser: argparse.ArgumentParser) -> None:
    from reusebench.core.forecast.predict import DEFAULT_DRAWS, DEFAULT_PREDICTORS, PREDICTORS

    parser.add_argument("curves", nargs="+", metavar="CURVES",
                        help="curve table files (.csv or .parquet)")
    parser.add_argument("--observed", type=int, nargs="+", required=True, metavar="N",
                        help="numbers of first epochs a forecast may see")
    parser.add_argument("--pfn-weights", metavar="WEIGHTS.pt",
                        help="weights of `reusebench forecast-pfn-train`: adds the LC-PFN "
                             "predictor pfn (the [forecast] extra)")
    parser.add_argument("--predictors", nargs="+", choices=[*PREDICTORS, "pfn"],
                        default=list(DEFAULT_PREDICTORS), metavar="P",
                        help=f"{PREDICTOR_HELP} (default: {' '.join(DEFAULT_PREDICTORS)})")
    parser.add_argument("--draws", type=int, default=DEFAULT_DRAWS, metavar="S",
                        help="predictive draws per run (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1),
                        help="parallel workers over chunks of 2,048 runs: processes where the "
                             "platform forks, else threads (default: %(default)s); results "
                             "do not depend on it")


def _add_forecast_parser(commands: argparse._SubParsersAction) -> None:
    forecast = commands.add_parser(
        "forecast", help="predict each run's final loss, M_er and ep* from its first N epochs",
        description="For each run and each N, forecast from the first N epochs the final "
                    "test loss, the best test loss M_er and its epoch ep*, each as a median "
                    "with central 80 %% and 95 %% intervals. Runs without a test loss but "
                    "with test_accuracy forecast 1 − test_accuracy. Runs shorter than N, "
                    "diverged in the first N epochs or whose fit fails get a status, not a "
                    "number. Bad input exits with status 2 and writes nothing.")
    _common_options(forecast)
    forecast.add_argument("-o", "--out", required=True, metavar="OUT",
                          help="the table to write (.csv or .parquet, by suffix)")
    forecast.add_argument("--horizon", type=int, metavar="EP",
                          help="the epoch runs end at (default: each run's last epoch)")
    forecast.add_argument("--calibrate", metavar="RUNS",
                          help="the per-run table of a `reusebench forecast-eval` on finished "
                               "runs of the same kind (OUT_runs.csv): adds conformal "
                               "intervals *_lo80_conformal … *_hi95_conformal of the final "
                               "loss and M_er, widened by how far the backtest's intervals "
                               "missed")
    forecast.set_defaults(handler=_run_forecast)


def _add_eval_parser(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser(
        "forecast-eval", help="backtest the forecasts against what the runs then did",
        description="Cut every run at each N, forecast, and compare with the run's actual "
                    "final loss, M_er and ep*: per predictor and N, MAE and median relative "
                    "error, measured coverage of the 80 %% and 95 %% intervals, mean width, "
                    "CRPS, the share of correct early-stopping calls and the time per "
                    "curve; for the final loss and M_er also the width a conformal "
                    "interval needs for nominal coverage and the coverage of one "
                    "calibrated on the other data sets. Writes OUT, OUT_runs (one row per "
                    "run, N and predictor), OUT_coverage.png and OUT_error.png. Bad input "
                    "exits with status 2 and writes nothing.")
    _common_options(evaluate)
    evaluate.add_argument("-o", "--out", required=True, metavar="OUT",
                          help="the summary table to write (.csv or .parquet, by suffix)")
    evaluate.add_argument("--stop-threshold", type=float, default=0.05, metavar="P",
                          help="continue a run when its forecast gives it at least P chance "
                               "to beat the best earlier run (default: %(default)s)")
    evaluate.set_defaults(handler=_run_forecast_eval)


def _check_options(args: argparse.Namespace) -> None:
    if any(n < 3 for n in args.observed):
        raise InputError("--observed must each be at least 3 (a fit needs more points than "
                         "parameters).")
    if args.draws < 40:
        raise InputError(f"--draws must be at least 40 (for a 95 % interval), not "
                         f"{args.draws}.")
    if args.threads < 1:
        raise InputError(f"--threads must be at least 1, not {args.threads}.")
    if getattr(args, "horizon", None) is not None and args.horizon < 2:
        raise InputError(f"--horizon must be at least 2, not {args.horizon}.")
    if ("pfn" in args.predictors) != (args.pfn_weights is not None):
        raise InputError("--predictors pfn and --pfn-weights go together: the LC-PFN predictor "
                         "needs weights, and weights need pfn among the predictors.")
    threshold = getattr(args, "stop_threshold", 0.5)
    if not 0 < threshold < 1:
        raise InputError(f"--stop-threshold must lie strictly between 0 and 1, not "
                         f"{threshold}.")


def register_pfn(weights_path: str | None) -> dict | None:
    """Load the PFN weights and register predictor pfn (torch, the [forecast] extra); return
    the weights' provenance (None without weights)."""
    if weights_path is None:
        return None
    from reusebench.core.extras import require
    from reusebench.core.forecast.predict import register_predictor

    pfn = require("forecast", "reusebench.training.pfn.predict")
    weights = pfn.load_weights(weights_path)
    print(f"pfn: weights {weights_path} (sha256 {weights.provenance['sha256'][:12]})")
    register_predictor("pfn", lambda prefix, horizon, n_draws, rng: pfn.pfn_draws(
        prefix, horizon, n_draws, weights, rng))
    return {"path": str(weights_path), **weights.provenance}


def calibration_margins(path: str | None, predictors: list[str],
                        observed: list[int]) -> pd.DataFrame | None:
    """The conformal margins of a forecast-eval per-run table (None without one);
    InputError when it is not such a table or lacks a predictor and N asked for."""
    if path is None:
        return None
    from reusebench.core.forecast.conformal import margin_table
    from reusebench.core.forecast.predict import read_forecast_table

    runs = read_forecast_table(path)
    if "actual_final" not in runs.columns:
        raise InputError(f"--calibrate {path}: not the per-run table of `reusebench "
                         "forecast-eval` (its OUT_runs file), it has no column "
                         "'actual_final'.")
    margins = margin_table(runs)
    have = set(zip(margins["predictor"], margins["observed_n"], strict=True))
    for predictor in predictors:
        for n_obs in observed:
            if (predictor, n_obs) not in have:
                raise InputError(
                    f"--calibrate {path} holds no backtest of predictor {predictor} at N = "
                    f"{n_obs}; run `reusebench forecast-eval --observed {n_obs} --predictors "
                    f"{predictor}` on finished runs of the same kind first.")
    return margins


def eval_paths(out: str | Path) -> dict[str, Path]:
    """Where forecast-eval writes: the summary, the per-run table and the two figures."""
    out = Path(out)
    stem = out.with_suffix("")
    return {"summary": out, "runs": Path(f"{stem}_runs{out.suffix}"),
            "coverage": Path(f"{stem}_coverage.png"), "error": Path(f"{stem}_error.png")}


def _run_forecast(args: argparse.Namespace) -> int:
    from reusebench.core.forecast.conformal import apply_margins
    from reusebench.core.forecast.predict import forecast_table
    from reusebench.core.forecast.targets import read_targets
    from reusebench.core.io import write_table

    _check_options(args)
    check_table_path(args.out)
    margins = calibration_margins(args.calibrate, args.predictors, args.observed)
    targets = read_targets(args.curves)
    register_pfn(args.pfn_weights)
    table = forecast_table(targets, args.observed, args.predictors, args.draws, args.horizon,
                           seed=args.seed, threads=args.threads)
    if margins is not None:
        table = apply_margins(table, margins)
        print(f"conformal intervals from {args.calibrate} "
              f"({margins['runs'].min()}–{margins['runs'].max()} backtested runs per "
              "predictor, N, outcome and level)")
    write_table(table, args.out)
    counts = table["status"].value_counts()
    print(f"{len(targets.runs)} runs × {len(args.observed)} N × {len(args.predictors)} "
          f"predictors: {counts.get('ok', 0)} forecasts, {len(table) - counts.get('ok', 0)} "
          f"with another status -> {args.out}")
    return 0


def _run_forecast_eval(args: argparse.Namespace) -> int:
    from reusebench.core.forecast.backtest import backtest_runs, backtest_summary
    from reusebench.core.forecast.targets import read_targets
    from reusebench.core.io import atomic_write_all, table_writer
    from reusebench.reporting.forecast_figures import coverage_figure, error_figure
    from reusebench.reporting.plots import save_figure

    _check_options(args)
    paths = eval_paths(args.out)
    check_table_path(paths["summary"])
    for path in list(paths.values())[1:]:
        check_output(path)
    targets = read_targets(args.curves)
    register_pfn(args.pfn_weights)
    runs, seconds = backtest_runs(targets, args.observed, args.predictors, args.draws,
                                  seed=args.seed, threads=args.threads,
                                  stop_threshold=args.stop_threshold)
    summary = backtest_summary(runs, seconds)
    atomic_write_all({paths["summary"]: table_writer(summary, paths["summary"]),
                      paths["runs"]: table_writer(runs, paths["runs"])})
    save_figure(coverage_figure(summary), paths["coverage"])
    save_figure(error_figure(summary), paths["error"])
    print(f"{len(targets.runs)} runs backtested at N = "
          f"{' '.join(map(str, args.observed))} -> {', '.join(map(str, paths.values()))}")
    return 0
