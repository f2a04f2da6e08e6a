"""Model cards: content of Study A and Study B cards, the Hugging Face YAML round trip, the
`reusebench card` command, the study-wide writer and bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results

from reusebench.core.curves import write_curves
from reusebench.core.errors import InputError
from reusebench.core.metric_tables import compute_metric_files
from reusebench.glue import cli
from reusebench.reporting.cards.build import (
    read_metric_tables,
    read_run_folder,
    run_card_content,
    write_study_cards,
)
from reusebench.reporting.cards.content import absence_reason
from reusebench.reporting.cards.render import card_text, check_card
from reusebench.reporting.study_b.tables import runs_table

EPOCHS = 12  # enough for the N = 10 convergence fits, too few for N = 15 and 20
CHECKPOINT_BYTES = 2_500_000


def segmentation_curves(arch: str, init: str, scale: float) -> pd.DataFrame:
    """One Study A run as the train rule writes it: losses, times and per-epoch scores."""
    epoch = np.arange(1, EPOCHS + 1, dtype=float)
    return pd.DataFrame({
        "study": "A", "dataset": "easy", "arch": arch, "init": init, "lr": 0.001, "seed": 0,
        "device": "cpu", "epoch": epoch.astype(int), "train_loss": 1.1 * scale * epoch**-0.5,
        "test_loss": scale * epoch**-0.5, "epoch_seconds": 2.0, "eval_seconds": 0.1,
        "pixel_accuracy": 0.5 + epoch / 40, "precision": 0.6, "recall": 0.7, "f1": 0.65,
        "iou": 0.4 + epoch / 100})


def provenance(arch: str, init: str) -> dict:
    return {"config": {"study": "A", "arch": arch, "init": init, "lr": 0.001, "seed": 0,
                       "device": "cpu", "epochs": EPOCHS, "batch_size": 4,
                       "pretrained_checkpoint": None, "num_threads": 1, "precise_bn": True},
            "dataset": {"name": "easy", "modality": "synthetic fluorescence", "n_classes": 2,
                        "image_shape": [32, 32, 1], "n_train": 5, "n_test": 1},
            "versions": {"python": "3.11", "torch": "2"},
            "device": {"torch_device": "cpu", "name": "x86_64"}, "host": "builder",
            "platform": "Linux", "start": "2026-01-01T00:00:00+00:00",
            "end": "2026-01-01T00:01:00+00:00", "nvml": {"status": "no GPU in use", "ok": False}}


@pytest.fixture
def study_a(tmp_path) -> Path:
    """A results tree with three Study A runs (unet random/pretrained, lraspp random)."""
    results = tmp_path / "results"
    curve_files = []
    for arch, init, scale in (("unet", "random", 1.0), ("unet", "pretrained", 0.8),
                              ("lraspp", "random", 1.5)):
        run_dir = results / "runs" / "A" / "easy" / arch / init / "lr0.001" / "s0" / "cpu"
        write_curves(segmentation_curves(arch, init, scale), run_dir / "curves.csv")
        (run_dir / "provenance.json").write_text(json.dumps(provenance(arch, init)))
        (run_dir / "checkpoint.pt").write_bytes(b"\0" * CHECKPOINT_BYTES)
        curve_files.append(run_dir / "curves.csv")
    compute_metric_files(curve_files, results / "metrics" / "A")
    return results


def a_run(results: Path, arch: str = "unet", init: str = "pretrained") -> Path:
    return results / "runs" / "A" / "easy" / arch / init / "lr0.001" / "s0" / "cpu"


def summary(arch: str, technique: str, accuracy: float, total: float, size: float) -> dict:
    """A Study B run summary (what tradeoff_train writes), with chosen accuracy/time/size."""
    return {"run_id": f"B/synth10/{arch}/{technique}/lr0.001/s0/cpu", "study": "B",
            "dataset": "synth10", "source_dataset": "synth10", "split": "own", "arch": arch,
            "technique": technique, "method": "base", "clusters": None, "device": "cpu",
            "lr": 0.001, "seed": 0, "epochs": 2, "batch_size": 32, "unfrozen_layers": 1,
            "device_name": "cpu (x86_64, 1 threads)", "n_train": 200, "n_test": 1000,
            "n_classes": 10, "accuracy": accuracy, "precision": 0.5, "recall": 0.6, "f1": 0.55,
            "train_seconds": total - 1.0, "test_seconds": 1.0, "total_seconds": total,
            "parameters": 1000, "trainable_parameters": 10, "size_mb": size,
            "gzip_mb": size / 2, "gpu_peak_mb": float("nan"), "moved_layers": "",
            "weights": "none", "host": "builder", "python": "3.11", "tensorflow": "2",
            "started": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:01:00+00:00",
            "settings": {"precise_bn": True}}


@pytest.fixture
def study_b(tmp_path) -> Path:
    """A results tree with two Study B runs of synth10 and the runs table."""
    results = tmp_path / "results"
    summaries = [summary("vgg16", "top1", 0.99, 10.0, 10.0),  # OpScore 0 (paper B example)
                 summary("vgg19", "top1", 0.5, 100.0, 50.0)]
    curve_files = []
    for record in summaries:
        run_dir = results / "runs" / "B" / "synth10" / "own" / record["arch"] / "top1" / "cpu"
        epoch = np.array([1, 2])
        curves = pd.DataFrame({
            "study": "B", "dataset": "synth10", "arch": record["arch"], "init": "top1",
            "lr": 0.001, "seed": 0, "device": "cpu", "epoch": epoch,
            "train_loss": [2.3, 2.0], "test_loss": [2.2, 2.1], "epoch_seconds": 4.5,
            "train_accuracy": [0.1, 0.2], "test_accuracy": [0.15, 0.3]})
        write_curves(curves, run_dir / "curves.csv")
        (run_dir / "summary.json").write_text(json.dumps(record))
        curve_files.append(run_dir / "curves.csv")
    compute_metric_files(curve_files, results / "metrics" / "B")
    (results / "tradeoff").mkdir()
    runs_table(summaries).to_csv(results / "tradeoff" / "runs.csv", index=False)
    return results


def b_run(results: Path, arch: str = "vgg16") -> Path:
    return results / "runs" / "B" / "synth10" / "own" / arch / "top1" / "cpu"


def content_of(run_dir: Path, results: Path, study: str) -> dict:
    runs = (pd.read_csv(results / "tradeoff" / "runs.csv", dtype={"split": str})
            if study == "B" else None)
    tables = read_metric_tables(results / "metrics" / study / "metrics.parquet")
    return run_card_content(read_run_folder(run_dir), tables, runs)


def values(content: dict) -> dict[str, object]:
    return {entry["name"]: entry["value"] for entry in content["metrics"]}


# ---------------------------------------------------------------- card content


def test_study_a_card_holds_the_runs_task_and_reuse_metrics(study_a):
    content = content_of(a_run(study_a), study_a, "A")
    row = pd.read_parquet(study_a / "metrics" / "A" / "metrics.parquet").set_index("run_id")
    row = row.loc["A/easy/unet/pretrained/lr0.001/s0/cpu"]
    found = values(content)
    assert content["task"]["type"] == "image-segmentation"
    assert found["M_er: minimum test loss"] == pytest.approx(row["m_er"], rel=1e-5)
    assert found["ep*: epoch of the minimum"] == EPOCHS
    assert found["D_unif: train-test uniformity"] == pytest.approx(row["d_unif"], rel=1e-5)
    assert found["T(M_er): seconds to the minimum"] == pytest.approx(2.0 * EPOCHS)
    assert found[f"best Δ(fit) ({row['delta_fit_best']})"] == pytest.approx(
        row["delta_fit_min"], rel=1e-5, abs=1e-12)
    # the final epoch's scores: those of the saved checkpoint
    assert found["pixel accuracy (final epoch)"] == pytest.approx(0.5 + EPOCHS / 40)
    assert found["macro IoU"] == pytest.approx(0.4 + EPOCHS / 100)
    assert found["size: checkpoint file (MB)"] == pytest.approx(CHECKPOINT_BYTES / 1e6)


def test_study_a_card_carries_its_data_pair_and_names_the_partner(study_a):
    content = content_of(a_run(study_a), study_a, "A")
    pairs = [entry for entry in content["metrics"] if entry["partner"]]
    assert {entry["key"] for entry in pairs} == {"g_init", "d_init_data"}
    g_init = next(entry for entry in pairs if entry["key"] == "g_init")
    assert g_init["partner"] == "A/easy/unet/random/lr0.001/s0/cpu"
    assert g_init["name"] == "G_init: M_er(random) − M_er(pretrained)"
    assert g_init["value"] == pytest.approx(1.0 * EPOCHS**-0.5 - 0.8 * EPOCHS**-0.5, rel=1e-5)
    # lraspp has no pretrained run: the pretrained unet run has no graph pair, and says so
    assert [note["kind"] for note in content["unpaired"]] == ["graph"]


def test_unmeasured_metrics_have_no_value_and_a_reason(study_a):
    content = content_of(a_run(study_a), study_a, "A")
    missing = {item["name"]: item["reason"] for item in content["not_measured"]}
    assert set(missing) == {"GPU^MaxM: peak GPU memory (MiB)",
                            "GPU^AvgU: mean GPU utilization (%)"}
    assert all("device cpu" in reason for reason in missing.values())
    short = content_of(shortened_lraspp_run(study_a), study_a, "A")
    reasons = {item["name"]: item["reason"] for item in short["not_measured"]}
    assert reasons["best Δ(fit)"] == "the convergence fits need at least 10 epochs; the run has 3"


def shortened_lraspp_run(results: Path) -> Path:
    """Rewrite the lraspp run with 3 epochs and recompute the metrics table."""
    run_dir = a_run(results, "lraspp", "random")
    write_curves(segmentation_curves("lraspp", "random", 1.5).head(3), run_dir / "curves.csv")
    curve_files = sorted((results / "runs" / "A").rglob("curves.csv"))
    compute_metric_files(curve_files, results / "metrics" / "A")
    return run_dir


def test_study_b_card_holds_accuracy_size_and_the_papers_opscore(study_b):
    content = content_of(b_run(study_b), study_b, "B")
    found = values(content)
    assert content["task"]["type"] == "image-classification"
    assert content["dataset"] == {"name": "synth10", "type": "synth10", "split": "test",
                                  "config": "own"}
    assert found["accuracy (test set)"] == 0.99
    assert found["size: saved model file (MB)"] == 10.0
    # paper B: ⟨accuracy 0.99, 10 s, 10 MB⟩ → OpScore 0
    assert found["OpScore (train + test time)"] == pytest.approx(0.0, abs=1e-9)
    assert found["OpScore (train time)"] == pytest.approx(math.log10(0.01 * 9 * 10), rel=1e-5)
    assert content["training"]["opscore_rank"] == "1 of 2"
    graph = next(entry for entry in content["metrics"] if entry["key"] == "d_init_graph")
    assert graph["partner"] == "B/synth10/vgg19/top1/lr0.001/s0/cpu"
    assert graph["value"] == pytest.approx(0.0)  # same test losses
    assert {note["kind"] for note in content["unpaired"]} == {"data"}


# ---------------------------------------------------------------- README.md and YAML


@pytest.mark.parametrize("study", ["A", "B"])
def test_card_yaml_round_trips_through_huggingface_hub(study, study_a, study_b, tmp_path):
    results, run_dir = (study_a, a_run(study_a)) if study == "A" else (study_b, b_run(study_b))
    content = content_of(run_dir, results, study)
    path = tmp_path / "README.md"
    path.write_text(card_text(content))
    card = ModelCard.load(path)  # a Path: read locally, never from the Hub
    metadata = yaml.safe_load(path.read_text().split("---\n")[1])
    name, results_found = model_index_to_eval_results(metadata["model-index"])
    assert name == content["model_name"] == card.data.model_name
    measured = [entry for entry in content["metrics"] if entry["value"] is not None]
    assert [(result.metric_type, result.metric_name, result.metric_value)
            for result in card.data.eval_results] == \
        [(entry["type"], entry["name"], entry["value"]) for entry in measured]
    assert {result.task_type for result in results_found} == {content["task"]["type"]}
    assert {result.dataset_name for result in results_found} == {content["keys"]["dataset"]}
    assert card.data.pipeline_tag == content["task"]["type"]


def test_unmeasured_metrics_stay_out_of_the_yaml_and_read_not_measured_in_the_body(study_a):
    content = content_of(a_run(study_a), study_a, "A")
    text = card_text(content)
    front, body = text.split("---\n")[1], text.split("---\n", 2)[2]
    assert "GPU^MaxM" not in front
    assert "| GPU^MaxM: peak GPU memory (MiB) | not measured |" in body
    for heading in ("## Task metrics", "## Reuse metrics", "## Training configuration",
                    "## Hardware", "## Training curves", "## How to read the metrics"):
        assert heading in body
    assert "](curves.png)" in body


def test_check_card_rejects_a_model_index_that_differs_from_the_content(study_a):
    content = content_of(a_run(study_a), study_a, "A")
    text = card_text(content)
    m_er = next(entry["value"] for entry in content["metrics"] if entry["key"] == "m_er")
    tampered = text.replace(f"value: {m_er}", "value: 99.0", 1)
    assert tampered != text
    with pytest.raises(ValueError, match="does not match"):
        check_card(tampered, content)


# ---------------------------------------------------------------- reusebench card


def test_card_command_writes_readme_json_and_figure_into_the_run_folder(study_a, capsys):
    run_dir = a_run(study_a)
    assert cli.main(["card", str(run_dir)]) == 0  # metrics table found in the results tree
    assert "README.md" in capsys.readouterr().out
    document = json.loads((run_dir / "card.json").read_text())
    assert document == content_of(run_dir, study_a, "A")
    assert (run_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ModelCard.load(run_dir / "README.md").data.model_name == document["model_name"]


def test_card_command_takes_a_metrics_table_and_an_output_folder(study_b, tmp_path):
    out = tmp_path / "card"
    metrics = study_b / "metrics" / "B" / "metrics.csv"
    assert cli.main(["card", str(b_run(study_b, "vgg19")), "--metrics", str(metrics),
                     "-o", str(out)]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["README.md", "card.json",
                                                          "curves.png"]
    assert json.loads((out / "card.json").read_text())["run_id"] == \
        "B/synth10/vgg19/top1/lr0.001/s0/cpu"


@pytest.mark.parametrize(("case", "fragment"), [
    ("not_a_run_folder", "is not a run folder of the pipeline: it has no curves.csv"),
    ("runs_folder", "is not a run folder of the pipeline: it has no curves.csv"),
    ("no_provenance", "holds provenance.json beside curves.csv"),
    ("run_not_in_table", "is not in the metrics table"),
    ("no_metrics_table", "no such metrics table"),
    ("outside_results_tree", "pass --metrics"),
])
def test_card_command_rejects_bad_input_with_one_sentence_and_writes_nothing(
        case, fragment, study_a, study_b, tmp_path, capsys):
    out = tmp_path / "out"
    run_dir, extra = a_run(study_a), []
    if case == "not_a_run_folder":
        run_dir = tmp_path / "empty"
        run_dir.mkdir()
    elif case == "runs_folder":
        run_dir = study_a / "runs"
    elif case == "no_provenance":
        (run_dir / "provenance.json").unlink()
    elif case == "run_not_in_table":
        extra = ["--metrics", str(study_b / "metrics" / "B" / "metrics.parquet")]
    elif case == "no_metrics_table":
        extra = ["--metrics", str(tmp_path / "missing.parquet")]
    elif case == "outside_results_tree":
        loose = tmp_path / "loose"
        loose.mkdir()
        for name in ("curves.csv", "provenance.json"):
            (loose / name).write_bytes((run_dir / name).read_bytes())
        run_dir = loose
    assert cli.main(["card", str(run_dir), "-o", str(out), *extra]) == 2
    error = capsys.readouterr().err.strip()
    assert fragment in error and len(error.splitlines()) == 1
    assert not out.exists()


# ---------------------------------------------------------------- every run of a study


def test_study_cards_write_one_folder_per_run_and_an_index_linking_them(study_a, tmp_path):
    run_dirs = sorted(path.parent for path in (study_a / "runs" / "A").rglob("curves.csv"))
    out, index = tmp_path / "cards" / "A" / "runs", tmp_path / "cards" / "A" / "index.md"
    contents = write_study_cards(run_dirs, study_a / "metrics" / "A" / "metrics.parquet", out,
                                 index)
    assert len(contents) == 3
    cards = sorted(out.rglob("README.md"))
    assert [card.parent.relative_to(out).as_posix() for card in cards] == [
        "easy/lraspp/random/lr0.001/s0/cpu", "easy/unet/pretrained/lr0.001/s0/cpu",
        "easy/unet/random/lr0.001/s0/cpu"]
    text = index.read_text()
    for card in cards:
        assert f"]({card.relative_to(index.parent).as_posix()})" in text


def test_study_cards_write_nothing_when_one_run_is_bad(study_a, tmp_path):
    run_dirs = sorted(path.parent for path in (study_a / "runs" / "A").rglob("curves.csv"))
    (run_dirs[-1] / "provenance.json").unlink()
    out = tmp_path / "cards"
    with pytest.raises(InputError, match=r"provenance\.json"):
        write_study_cards(run_dirs, study_a / "metrics" / "A" / "metrics.parquet",
                          out / "runs", out / "index.md")
    assert not out.exists()


@pytest.mark.parametrize(("key", "row", "reason"), [
    ("d_re", {"diverged": True}, "the run diverged"),
    ("delta_fit_min", {"diverged": False, "n_epochs": 30, "fit_pw_10_status": "ok",
                       "fit_exp_10_status": "failed"}, "no convergence fit succeeded"),
    ("t_m_er", {"diverged": False}, "no training seconds per epoch"),
    ("gpu_avg_util_pct", {"diverged": False, "device": "cpu"}, "no NVML GPU samples on device cpu"),
])
def test_absence_reasons_say_why_a_metric_has_no_value(key, row, reason):
    assert reason in absence_reason(key, row)


# ---------------------------------------------------------------- flags and seed spread


BLOWN_UP = "A/easy/unet/random/lr1000/s0/cpu"


@pytest.fixture
def seeded_study_a(tmp_path) -> Path:
    """unet random at lr 0.001 over seeds 0-2 (M_er scale × 12^-0.5), and one run at lr 1000
    whose finite test loss blows up to 2.2e7 at epoch 3 (constant-prediction loss 0.6931)."""
    results = tmp_path / "seeded" / "results"
    curve_files = []
    blown_up = [0.71, 0.5, 2.2e7] + [1e6] * (EPOCHS - 3)
    for lr, seed, scale in ((0.001, 0, 1.0), (0.001, 1, 1.1), (0.001, 2, 1.2), (1000, 0, 1.0)):
        curves = segmentation_curves("unet", "random", scale).assign(
            lr=lr, seed=seed, reference_loss=0.6931)
        if lr == 1000:
            curves["test_loss"] = curves["train_loss"] = blown_up
        run_dir = results / "runs" / "A" / "easy" / "unet" / "random" / f"lr{lr:g}" / \
            f"s{seed}" / "cpu"
        write_curves(curves, run_dir / "curves.csv")
        (run_dir / "provenance.json").write_text(json.dumps(provenance("unet", "random")))
        curve_files.append(run_dir / "curves.csv")
    compute_metric_files(curve_files, results / "metrics" / "A")
    return results


def seeded_run(results: Path, lr: str = "0.001", seed: int = 0) -> Path:
    return results / "runs" / "A" / "easy" / "unet" / "random" / f"lr{lr}" / f"s{seed}" / "cpu"


def test_a_flagged_card_opens_with_a_warning_and_its_json_carries_the_flags(seeded_study_a):
    content = content_of(seeded_run(seeded_study_a, "1000"), seeded_study_a, "A")
    assert content["flags"] == {
        "diverged": True, "not_learning": False,
        "reason": "test loss 2.2e+07 at epoch 3 exceeds 10 × its epoch-1 value 0.71",
        "reference_loss": 0.6931, "reference_kind": "constant_prediction"}
    body = card_text(content).split("\n---\n", 1)[1].strip().split("\n\n")
    assert body[0] == f"# {BLOWN_UP.replace('/', '-')}"
    assert body[1] == ("**Warning: diverged** — test loss 2.2e+07 at epoch 3 exceeds 10 × its "
                       "epoch-1 value 0.71; its metrics do not describe a trained model.")
    assert "flagged-diverged" in ModelCard(card_text(content)).data.to_dict()["tags"]


def test_an_unflagged_card_has_no_warning_and_states_its_spread_over_seeds(seeded_study_a):
    content = content_of(seeded_run(seeded_study_a), seeded_study_a, "A")
    assert content["flags"]["diverged"] is False and content["flags"]["reason"] == ""
    spread = content["seed_spread"]
    assert (spread["n"], spread["n_flagged"], spread["seeds"]) == (3, 0, [0, 1, 2])
    assert spread["mean"] == pytest.approx(1.1 / math.sqrt(12), rel=1e-5)
    assert spread["std"] == pytest.approx(0.1 / math.sqrt(12), rel=1e-5)
    assert spread["ci_low"] == pytest.approx(0.245832, rel=1e-5)
    text = card_text(content)
    assert "Warning" not in text
    assert ("M_er over 3 seeds: 0.3175 ± 0.02887 (95 % interval [0.2458, 0.3893]). Seeds: the "
            "runs identical to this one in every key but the seed (0, 1, 2).") in text


def test_a_one_seed_configuration_says_it_has_no_spread(study_a, seeded_study_a):
    text = card_text(content_of(a_run(study_a), study_a, "A"))
    assert "M_er over 1 seed: no spread." in text
    flagged = card_text(content_of(seeded_run(seeded_study_a, "1000"), seeded_study_a, "A"))
    assert ("M_er over seeds: no unflagged seed of this configuration; 1 flagged seed left "
            "out.") in flagged


def test_the_card_index_marks_flagged_runs(seeded_study_a, tmp_path):
    run_dirs = sorted(p.parent for p in (seeded_study_a / "runs" / "A").rglob("curves.csv"))
    index = tmp_path / "index.md"
    write_study_cards(run_dirs, seeded_study_a / "metrics" / "A" / "metrics.parquet",
                      tmp_path / "runs", index)
    text = index.read_text()
    assert "4 trained runs. 1 of them are flagged diverged or not learning" in text
    assert f"| `{BLOWN_UP}` | **diverged** | 0.5 |" in text
    assert "| `A/easy/unet/random/lr0.001/s0/cpu` |  | 0.2887 |" in text
    card = json.loads((tmp_path / "runs" / "easy/unet/random/lr1000/s0/cpu/card.json")
                      .read_text())
    assert card["flags"]["diverged"] is True
