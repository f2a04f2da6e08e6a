"""Wall time of Study B on the embedded default config (budget: 5 minutes on 2 cores).

Copies the workflow into a temporary folder (so no result of this checkout is reused or
touched), runs ``snakemake --cores N tradeoff_all`` there and prints the wall time, the CPU
time of all jobs, the load average before and after (other work on the machine slows every
figure), the slowest jobs from their benchmark files and the OpScore rankings the run
logged.

    python benchmarks/tradeoff_default.py [--cores 2] [--configfile FILE] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from reusebench.glue.workflow import copy_workflow

ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 300


def job_times(workdir: Path) -> pd.DataFrame:
    """Seconds of each benchmarked job (pretraining and training), slowest first."""
    rows = []
    for path in (workdir / "results" / "benchmarks" / "tradeoff").rglob("*.tsv"):
        seconds = pd.read_csv(path, sep="\t")["s"].iloc[0]
        name = path.relative_to(workdir / "results" / "benchmarks" / "tradeoff")
        rows.append({"job": str(name.with_suffix("")), "seconds": seconds})
    return pd.DataFrame(rows).sort_values("seconds", ascending=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--configfile", type=Path, help="a config merged over the default")
    parser.add_argument("--keep", type=Path, help="run in this (new) folder and keep it")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="tradeoff_bench_"))
    workdir.mkdir(parents=True, exist_ok=args.keep is None)
    copy_workflow(ROOT, workdir)
    command = [sys.executable, "-m", "snakemake", "--cores", str(args.cores), "tradeoff_all"]
    if args.configfile:
        command += ["--configfile", str(args.configfile.resolve())]
    print(f"load average before: {os.getloadavg()}  ({os.cpu_count()} CPUs)")
    began = time.perf_counter()
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"load average after:  {os.getloadavg()}")
    print(f"CPU time of Snakemake and all its jobs: {usage.ru_utime + usage.ru_stime:.0f} s "
          f"(on {args.cores} otherwise idle cores the wall time is at least half of that)")
    if result.returncode != 0:
        print(result.stderr[-3000:])
        return result.returncode
    verdict = "within" if seconds <= BUDGET_SECONDS else "OVER"
    print(f"Study B default: {seconds:.0f} s wall on {args.cores} cores "
          f"({verdict} the {BUDGET_SECONDS} s budget)")
    print(job_times(workdir).to_string(index=False))
    for log in sorted((workdir / "results" / "logs" / "tradeoff").glob("opscore_*.log")):
        print(log.read_text().split("OpScore ranking of", 1)[-1])
    if args.keep is None:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
