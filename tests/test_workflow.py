"""End-to-end: the Snakemake workflow on a tiny config, in a fresh copy of the repository."""

from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest
from conftest import copy_workflow, snakemake

pytestmark = pytest.mark.e2e

# `finished_run` (tests/conftest.py): ONE tiny run of the whole workflow per test session.


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


STUDY_A_TABLES = ("table4_datasets", "table5_best_per_arch", "eq11_check",
                  "per_dataset/easy_metrics", "per_dataset/hard_metrics")
STUDY_A_FIGURES = ("fig4_convergence_easy", "fig4_convergence_hard", "fig6_stability",
                   "fig5_parallel_coordinates_easy", "fig5_parallel_coordinates_hard")


def test_tiny_study_a_trains_every_configuration_and_draws_every_table_and_figure(finished_run):
    results = finished_run / "results"
    run_metrics = pd.read_parquet(results / "metrics" / "A" / "metrics.parquet")
    # tiny.yaml: 2 datasets × 2 archs × 1 lr × 2 inits × 1 seed × 1 device
    assert len(run_metrics) == 8 and run_metrics["run_id"].is_unique
    assert run_metrics["m_er"].map(math.isfinite).all()
    assert set(run_metrics["arch"]) == {"lraspp", "unet"}
    pairs = pd.read_parquet(results / "metrics" / "A" / "pairs.parquet")
    assert sorted(pairs["kind"].value_counts().items()) == [("data", 4), ("graph", 4)]
    for table in STUDY_A_TABLES:
        for ext in ("csv", "md"):
            assert (results / "tables" / "A" / f"{table}.{ext}").stat().st_size > 0
    for figure in STUDY_A_FIGURES:
        for ext in ("png", "svg"):
            assert (results / "figures" / "A" / f"{figure}.{ext}").stat().st_size > 1000
    html = (results / "figures" / "A" / "fig5_parallel_coordinates_easy.html").read_text()
    assert "parcoords" in html
    table4 = pd.read_csv(results / "tables" / "A" / "table4_datasets.csv").set_index("dataset")
    assert table4.loc["easy", "cv"] > table4.loc["hard", "cv"]
    eq11 = pd.read_csv(results / "tables" / "A" / "eq11_check.csv")
    # tiny.yaml trains one seed: no Eq. 11 verdict may claim more than the data shows
    assert len(eq11) == 3 and set(eq11["verdict"]) <= {"inconclusive", "not run"}
    assert eq11["reason"].str.len().gt(0).all()


def test_every_training_run_leaves_provenance_checkpoint_log_and_benchmark(finished_run):
    runs = sorted((finished_run / "results" / "runs" / "A").glob("*/*/*/*/*/*/curves.csv"))
    assert len(runs) == 8
    for curves in runs:
        provenance = json.loads((curves.parent / "provenance.json").read_text())
        assert provenance["config"]["epochs"] == 3 and provenance["device"]["torch_device"] == "cpu"
        assert (curves.parent / "checkpoint.pt").stat().st_size > 0
        results = finished_run / "results"
        # one train job per configuration trains all its seeds (tiny.yaml: one seed)
        run = curves.parent.relative_to(results / "runs")
        job = run.parent.parent / run.name
        assert (results / "logs" / "train" / f"{job}.log").read_text().count("train_loss") == 3
        assert (results / "benchmarks" / "train" / f"{job}.tsv").is_file()


def test_rerun_of_finished_pipeline_schedules_no_job(finished_run):
    result = snakemake(finished_run, "--configfile", "tiny.yaml", "--dry-run")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.parametrize(("override", "key"), [
    ("metrics:\n  delta: -1\n", "'metrics.delta'"),
    ("metricz:\n  delta: 1\n", "('metricz' was unexpected)"),
    ("synthetic_curves:\n  inits: [imagenet]\n", "'synthetic_curves.inits.0'"),
    ("study_a:\n  archs: [resnet18]\n", "'study_a.archs.0'"),
    ("study_a:\n  datasets:\n    x: {kind: synthetic}\n", "'study_a.datasets.x'"),
    ("study_a:\n  targets: [easy, cryoem]\n", "study_a.targets[1] names data set 'cryoem'"),
])
def test_bad_config_stops_with_one_sentence_and_writes_nothing(tmp_path, override, key):
    workdir = copy_workflow(tmp_path)
    (workdir / "bad.yaml").write_text(override)
    result = snakemake(workdir, "--configfile", "bad.yaml")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and key in errors[0], result.stderr
    assert not (workdir / "results").exists()


def test_missing_dataset_folder_fails_its_job_with_one_sentence(tmp_path):
    workdir = copy_workflow(tmp_path)
    (workdir / "bad.yaml").write_text(
        "study_a:\n  datasets:\n    cryoem: {kind: folder, path: nowhere/cryoem}\n")
    result = snakemake(workdir, "results/data/cryoem.npz", "--configfile", "bad.yaml")
    assert result.returncode != 0
    assert "error: Dataset cryoem is not at nowhere/cryoem: put its images/ and masks/" \
        in result.stderr
    assert not (workdir / "results" / "data" / "cryoem.npz").exists()


def test_paper_config_plans_the_papers_study_a_grid_for_a_cluster(tmp_path):
    workdir = copy_workflow(tmp_path)
    # the SLURM profile submits jobs elsewhere, so the GPUs are not looked for here
    result = snakemake(workdir, "--configfile", "config/paper.yaml", "--dry-run",
                       "--workflow-profile", "profiles/slurm")
    assert result.returncode == 0, result.stderr[-3000:]
    job_counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.MULTILINE))
    # 5 data sets × 6 architectures × 4 learning rates × 2 inits (paper A, Tables 3-4)
    assert job_counts["train"] == "240"
    assert job_counts["a10_download"] == "1" and job_counts["nasbench_download"] == "1"


def test_a10_without_an_archive_says_where_to_put_the_files(tmp_path):
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, "resources/data/A10", "--configfile", "config/paper.yaml",
                       "--config", "check_devices=false")
    assert result.returncode != 0
    assert "error: Dataset A10 is not at resources/data/A10 and no download url is " \
        "configured" in result.stderr
    assert not (workdir / "resources" / "data" / "A10").exists()


def test_workflow_lint_is_clean(tmp_path):
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, "--lint")
    assert result.returncode == 0, result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stderr


def test_tiny_run_writes_a_model_card_for_every_trained_run(finished_run):
    from huggingface_hub import ModelCard

    cards = finished_run / "results" / "cards"
    for study, n_runs in (("A", 8), ("B", 14)):  # tiny.yaml: Study B 7 runs × 2 seeds
        readmes = sorted((cards / study / "runs").rglob("README.md"))
        assert len(readmes) == n_runs
        assert (cards / study / "index.md").read_text().count("README.md](") == n_runs
        card = ModelCard.load(readmes[0])
        assert card.data.eval_results and (readmes[0].parent / "curves.png").is_file()


def test_readme_config_override_is_typed_by_the_schema(tmp_path):
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, "--configfile", "tiny.yaml", "--config",
                       "metrics={delta: 3}", "study_a={seeds: [0, 1]}", "--dry-run")
    assert result.returncode == 0, result.stderr[-3000:]
    result = snakemake(workdir, "--configfile", "tiny.yaml", "--config",
                       "metrics={delta: three}", "--dry-run")
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert result.returncode == 2 and len(errors) == 1
    assert "'metrics.delta'" in errors[0] and "'three' is not of type 'integer'" in errors[0]
