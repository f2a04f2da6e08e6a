"""The ``reusebench`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from reusebench.core.errors import InputError
from reusebench.core.io import check_output
from reusebench.core.metrics import (
    DEFAULT_DELTA,
    DEFAULT_DIVERGE_FACTOR,
    DEFAULT_FIT_POINTS,
    DEFAULT_LEARN_MARGIN,
)

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reusebench",
        description="Metrics of trained models for reuse (Study A Eq. 1-10, Study B OpScore) "
                    "computed from per-epoch curve tables.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_metrics_parser(commands)
    _add_nasbench_parser(commands)
    _add_recommend_parser(commands)
    _add_ingest_parser(commands)
    _add_card_parser(commands)
    _add_check_config_parser(commands)
    from reusebench.glue.forecast_cli import add_parsers as add_forecast_parsers

    add_forecast_parsers(commands)
    from reusebench.glue.pfn_cli import add_parsers as add_pfn_parsers

    add_pfn_parsers(commands)
    return parser


def _add_metrics_parser(commands: argparse._SubParsersAction) -> None:
    from reusebench.core.metricdefs import DEFINITION_SETS, PAIRS_TABLE, PAPER, symbols

    metrics = commands.add_parser(
        "metrics", help="compute per-run and pairwise metrics from curve tables",
        description="Read curve tables (CSV or Parquet, one row per run and epoch), compute "
                    f"the per-run metrics ({symbols()}; Δ(fit) for each N of --fit-points) "
                    f"and the pairwise metrics ({symbols(PAIRS_TABLE)}), and write "
                    "OUT/metrics, OUT/pairs and OUT/unpaired as .csv and .parquet. --list "
                    "prints the metric registry instead. Bad input exits with status 2 and "
                    "writes nothing.")
    metrics.add_argument("curves", nargs="*", metavar="CURVES",
                         help="curve table files (.csv or .parquet)")
    metrics.add_argument("-o", "--out", metavar="OUT",
                         help="output directory for the tables (needed unless --list)")
    metrics.add_argument("--list", action="store_true",
                         help="print the metric registry (column, symbol, equation, unit, "
                              "direction, label, needs, definition) as a table and exit")
    metrics.add_argument("--definitions", choices=DEFINITION_SETS, default=PAPER,
                         help="paper: Study A's equations; authors: the variants of the Study "
                              "A authors' code (losses clipped to [0, 36], a 2δ-epoch "
                              "stability window, cumulative T(M_er), their G_init and "
                              "D_init(data)) (default: %(default)s)")
    metrics.add_argument("--delta", type=int, default=DEFAULT_DELTA,
                         help="half-width δ of the stability window in epochs (default: "
                              "%(default)s)")
    metrics.add_argument("--fit-points", type=int, nargs="+", default=list(DEFAULT_FIT_POINTS),
                         metavar="N", help="numbers of first epochs the convergence models are "
                                           "fitted to (default: 10 15 20)")
    metrics.add_argument("--diverge-factor", type=float, default=DEFAULT_DIVERGE_FACTOR,
                         metavar="F", help="flag a run diverged when its test loss exceeds F × "
                                           "its first finite test loss (or F × its "
                                           "constant-prediction loss) (default: %(default)g)")
    metrics.add_argument("--learn-margin", type=float, default=DEFAULT_LEARN_MARGIN,
                         metavar="M", help="flag a run not learning when M_er > (1 − M) × its "
                                           "reference loss: the curve table's reference_loss, "
                                           "else the first test loss (default: %(default)g)")
    metrics.set_defaults(handler=_run_metrics)


def _add_nasbench_parser(commands: argparse._SubParsersAction) -> None:
    nasbench = commands.add_parser(
        "nasbench", help="read NAS-Bench-101 records into one Parquet table",
        description="Read NAS-Bench-101 TFRecord files (nasbench_full, nasbench_only108, "
                    "EC-NAS) and nasbench-vis JSON exports into one table with a row per "
                    "cell, budget and repeat, check every cell hash against the cell's "
                    "adjacency and operations, and write it as Parquet. Hash mismatches are "
                    "counted, not fatal. Bad input exits with status 2 and writes nothing.")
    nasbench.add_argument("files", nargs="+", metavar="FILE",
                          help="TFRecord (.tfrecord) or JSON export (.json) files")
    nasbench.add_argument("-o", "--out", required=True, metavar="OUT.parquet",
                          help="the table to write: .parquet (Parquet) or .csv (CSV), by "
                               "suffix")
    nasbench.set_defaults(handler=_run_nasbench)


def _add_recommend_parser(commands: argparse._SubParsersAction) -> None:
    from reusebench.reporting.recommend import TASKS

    recommend = commands.add_parser(
        "recommend", help="rank trained runs for a reuse task (Study A, Table 1)",
        description="Rank the runs of a metrics table for one reuse task of Study A Table 1 "
                    "by the metrics that task needs, within each data set (mean of the "
                    "per-metric ranks; ties by the first metric, then run_id), with the reason "
                    "per row. Runs lacking a "
                    "needed metric are listed last as not ranked. Tasks: "
                    + "; ".join(f"{name} = {task.table1} ("
                                + ", ".join(f"{m.symbol} {m.direction}" for m in task.metrics)
                                + ")" for name, task in TASKS.items())
                    + ". Bad input exits with status 2 and writes nothing.")
    recommend.add_argument("--task", required=True, choices=list(TASKS),
                           help="the reuse task")
    recommend.add_argument("--metrics", required=True, metavar="METRICS",
                           help="per-run metrics table (.csv or .parquet)")
    recommend.add_argument("--pairs", metavar="PAIRS",
                           help="pairs table (.csv or .parquet); needed by task transfer")
    recommend.add_argument("--max-gpu-mem", type=float, metavar="MB",
                           help="drop runs whose GPU^MaxM is above MB")
    recommend.add_argument("--max-time", type=float, metavar="S",
                           help="drop runs whose T(M_er) is above S seconds")
    recommend.add_argument("--dataset", metavar="D", help="only runs trained on data set D")
    recommend.add_argument("--forecast", metavar="TABLE",
                           help="forecast table of `reusebench forecast` (.csv or .parquet): "
                                "task refine then ranks by the predicted M_er too (median "
                                "forecast from each run's largest N that gave one, by the "
                                "table's first predictor), showing its 80 %% and 95 %% "
                                "intervals; runs without a forecast are not ranked")
    recommend.add_argument("--top", type=int, metavar="N",
                           help="show the first N ranked runs of each data set")
    recommend.add_argument("-o", "--out", metavar="OUT",
                           help="write the table to OUT (.csv, .parquet or .md, by suffix); "
                                "default: Markdown on stdout")
    recommend.set_defaults(handler=_run_recommend)


def _add_ingest_parser(commands: argparse._SubParsersAction) -> None:
    ingest = commands.add_parser(
        "ingest", help="convert outside training logs into a curve table",
        description="Read TensorBoard event files, Keras CSVLogger files, PyTorch Lightning "
                    "metrics.csv files, the Study A authors' per-epoch CSV files, MLflow "
                    "stores (mlflow.db or mlruns/), W&B offline runs (.wandb), Optuna SQLite "
                    "storages, Ray Tune trial folders or Sacred run folders (a file, or a "
                    "folder of runs; offline, no tracker needed) and write one curve table, "
                    "which `reusebench metrics` reads. Run keys come from the options, else "
                    "from the log (a tracker's params / config) or the run's name, else "
                    "placeholders (study X, lr 0 = not known). Prints one summary line: runs "
                    "read, epochs, runs skipped and why. Bad input exits with status 2 and "
                    "writes nothing.")
    ingest.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="log files or folders of runs")
    ingest.add_argument("-o", "--out", required=True, metavar="CURVES",
                        help="the curve table to write (.csv or .parquet)")
    ingest.add_argument("--format", dest="fmt", default="auto",
                        choices=["auto", "tensorboard", "keras-csv", "lightning-csv",
                                 "authors-csv", "mlflow", "wandb", "optuna", "ray-tune",
                                 "sacred"], help="log format (default: %(default)s)")
    for side in ("train", "test", "epoch"):
        ingest.add_argument(f"--{side}-tag", metavar="TAG",
                            help=f"the {side} {'counter' if side == 'epoch' else 'loss'} tag, "
                                 "CSV column or tracker metric key (an accuracy tag: losses "
                                 "are 1 − accuracy) (default: recognised by name)")
    ingest.add_argument("--keep-partial", action="store_true",
                        help="W&B: read the records before a truncated or corrupt one "
                             "(default: such a file is an error naming the record's offset)")
    ingest.add_argument("--value-is", default="auto", choices=["auto", "loss", "accuracy"],
                        help="Optuna: what a trial's intermediate values are (default: auto = "
                             "loss when the study minimises, accuracy when it maximises)")
    ingest.add_argument("--time-unit", default="auto", choices=["auto", "ms", "s", "min", "h"],
                        help="unit of an epoch-time tag (default: chosen by the wall clock)")
    for key in ("study", "dataset", "arch", "init", "device"):
        ingest.add_argument(f"--{key}", metavar=key.upper(), help=f"run key {key} of every run")
    ingest.add_argument("--lr", type=float, metavar="LR", help="run key lr of every run")
    ingest.add_argument("--seed", type=int, metavar="S", help="run key seed of every run")
    ingest.set_defaults(handler=_run_ingest)


def _add_card_parser(commands: argparse._SubParsersAction) -> None:
    card = commands.add_parser(
        "card", help="write the model card of one trained run",
        description="Write the model card of one run folder of the pipeline "
                    "(results/runs/A/... or results/runs/B/...): README.md with Hugging Face "
                    "model-card metadata (model-index: task, dataset, the task and reuse "
                    "metrics), card.json with the same content, and curves.png. Metrics come "
                    "from the study's metrics table (with the pairs and unpaired tables beside "
                    "it). Bad input exits with status 2 and writes nothing.")
    card.add_argument("run_dir", metavar="RUN_DIR", help="a run folder of the pipeline")
    card.add_argument("--metrics", metavar="METRICS",
                      help="the study's metrics table (.parquet or .csv; default: "
                           "metrics/STUDY/metrics.parquet of the results tree RUN_DIR is in)")
    card.add_argument("-o", "--out", metavar="OUT_DIR",
                      help="folder for the card files (default: RUN_DIR)")
    card.add_argument("--forecast", metavar="TABLE",
                      help="forecast table of `reusebench forecast` (.csv or .parquet) whose "
                           "forecast of this run the card carries (default: "
                           "forecast/STUDY/forecast.csv of the results tree, when it exists)")
    card.set_defaults(handler=_run_card)


def _run_metrics(args: argparse.Namespace) -> int:
    from reusebench.core.metric_tables import compute_metric_files

    if args.delta < 0:
        raise InputError(f"--delta must be zero or positive, not {args.delta}.")
    if any(n < 2 for n in args.fit_points):
        raise InputError("--fit-points must each be at least 2 (a fit has two parameters).")
    if len(set(args.fit_points)) != len(args.fit_points):
        raise InputError("--fit-points must be distinct numbers, not "
                         f"{' '.join(map(str, args.fit_points))}.")
    if args.list:
        return _print_registry(args.fit_points, args.definitions)
    if not args.curves or args.out is None:
        raise InputError("reusebench metrics needs curve tables and -o OUT (or --list).")
    tables = compute_metric_files(args.curves, args.out, args.delta, args.fit_points,
                                  args.diverge_factor, args.learn_margin, args.definitions)
    runs, pairs, unpaired = (len(tables[name]) for name in ("metrics", "pairs", "unpaired"))
    diverged, stalled = (int(tables["metrics"][flag].sum()) for flag in ("diverged",
                                                                           "not_learning"))
    print(f"{runs} runs, {pairs} pairs, {unpaired} unpaired (kind, run) entries; flagged: "
          f"{diverged} diverged, {stalled} not learning -> {args.out}")
    return 0


def _print_registry(fit_points: Sequence[int], definitions: str) -> int:
    """``reusebench metrics --list``: the metric registry and the companion columns."""
    from reusebench.core.metricdefs import companion_table, registry_table
    from reusebench.reporting.markdown import markdown_table

    print(f"# Metric registry ({definitions} definitions)\n")
    print(markdown_table(registry_table(fit_points, definitions)))
    print("# Companion columns of the metrics table\n")
    print(markdown_table(companion_table(fit_points)), end="")
    return 0


def _run_nasbench(args: argparse.Namespace) -> int:
    from reusebench.data.nasbench.records import convert_nasbench

    rows, cells, mismatches = convert_nasbench(args.files, args.out)
    print(f"{rows} rows, {cells} cells, {mismatches} hash mismatches -> {args.out}")
    return 0


def _run_recommend(args: argparse.Namespace) -> int:
    from reusebench.reporting.recommend import (
        Constraints,
        candidate_table,
        read_table,
        recommend,
        recommendation_markdown,
        task_of,
        top_rows,
        with_forecast,
        write_recommendation,
    )

    if args.top is not None and args.top < 1:
        raise InputError(f"--top must be at least 1, not {args.top}.")
    if args.out is not None:
        if not args.out.endswith((".csv", ".parquet", ".md")):
            raise InputError(f"{args.out}: a recommendation is written as .csv, .parquet or "
                             ".md.")
        check_output(args.out)
    task = task_of(args.task)
    pairs = read_table(args.pairs, "pairs table") if args.pairs else None
    candidates = candidate_table(task, read_table(args.metrics, "metrics table"), pairs,
                                 args.metrics, args.pairs)
    if args.forecast is not None:
        from reusebench.core.forecast.predict import read_forecast_table

        task, candidates = with_forecast(task, candidates, read_forecast_table(args.forecast))
    constraints = Constraints(args.max_gpu_mem, args.max_time, args.dataset)
    result = top_rows(recommend(task, candidates, constraints), args.top)
    if args.out is None:
        print(recommendation_markdown(result))
    else:
        write_recommendation(result, [args.out])
        print(f"{result.n_ranked} runs ranked for task {task.name} -> {args.out}")
    return 0


def _run_ingest(args: argparse.Namespace) -> int:
    from reusebench.data.ingest import (
        IngestOptions,
        KeyOptions,
        headline,
        ingest_to_file,
        summary_lines,
    )

    keys = KeyOptions(study=args.study, dataset=args.dataset, arch=args.arch, init=args.init,
                      lr=args.lr, seed=args.seed, device=args.device)
    options = IngestOptions(fmt=args.fmt, train_tag=args.train_tag, test_tag=args.test_tag,
                            epoch_tag=args.epoch_tag, time_unit=args.time_unit, keys=keys,
                            keep_partial=args.keep_partial, value_is=args.value_is)
    _, report = ingest_to_file(args.sources, args.out, options)
    print(f"{headline(report)} -> {args.out}")
    print("\n".join(summary_lines(report)))
    return 0


def _run_card(args: argparse.Namespace) -> int:
    from reusebench.reporting.cards.build import write_run_card

    print(f"model card -> {write_run_card(args.run_dir, args.metrics, args.out, args.forecast)}")
    return 0


def _add_check_config_parser(commands: argparse._SubParsersAction) -> None:
    check = commands.add_parser(
        "check-config", help="check a workflow config file before `snakemake --configfile`",
        description="Read YAML config files as the workflow does and check them against its "
                    "schema: a missing or empty file, a YAML error (with its line), a tab, an "
                    "unknown key or a value of the wrong type is one sentence and exit 2. "
                    "Snakemake reads --configfile itself and names neither file nor line.")
    check.add_argument("files", nargs="+", metavar="FILE", help="config files (.yaml)")
    check.add_argument("--schema", default="config/config.schema.yaml", metavar="SCHEMA",
                       help="the workflow's config schema (default: %(default)s)")
    check.set_defaults(handler=_run_check_config)


def _run_check_config(args: argparse.Namespace) -> int:
    from reusebench.core.extras import require

    check_config_file = require("workflow", "reusebench.glue.configcheck").check_config_file
    for path in args.files:
        check_config_file(path, args.schema)
        print(f"{path}: ok")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except InputError as error:
        print(f"reusebench: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
