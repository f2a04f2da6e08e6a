"""The ``reusebench`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from reusebench.errors import InputError
from reusebench.metrics import DEFAULT_DELTA, DEFAULT_FIT_POINTS

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reusebench",
        description="Metrics of trained models for reuse (Study A Eq. 1-10, Study B OpScore) "
                    "computed from per-epoch curve tables.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_metrics_parser(commands)
    _add_nasbench_parser(commands)
    return parser


def _add_metrics_parser(commands: argparse._SubParsersAction) -> None:
    metrics = commands.add_parser(
        "metrics", help="compute per-run and pairwise metrics from curve tables",
        description="Read curve tables (CSV or Parquet, one row per run and epoch), compute "
                    "the per-run metrics (M_er, ep*, M_stab, T(M_er), D_re, D_unif, GPU^MaxM, "
                    "GPU^AvgU, the six Δ(fit) values) and the pairwise metrics (G_init, "
                    "D_init(data), D_init(graph)), and write OUT/metrics, OUT/pairs and "
                    "OUT/unpaired as .csv and .parquet. Bad input exits with status 2 and "
                    "writes nothing.")
    metrics.add_argument("curves", nargs="+", metavar="CURVES",
                         help="curve table files (.csv or .parquet)")
    metrics.add_argument("-o", "--out", required=True, metavar="OUT",
                         help="output directory for the tables")
    metrics.add_argument("--delta", type=int, default=DEFAULT_DELTA,
                         help="half-width δ of the stability window in epochs (default: "
                              "%(default)s)")
    metrics.add_argument("--fit-points", type=int, nargs="+", default=list(DEFAULT_FIT_POINTS),
                         metavar="N", help="numbers of first epochs the convergence models are "
                                           "fitted to (default: 10 15 20)")
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
                          help="the Parquet table to write")
    nasbench.set_defaults(handler=_run_nasbench)


def _run_metrics(args: argparse.Namespace) -> int:
    from reusebench.tables import compute_metric_files

    if args.delta < 0:
        raise InputError(f"--delta must be zero or positive, not {args.delta}.")
    if any(n < 2 for n in args.fit_points):
        raise InputError("--fit-points must each be at least 2 (a fit has two parameters).")
    tables = compute_metric_files(args.curves, args.out, args.delta, args.fit_points)
    runs, pairs, unpaired = (len(tables[name]) for name in ("metrics", "pairs", "unpaired"))
    print(f"{runs} runs, {pairs} pairs, {unpaired} unpaired (kind, run) entries -> {args.out}")
    return 0


def _run_nasbench(args: argparse.Namespace) -> int:
    from reusebench.nasbench.records import convert_nasbench

    rows, cells, mismatches = convert_nasbench(args.files, args.out)
    print(f"{rows} rows, {cells} cells, {mismatches} hash mismatches -> {args.out}")
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
