"""End to end: Study B of the workflow on the tiny config, and its bad inputs."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import copy_workflow, snakemake

from reusebench.core.curves import read_curves

pytestmark = pytest.mark.e2e

SEEDED = ("table2_accuracy", "table3_split_times", "table4_technique_times",
          "table7_clustering", "opscore_synth10", "opscore_synth100")
TABLES = ("table1_model_sizes", *SEEDED, *(f"{table}_by_seed_mean" for table in SEEDED))
FIGURES = ("fig3_accuracy_curves", "fig4_accuracy_by_technique", "fig5_accuracy_vs_unfrozen",
           "fig8_accuracy_vs_clusters", "bubble_synth10", "bubble_synth100")


# `finished_run` (tests/conftest.py): the session's one tiny run of the whole workflow, whose
# Study B part is what these tests read.


def test_tiny_run_writes_every_study_b_table_and_figure(finished_run):
    results = finished_run / "results"
    for table in TABLES:
        for ext in ("csv", "md"):
            assert (results / "tables" / "B" / f"{table}.{ext}").stat().st_size > 0, table
    for figure in FIGURES:
        for ext in ("png", "svg"):
            assert (results / "figures" / "B" / f"{figure}.{ext}").stat().st_size > 0, figure


def test_one_summary_row_and_one_valid_curve_table_per_run(finished_run):
    runs = pd.read_csv(finished_run / "results" / "tradeoff" / "runs.csv", dtype={"split": str})
    # tiny.yaml: 2 datasets × top1, 3 techniques on synth10, one 70-30 split, the m2m donor;
    # seeds 0 and 1 each
    assert len(runs) == 2 * 7 and runs["run_id"].is_unique
    assert sorted(set(runs["seed"])) == [0, 1]
    scorecard = ["seed", "source_dataset", "split", "arch", "technique", "device", "accuracy",
                 "n_test", "n_classes", "correct", "above_chance_p"]
    assert runs[scorecard].notna().all().all()
    assert (runs["correct"] == (runs["accuracy"] * runs["n_test"]).round()).all()
    assert set(runs["technique"]) == {"top1", "fp16-top1", "cluster8-top1", "m2m-top1"}
    measured = ["accuracy", "train_seconds", "test_seconds", "size_mb", "gzip_mb"]
    assert runs[measured].notna().all().all()
    runs = runs[runs["seed"] == 0]
    fp16 = runs.set_index("technique").loc["fp16-top1"]
    assert fp16["tflite_fp16_mb"] > 0
    plain = runs[(runs["technique"] == "top1") & (runs["arch"] == "vgg16")
                 & (runs["dataset"] == "synth10")].iloc[0]
    assert fp16["size_mb"] == pytest.approx(plain["size_mb"] / 2, rel=0.05)
    m2m = runs.set_index("technique").loc["m2m-top1"]
    assert "block5_conv3" in m2m["moved_layers"]
    run_dirs = list((finished_run / "results" / "runs" / "B").glob("*/*/*/*/s*/*"))
    assert len(run_dirs) == 2 * 7
    for run_dir in run_dirs:
        curves = read_curves(run_dir / "curves.csv")
        assert set(curves["study"]) == {"B"} and "test_accuracy" in curves.columns
        assert curves["reference_loss"].gt(0).all()
        assert curves["run_id"].iloc[0].endswith(f"/{run_dir.parent.name}/cpu")
        assert not (run_dir / "model.h5").exists()  # temporary: deleted once used


def test_rankings_carry_min_and_max_rows_and_accuracy_a_random_baseline(finished_run):
    tables = finished_run / "results" / "tables" / "B"
    ranking = pd.read_csv(tables / "opscore_synth10.csv")
    assert ranking["model"].iloc[0] == "MIN" and ranking["model"].iloc[-1] == "MAX"
    assert len(ranking) == 2 + 2 * 5  # synth10: top1, fp16, cluster, m2m, vgg19 donor; 2 seeds
    over_seeds = pd.read_csv(tables / "opscore_synth10_by_seed_mean.csv")
    assert len(over_seeds) == 5 and (over_seeds["n"] == 2).all()
    assert over_seeds[["accuracy_mean", "accuracy_std", "accuracy_ci_low",
                       "accuracy_ci_high"]].notna().all().all()
    accuracy = pd.read_csv(tables / "table2_accuracy.csv")
    assert (accuracy["arch"] == "random").sum() == 2
    splits = pd.read_csv(tables / "table3_split_times.csv", dtype={"split": str})
    assert sorted(splits["split"]) == ["70-30", "70-30", "own", "own"]


def test_rerun_of_finished_study_b_schedules_no_job(finished_run):
    result = snakemake(finished_run, "tradeoff_all", "--dry-run", "--configfile", "tiny.yaml")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


BAD_GRID = ("study_b:\n  runs:\n"
            "    - {{datasets: [synth10], archs: [{arch}], techniques: [{tech}]}}\n")


@pytest.mark.parametrize(("arch", "technique", "fragment"), [
    ("vgg16", "prune", "unknown technique 'prune'"),
    ("vgg16", "cluster0", "K (number of clusters) = 0"),
    ("resnet18", "top1", "'study_b.runs.0.archs.0'"),
])
def test_bad_study_b_config_stops_with_one_sentence_and_writes_nothing(tmp_path, arch,
                                                                      technique, fragment):
    workdir = copy_workflow(tmp_path)
    (workdir / "bad.yaml").write_text(BAD_GRID.format(arch=arch, tech=technique))
    result = snakemake(workdir, "tradeoff_all", "--configfile", "bad.yaml")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert not (workdir / "results").exists()


def test_corrupt_cifar_archive_fails_with_one_sentence_and_no_dataset(tmp_path):
    workdir = copy_workflow(tmp_path)
    archive = workdir / "resources" / "cifar" / "cifar-10-python.tar.gz"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"this is not the CIFAR-10 archive")
    result = snakemake(workdir, "results/tradeoff/data/cifar10.npz")
    assert result.returncode != 0
    # the sentence appears once from the job and once more where Snakemake shows the log
    errors = {line for line in result.stderr.splitlines() if line.startswith("error:")}
    assert len(errors) == 1, result.stderr
    assert "MD5" in next(iter(errors)) and "corrupt" in next(iter(errors))
    assert not (workdir / "results" / "tradeoff" / "data" / "cifar10.npz").exists()
