"""Each config writes its own results folder; the real tier finds its data under data_root."""

import re
from pathlib import Path

import pytest
from conftest import copy_workflow, snakemake

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
needs_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"the real data sets are not at {SHARED_DATA}")


def planned_paths(stdout: str) -> list[str]:
    """Every output, log and benchmark path of a dry run's job listing."""
    fields = re.findall(r"^\s+(?:output|log|benchmark): (.+)$", stdout, flags=re.MULTILINE)
    return [path for field in fields for path in field.split(", ")]


def test_paper_tier_writes_only_under_its_results_dir(tmp_path):
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, "--configfile", "config/paper.yaml", "--dry-run",
                       "--config", "check_devices=false")
    assert result.returncode == 0, result.stderr[-3000:]
    paths = planned_paths(result.stdout)
    assert len(paths) > 1000
    stray = [path for path in paths if not path.startswith(("results/paper/", "resources/"))]
    assert not stray, stray[:5]


@needs_shared_data
def test_real_tier_plans_every_study_on_the_data_under_data_root(tmp_path):
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, "--configfile", "config/real.yaml", "--config",
                       f"data_root={SHARED_DATA}", "--dry-run")
    assert result.returncode == 0, result.stderr[-3000:]
    paths = planned_paths(result.stdout)
    assert paths and all(path.startswith("results/real/") for path in paths), paths[:5]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.MULTILINE))
    assert {"train", "tradeoff_train", "nasbench_analysis", "scorecard"} <= set(jobs)


def test_real_tier_without_data_root_stops_with_one_sentence(tmp_path):
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, "--configfile", "config/real.yaml", "--dry-run")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "data_root is not set" in errors[0], result.stderr
    assert not (workdir / "results").exists()


def test_a_file_missing_under_data_root_is_named_and_nothing_runs(tmp_path):
    workdir = copy_workflow(tmp_path)
    empty = tmp_path / "empty_root"
    empty.mkdir()
    result = snakemake(workdir, "--configfile", "config/real.yaml", "--config",
                       f"data_root={empty}", "--dry-run")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, result.stderr
    assert f"which does not exist under data_root {empty}" in errors[0]
    assert str(empty / "") in errors[0] and "config/real.yaml" in errors[0]
    assert not (workdir / "results").exists()
