"""The paper-claims scorecard: verdicts with n, interval and reason; chance and one seed
give "inconclusive", absent inputs "not run"."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from reusebench.core.evidence import FAILS, HOLDS, INCONCLUSIVE, NOT_RUN
from reusebench.reporting.nasbench.analysis import INCEPTION, RESNET, paper_claims
from reusebench.reporting.scorecard import (
    COLUMNS,
    clustering_row,
    fp16_accuracy_row,
    fp16_size_row,
    opscore_row,
    random_baseline_row,
    resnet_time_row,
    scorecard,
    scorecard_from_files,
    scorecard_markdown,
    transfer_row,
    unfreezing_row,
    write_scorecard,
)
from reusebench.reporting.study_a.tables import eq11_check

N_CLAIMS = 3 + 4 + 8  # Eq. 11, NAS-Bench-101 (per source), Study B
N_TEST, N_CLASSES = 1000, 10


def study_b_runs(rows: list[tuple], seeds: tuple[int, ...] = (0, 1, 2),
                 jitter: float = 0.005) -> pd.DataFrame:
    """Runs of (arch, technique, accuracy, train_seconds) on synth10's own split, cpu, one
    per seed, accuracies jittered by seed so that intervals have a width."""
    records = []
    for seed in seeds:
        for arch, technique, accuracy, seconds in rows:
            value = accuracy + jitter * (seed - 1)
            records.append({"arch": arch, "technique": technique, "accuracy": value,
                            "train_seconds": seconds * (1 + 0.01 * seed), "seed": seed,
                            "correct": round(value * N_TEST)})
    table = pd.DataFrame(records)
    return table.assign(source_dataset="synth10", split="own", device="cpu", n_test=N_TEST,
                        n_classes=N_CLASSES, test_seconds=1.0, size_mb=20.0,
                        total_seconds=table["train_seconds"] + 1.0)


def eq11_table(easy_m_er: float, seeds: tuple[int, ...] = (0, 1, 2)) -> pd.DataFrame:
    rows = []
    for seed in seeds:
        for arch in ("unet", "lraspp"):
            rows.append({"dataset": "easy", "arch": arch, "seed": seed,
                         "m_er": easy_m_er + 0.01 * seed, "d_unif": 0.9 - 0.01 * seed,
                         "delta_fit_pw_20": np.nan})
            rows.append({"dataset": "hard", "arch": arch, "seed": seed, "m_er": 0.5,
                         "d_unif": 0.2, "delta_fit_pw_20": np.nan})
    return eq11_check(pd.DataFrame(rows), "easy", "hard")


def test_nothing_configured_gives_every_claim_one_not_run_row_with_a_reason():
    table = scorecard("default")
    assert list(table.columns) == list(COLUMNS) and len(table) == N_CLAIMS
    assert set(table["verdict"]) == {NOT_RUN} and set(table["scale"]) == {"default"}
    assert (table["reason"].str.len() > 0).all()


def test_eq11_verdicts_come_from_the_check_over_seeds():
    table = scorecard("paper", eq11=eq11_table(easy_m_er=0.1)).iloc[:3]
    assert list(table["verdict"]) == [HOLDS, HOLDS, NOT_RUN]
    assert list(table["n"].iloc[:2]) == [3, 3] and table["interval"].iloc[0].startswith("[")
    assert table["ours"].iloc[0].startswith("easy 0.11 vs hard 0.5")
    flipped = scorecard("paper", eq11=eq11_table(easy_m_er=0.9))
    assert flipped["verdict"].iloc[0] == FAILS


def test_eq11_on_one_seed_is_inconclusive():
    row = scorecard("paper", eq11=eq11_table(easy_m_er=0.1, seeds=(0,))).iloc[0]
    assert row["verdict"] == INCONCLUSIVE and row["n"] == 1
    assert row["reason"].startswith("1 seed")


def test_nasbench_claims_are_scored_once_per_source_with_their_evidence():
    metrics = pd.DataFrame({"family": [RESNET, INCEPTION], "d_unif_train_test": [0.9995, 0.98],
                            "delta_fit_pw": [0.1, 0.3], "delta_fit_exp": [0.2, 0.4]})
    repeats = pd.DataFrame({"lowest_unif": [0.98, 0.981, 0.979], "pw": [0.4, 0.41, 0.39],
                            "exp": [0.6, 0.61, 0.62], "resnet_fit": [0.1, 0.11, 0.1],
                            "inception_fit": [0.3, 0.31, 0.29], "d_init": [-0.5, -0.4, -0.6]})
    claims = paper_claims(metrics, d_init_graph=-0.5, n_points=8, repeats=repeats)
    table = scorecard("default", nasbench_claims={"mini": claims, "full": claims})
    nas = table[table["data"].str.startswith("NAS-Bench-101")]
    assert list(nas["data"]) == ["NAS-Bench-101 mini"] * 4 + ["NAS-Bench-101 full"] * 4
    assert list(nas["verdict"].iloc[:4]) == [FAILS, HOLDS, HOLDS, FAILS]
    assert list(nas["n"].iloc[:4]) == [3] * 4 and nas["paper"].iloc[3] == "1.45"


def test_nasbench_fits_on_two_points_per_contour_are_inconclusive():
    metrics = pd.DataFrame({"family": [RESNET, INCEPTION], "d_unif_train_test": [1.0, 1.0],
                            "delta_fit_pw": [0.1, 0.3], "delta_fit_exp": [0.2, 0.4]})
    repeats = pd.DataFrame({"lowest_unif": [1.0] * 3, "pw": [0.1] * 3, "exp": [0.2] * 3,
                            "resnet_fit": [0.1] * 3, "inception_fit": [0.3] * 3,
                            "d_init": [0.5, 0.6, 0.4]})
    claims = paper_claims(metrics, 0.5, n_points=2, repeats=repeats)
    assert list(claims["verdict"]) == [INCONCLUSIVE] * 3 + [HOLDS]
    assert claims["reason"].iloc[0].startswith("2 points per contour")


@pytest.mark.parametrize(("slow_seconds", "verdict"), [(17.0, HOLDS), (25.0, FAILS)])
def test_resnet101_time_ratio_is_checked_against_the_papers_range(slow_seconds, verdict):
    runs = study_b_runs([("resnet50", "top1", 0.5, 10.0), ("resnet101", "top1", 0.5, slow_seconds),
                         ("resnet101", "top10", 0.5, 99.0)])  # top10 has no ResNet50 twin
    row = resnet_time_row(runs)
    assert row["verdict"] == verdict and row["n"] == 3
    assert row["ours"].startswith(f"{slow_seconds / 10:.4g}x")
    assert resnet_time_row(study_b_runs([("vgg16", "top1", 0.5, 1.0)]))["verdict"] == NOT_RUN


def test_float16_size_is_deterministic_and_counts_models():
    sizes = pd.DataFrame({"arch": ["vgg16", "resnet50"], "float16_ratio": [0.5005, 0.62]})
    assert fp16_size_row(sizes)["verdict"] == FAILS
    row = fp16_size_row(sizes.iloc[:1])
    assert row["verdict"] == HOLDS and row["n"] == 1 and row["interval"] == ""


def test_float16_accuracy_uses_the_float32_twin_of_the_same_seed():
    runs = study_b_runs([("vgg16", "top1", 0.80, 1.0), ("vgg16", "fp16-top1", 0.80, 1.0),
                         ("vgg16", "fp16-top10", 0.30, 1.0)])  # no top10 twin: not compared
    assert fp16_accuracy_row(runs)["verdict"] == HOLDS
    worse = study_b_runs([("vgg16", "top1", 0.80, 1.0), ("vgg16", "fp16-top1", 0.70, 1.0)])
    assert fp16_accuracy_row(worse)["verdict"] == FAILS


def test_accuracy_claims_on_chance_level_models_are_inconclusive_never_holds():
    chance = study_b_runs([("vgg16", "top1", 0.30, 1.0), ("vgg16", "fp16-top1", 0.10, 1.0),
                           ("vgg16", "cluster4-top1", 0.10, 1.0),
                           ("vgg16", "cluster16-top1", 0.10, 1.0)], jitter=0.0)
    for row in (fp16_accuracy_row(chance), clustering_row(chance)):
        assert row["verdict"] == INCONCLUSIVE
        assert "not significantly above the random baseline" in row["reason"]


def test_accuracy_claims_on_one_seed_are_inconclusive():
    one_seed = study_b_runs([("vgg16", "top1", 0.8, 1.0), ("vgg16", "cluster4-top1", 0.3, 1.0)],
                            seeds=(0,))
    row = clustering_row(one_seed)
    assert row["verdict"] == INCONCLUSIVE and row["reason"].startswith("1 seed")


def test_clustering_claim_compares_the_smallest_k_with_the_unclustered_twin():
    falling = study_b_runs([("vgg16", "top1", 0.8, 1.0), ("vgg16", "cluster16-top1", 0.6, 1.0),
                            ("vgg16", "cluster4-top1", 0.3, 1.0)])
    row = clustering_row(falling)
    assert row["verdict"] == HOLDS
    assert row["ours"] == ("vgg16 synth10 ρ=1 (K=4: 0.3, K=16: 0.6, K=∞: 0.8; mean over 3 "
                           "seeds)")
    rising = study_b_runs([("vgg16", "top1", 0.3, 1.0), ("vgg16", "cluster16-top1", 0.6, 1.0),
                           ("vgg16", "cluster4-top1", 0.8, 1.0)])
    assert clustering_row(rising)["verdict"] == FAILS
    alone = falling[falling["technique"] == "cluster16-top1"]
    assert clustering_row(alone)["verdict"] == NOT_RUN


def test_unfreezing_and_transfer_claims_pair_runs_by_seed():
    runs = study_b_runs([("vgg16", "top1", 0.6, 1.0), ("vgg16", "top10", 0.8, 1.0),
                         ("vgg16", "m2m-top1", 0.5, 1.0)])
    assert unfreezing_row(runs)["verdict"] == HOLDS
    assert transfer_row(runs)["verdict"] == HOLDS
    assert transfer_row(runs.assign(accuracy=runs["accuracy"][::-1].to_numpy()))[
        "verdict"] != HOLDS


def test_opscore_range_is_judged_per_model_over_seeds():
    runs = study_b_runs([("vgg16", "top1", 0.9, 5.0), ("vgg19", "top1", 0.5, 9.0)])
    row = opscore_row(runs)
    assert row["verdict"] == HOLDS and row["n"] == 6
    slow = runs.assign(total_seconds=np.where(runs["arch"] == "vgg19", 1e6, 6.0))
    assert opscore_row(slow)["verdict"] == FAILS


def test_random_baseline_must_have_one_over_classes_inside_its_interval():
    baselines = pd.DataFrame({"dataset": ["synth10", "synth100"], "accuracy": [0.11, 0.02],
                              "n_test": [100, 100], "n_classes": [10, 100]})
    row = random_baseline_row(baselines)
    assert row["verdict"] == HOLDS and row["n"] == 200
    baselines.loc[0, "accuracy"] = 0.25  # far above 0.1 on 100 images
    assert random_baseline_row(baselines)["verdict"] == FAILS


def test_scorecard_from_files_writes_csv_and_markdown_with_the_tally(tmp_path):
    eq11_table(0.1).to_csv(tmp_path / "eq11.csv", index=False)
    (tmp_path / "synth10.json").write_text(json.dumps(
        {"dataset": "synth10", "accuracy": 0.1, "n_test": 100, "n_classes": 10}))
    table = scorecard_from_files("default", eq11=tmp_path / "eq11.csv",
                                 baselines=[tmp_path / "synth10.json"])
    write_scorecard(table, tmp_path / "scorecard.csv", tmp_path / "scorecard.md")
    written = pd.read_csv(tmp_path / "scorecard.csv")
    assert written["verdict"].value_counts().to_dict() == {NOT_RUN: 12, HOLDS: 3}
    assert list(written["n"].iloc[:2]) == [3, 3]
    markdown = (tmp_path / "scorecard.md").read_text()
    assert markdown == scorecard_markdown(table)
    assert "15 claims: 3 holds, 0 does not hold, 0 inconclusive, 12 not run." in markdown
    assert all(line.count("|") == len(COLUMNS) + 1 for line in markdown.splitlines()
               if line.startswith("|"))


def test_runs_at_unequal_epochs_are_not_compared():
    runs = study_b_runs([("vgg16", "top1", 0.6, 1.0), ("vgg16", "top10", 0.8, 1.0)])
    runs["epochs"] = np.where(runs["technique"] == "top1", 10, 1)
    row = unfreezing_row(runs)
    assert row["verdict"] == NOT_RUN and "at equal epochs" in row["reason"]
    assert unfreezing_row(runs.assign(epochs=10))["verdict"] == HOLDS
