"""End-to-end: the Snakemake workflow on a tiny config, in a fresh copy of the repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_PARTS = ("Snakefile", "config", "workflow", "scripts", "envs", "profiles")

pytestmark = pytest.mark.e2e


def copy_workflow(target: Path) -> Path:
    for part in WORKFLOW_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, target / part)
        else:
            shutil.copy(source, target / part)
    shutil.copy(ROOT / "tests" / "configs" / "tiny.yaml", target / "tiny.yaml")
    return target


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow"))
    result = snakemake(workdir, "--configfile", "tiny.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def test_tiny_run_writes_every_table_with_one_row_per_run(finished_run):
    results = finished_run / "results"
    for table in ("metrics", "pairs", "unpaired"):
        for ext in ("csv", "parquet"):
            assert (results / "metrics" / "synthetic" / f"{table}.{ext}").is_file()
    run_metrics = pd.read_parquet(results / "metrics" / "synthetic" / "metrics.parquet")
    # tiny.yaml: 2 datasets × 2 archs × 1 lr × 2 inits × 1 seed
    assert len(run_metrics) == 8
    assert run_metrics["run_id"].is_unique
    assert run_metrics["m_er"].notna().all()
    pairs = pd.read_parquet(results / "metrics" / "synthetic" / "pairs.parquet")
    assert sorted(pairs["kind"].value_counts().items()) == [("data", 4), ("graph", 4)]
    summary = (results / "tables" / "synthetic" / "metrics_summary.md").read_text()
    per_run_rows = [line for line in summary.splitlines() if line.startswith("| easy |")]
    assert len(per_run_rows) == 4


def test_rerun_of_finished_pipeline_schedules_no_job(finished_run):
    result = snakemake(finished_run, "--configfile", "tiny.yaml", "--dry-run")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.parametrize(("override", "key"), [
    ("metrics:\n  delta: -1\n", "'metrics.delta'"),
    ("metricz:\n  delta: 1\n", "('metricz' was unexpected)"),
    ("synthetic_curves:\n  inits: [imagenet]\n", "'synthetic_curves.inits.0'"),
])
def test_bad_config_stops_with_one_sentence_and_writes_nothing(tmp_path, override, key):
    workdir = copy_workflow(tmp_path)
    (workdir / "bad.yaml").write_text(override)
    result = snakemake(workdir, "--configfile", "bad.yaml")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and key in errors[0], result.stderr
    assert not (workdir / "results").exists()


def test_workflow_lint_is_clean(tmp_path):
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, "--lint")
    assert result.returncode == 0, result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stderr
