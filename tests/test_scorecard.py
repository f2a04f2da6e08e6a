"""The paper-claims scorecard: one row per claim, verdicts as measured, not run when absent."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from reusebench.nasbench.analysis import INCEPTION, RESNET, paper_claims
from reusebench.scorecard import (
    COLUMNS,
    NOT_RUN,
    clustering_row,
    fp16_accuracy_row,
    fp16_size_row,
    opscore_row,
    random_baseline_row,
    resnet_time_row,
    scorecard,
    scorecard_from_files,
    scorecard_markdown,
    write_scorecard,
)
from reusebench.study_a import eq11_check
from reusebench.tradeoff.opscore import ranking

N_CLAIMS = 3 + 4 + 6  # Eq. 11, NAS-Bench-101 (per source), Study B


def study_b_runs(rows: list[tuple]) -> pd.DataFrame:
    """Runs from (arch, technique, accuracy, train_seconds) on synth10's own split, cpu."""
    table = pd.DataFrame(rows, columns=["arch", "technique", "accuracy", "train_seconds"])
    return table.assign(source_dataset="synth10", split="own", device="cpu")


def eq11_table(easy_m_er: float) -> pd.DataFrame:
    metrics = pd.DataFrame({"dataset": ["easy", "easy", "hard", "hard"],
                            "m_er": [easy_m_er, easy_m_er, 0.5, 0.5],
                            "d_unif": [0.9, 0.9, 0.2, 0.2],
                            "delta_fit_pw_20": [np.nan] * 4})
    return eq11_check(metrics, "easy", "hard")


def test_nothing_configured_gives_every_claim_one_not_run_row():
    table = scorecard("default")
    assert list(table.columns) == list(COLUMNS) and len(table) == N_CLAIMS
    assert set(table["verdict"]) == {NOT_RUN} and set(table["scale"]) == {"default"}


def test_eq11_verdicts_come_from_the_check_and_an_undefined_one_is_not_run():
    table = scorecard("paper", eq11=eq11_table(easy_m_er=0.1)).iloc[:3]
    assert list(table["verdict"]) == ["holds", "holds", NOT_RUN]
    assert table["ours"].iloc[0] == "easy 0.1 vs hard 0.5 (median m_er)"
    flipped = scorecard("paper", eq11=eq11_table(easy_m_er=0.9))
    assert flipped["verdict"].iloc[0] == "does not hold"


def test_nasbench_claims_are_scored_once_per_source():
    metrics = pd.DataFrame({"family": [RESNET, INCEPTION], "d_unif_train_test": [0.9995, 0.98],
                            "delta_fit_pw": [0.1, 0.3], "delta_fit_exp": [0.2, 0.4]})
    claims = paper_claims(metrics, d_init_graph=-0.5)
    table = scorecard("default", nasbench_claims={"mini": claims, "full": claims})
    nas = table[table["data"].str.startswith("NAS-Bench-101")]
    assert list(nas["data"]) == ["NAS-Bench-101 mini"] * 4 + ["NAS-Bench-101 full"] * 4
    assert list(nas["verdict"].iloc[:4]) == ["does not hold", "holds", "holds", "does not hold"]
    assert nas["paper"].iloc[3] == "1.45"


@pytest.mark.parametrize(("slow_seconds", "verdict"), [(17.0, "holds"), (25.0, "does not hold")])
def test_resnet101_time_ratio_is_checked_against_the_papers_range(slow_seconds, verdict):
    runs = study_b_runs([("resnet50", "top1", 0.5, 10.0), ("resnet101", "top1", 0.5, slow_seconds),
                         ("resnet101", "top10", 0.5, 99.0)])  # top10 has no ResNet50 twin
    row = resnet_time_row(runs)
    assert row["verdict"] == verdict and row["ours"].startswith(f"{slow_seconds / 10:.4g}x")
    assert resnet_time_row(study_b_runs([("vgg16", "top1", 0.5, 1.0)]))["verdict"] == NOT_RUN


def test_float16_claims_use_table1_ratios_and_the_float32_twin_accuracy():
    sizes = pd.DataFrame({"arch": ["vgg16", "resnet50"], "float16_ratio": [0.5005, 0.62]})
    assert fp16_size_row(sizes)["verdict"] == "does not hold"
    assert fp16_size_row(sizes.iloc[:1])["verdict"] == "holds"
    runs = study_b_runs([("vgg16", "top1", 0.80, 1.0), ("vgg16", "fp16-top1", 0.79, 1.0),
                         ("vgg16", "fp16-top10", 0.10, 1.0)])  # no top10 twin: not compared
    assert fp16_accuracy_row(runs)["verdict"] == "holds"
    runs.loc[1, "accuracy"] = 0.75
    assert fp16_accuracy_row(runs)["verdict"] == "does not hold"


def test_clustering_claim_needs_accuracy_to_fall_with_k_in_every_group():
    falling = study_b_runs([("vgg16", "top1", 0.8, 1.0), ("vgg16", "cluster16-top1", 0.6, 1.0),
                            ("vgg16", "cluster4-top1", 0.3, 1.0)])
    row = clustering_row(falling)
    assert row["verdict"] == "holds"
    assert row["ours"] == "vgg16 synth10 ρ=1 (K=4: 0.3, K=16: 0.6, K=∞: 0.8)"
    rising = falling.assign(accuracy=[0.3, 0.6, 0.8])
    assert clustering_row(rising)["verdict"] == "does not hold"
    alone = falling.iloc[1:2]  # one K and no unclustered twin: nothing to compare
    assert clustering_row(alone)["verdict"] == NOT_RUN


def test_opscore_range_ignores_the_fictitious_min_and_max_rows():
    runs = pd.DataFrame({"arch": ["vgg16", "vgg19"], "technique": "top1", "device": "cpu",
                         "accuracy": [0.9, 0.5], "n_test": 100, "size_mb": [50.0, 80.0],
                         "gzip_mb": [40.0, 70.0], "train_seconds": [5.0, 9.0],
                         "test_seconds": [1.0, 2.0], "total_seconds": [6.0, 11.0]})
    row = opscore_row({"synth10": ranking(runs)})
    assert row["verdict"] == "holds" and row["ours"].endswith("(n=2)")
    slow = runs.assign(total_seconds=[6.0, 1e6])
    assert opscore_row({"synth10": ranking(slow)})["verdict"] == "does not hold"


def test_random_baseline_must_lie_within_three_standard_errors_of_one_over_classes():
    baselines = pd.DataFrame({"dataset": ["synth10", "synth100"], "accuracy": [0.11, 0.02],
                              "n_test": [100, 100], "n_classes": [10, 100]})
    assert random_baseline_row(baselines)["verdict"] == "holds"
    baselines.loc[0, "accuracy"] = 0.25  # 5 standard errors above 0.1
    assert random_baseline_row(baselines)["verdict"] == "does not hold"


def test_scorecard_from_files_writes_csv_and_markdown_with_the_tally(tmp_path):
    eq11_table(0.1).to_csv(tmp_path / "eq11.csv", index=False)
    (tmp_path / "synth10.json").write_text(json.dumps(
        {"dataset": "synth10", "accuracy": 0.1, "n_test": 100, "n_classes": 10}))
    table = scorecard_from_files("default", eq11=tmp_path / "eq11.csv",
                                 baselines=[tmp_path / "synth10.json"])
    write_scorecard(table, tmp_path / "scorecard.csv", tmp_path / "scorecard.md")
    assert pd.read_csv(tmp_path / "scorecard.csv")["verdict"].value_counts().to_dict() == \
        {NOT_RUN: 10, "holds": 3}
    markdown = (tmp_path / "scorecard.md").read_text()
    assert markdown == scorecard_markdown(table)
    assert "13 claims: 3 holds, 0 does not hold, 10 not run." in markdown
    assert all(line.count("|") == len(COLUMNS) + 1 for line in markdown.splitlines()
               if line.startswith("|"))
