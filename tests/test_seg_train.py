"""Segmentation training: every architecture trains, determinism, outputs, loss and metrics."""

from __future__ import annotations

import json
import re
import socket
from dataclasses import replace
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from reusebench.core.curves import read_curves
from reusebench.core.errors import InputError
from reusebench.core.finished import remember_finished
from reusebench.training.seg.device import resolve_device
from reusebench.training.seg.evaluate import (
    METRICS,
    REFERENCE_COLUMNS,
    class_weights,
    confusion_matrix,
    constant_reference,
    segmentation_scores,
)
from reusebench.training.seg.models import ARCHS, build_model, is_head_key, load_pretrained
from reusebench.training.seg.resume import RESUME_FILE
from reusebench.training.seg.train import (
    RunConfig,
    batches,
    fit,
    normalisation,
    normalised_split,
    pretrain_run,
    recompute_batchnorm_statistics,
    train_run,
    train_seeds,
)

EPOCH_LINE = re.compile(r"^epoch \d+/\d+ train_loss \S+ test_loss \S+ \(\d+\.\d s\)$")


def tiny_data(n_train=4, n_test=2, size=32, channels=1, n_classes=2, seed=0, name="tiny"):
    """Bright squares of classes 1.. on a dark background, like the microscopy contract."""
    rng = np.random.default_rng(seed)
    n_images = n_train + n_test
    masks = np.zeros((n_images, size, size), dtype=np.int64)
    for image in range(n_images):
        for kind in range(1, n_classes):
            row, column = rng.integers(0, size - 8, size=2)
            masks[image, row:row + 8, column:column + 8] = kind
    brightness = 10.0 + 20.0 * masks[..., None] * np.ones(channels)
    images = (brightness + rng.normal(0, 2, brightness.shape)).astype(np.float32)
    return SimpleNamespace(images=images, masks=masks, n_classes=n_classes, name=name,
                           modality="synthetic", train_index=np.arange(n_train),
                           test_index=np.arange(n_train, n_images))


def config(arch="lraspp", **changes):
    base = RunConfig(study="A", arch=arch, init="random", lr=1e-3, seed=0, device="cpu",
                     epochs=1, batch_size=2)
    return replace(base, **changes)


# ---------------------------------------------------------------- every architecture


def split_state(model):
    """(body, head) copies of the inner network's state."""
    state = {key: value.clone() for key, value in model.net.state_dict().items()}
    head = {key: value for key, value in state.items() if is_head_key(model.arch, key)}
    return {key: value for key, value in state.items() if key not in head}, head


def assert_same_tensors(actual, expected):
    assert actual.keys() == expected.keys()
    for key in expected:
        assert torch.equal(actual[key], expected[key]), key


def quiet(_line):
    pass


@pytest.mark.parametrize("arch", ARCHS)
def test_every_arch_trains_from_random_and_from_a_pretrained_checkpoint(arch, tmp_path):
    """Pretrain (RGB, 3 classes) one step, load into a grey 2-class model, train one step."""
    torch.manual_seed(0)
    source_model = build_model(arch, n_classes=3, in_channels=3)
    source = tiny_data(n_train=2, n_test=1, channels=3, n_classes=3, name="source")
    source_curves, trained, _ = fit(source, config(arch, study="pretrain"), quiet, source_model)
    path = tmp_path / "source.pt"
    torch.save({"model_state": trained["model_state"], "arch": arch}, path)
    source_body, source_head = split_state(source_model)

    target_model = build_model(arch, n_classes=2, in_channels=1)
    _, fresh_head = split_state(target_model)
    load_pretrained(target_model, path, n_classes=2)
    target_body, target_head = split_state(target_model)
    assert_same_tensors(target_body, source_body)
    assert_same_tensors(target_head, fresh_head)
    assert {value.shape for value in target_head.values()} != \
        {value.shape for value in source_head.values()}

    target = tiny_data(n_train=2, n_test=1, channels=1, n_classes=2, name="target")
    curves, _, _ = fit(target, config(arch, init="pretrained", pretrained_checkpoint=str(path)),
                       quiet, target_model)
    for table in (source_curves, curves):
        assert len(table) == 1
        assert np.isfinite(table[["train_loss", "test_loss", *METRICS]].to_numpy()).all()


# ---------------------------------------------------------------- one run, end to end


@pytest.fixture(scope="module")
def lraspp_runs(tmp_path_factory):
    """Two runs with seed 0 and one with seed 1 (2 epochs, 3 batches each), and their logs."""
    data = tiny_data(n_train=6, n_test=2)
    runs = {}
    for name, seed in (("first", 0), ("again", 0), ("other_seed", 1)):
        out_dir = tmp_path_factory.mktemp(name)
        lines: list[str] = []
        curves = train_run(data, "lraspp", lr=1e-3, init="random", seed=seed, device="cpu",
                           epochs=2, batch_size=2, out_dir=out_dir, log=lines.append)
        runs[name] = SimpleNamespace(curves=curves, out_dir=out_dir, lines=lines)
    return runs


def learned_columns(curves):
    return curves[["train_loss", "test_loss", *METRICS]].to_numpy()


def test_same_seed_gives_identical_curves(lraspp_runs):
    np.testing.assert_array_equal(learned_columns(lraspp_runs["first"].curves),
                                  learned_columns(lraspp_runs["again"].curves))
    assert not np.array_equal(learned_columns(lraspp_runs["first"].curves),
                              learned_columns(lraspp_runs["other_seed"].curves))


def test_curve_file_is_a_valid_curve_table_with_task_metrics(lraspp_runs):
    curves = read_curves(lraspp_runs["first"].out_dir / "curves.csv")
    assert curves["run_id"].unique().tolist() == ["A/tiny/lraspp/random/lr0.001/s0/cpu"]
    assert curves["epoch"].tolist() == [1, 2]
    assert {*METRICS, "torch_mem_max_mb"} <= set(curves.columns)
    assert (curves["epoch_seconds"] > 0).all() and (curves["eval_seconds"] > 0).all()
    assert curves["gpu_mem_max_mb"].isna().all() and (curves["gpu_samples"] == 0).all()


def test_out_dir_holds_provenance_and_a_weights_only_checkpoint(lraspp_runs):
    out_dir = lraspp_runs["first"].out_dir
    checkpoint = torch.load(out_dir / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == 2 and checkpoint["arch"] == "lraspp"
    assert checkpoint["n_classes"] == 2 and "optimizer_state" not in checkpoint
    assert not (out_dir / RESUME_FILE).exists()
    model = build_model("lraspp", 2, 1)
    model.load_state_dict(checkpoint["model_state"])
    provenance = json.loads((out_dir / "provenance.json").read_text())
    assert provenance["config"]["arch"] == "lraspp" and provenance["seed"] == 0
    assert {"torch", "torchvision", "segmentation-models-pytorch", "numpy"} <= \
        provenance["versions"].keys()
    assert provenance["host"] == socket.gethostname()
    assert provenance["start"] <= provenance["end"]
    assert provenance["nvml"] == {"status": "no GPU in use", "ok": False}
    assert len(provenance["normalisation"]["mean"]) == 1


def test_one_log_line_per_epoch(lraspp_runs):
    lines = lraspp_runs["first"].lines
    assert len(lines) == 2 and all(EPOCH_LINE.match(line) for line in lines)
    assert lines[1].startswith("epoch 2/2 ")


def test_diverging_run_keeps_its_epochs_with_infinite_losses(tmp_path):
    broken = build_model("lraspp", 2, 1)
    with torch.no_grad():
        for parameter in broken.parameters():
            parameter.fill_(float("nan"))
    path = tmp_path / "nan.pt"
    torch.save({"model_state": broken.state_dict(), "arch": "lraspp"}, path)
    curves = train_run(tiny_data(), "lraspp", lr=1e-3, init="pretrained", seed=0, device="cpu",
                       epochs=2, batch_size=2, out_dir=tmp_path / "run",
                       pretrained_checkpoint=path, log=quiet)
    assert curves["epoch"].tolist() == [1, 2]
    assert np.isposinf(curves[["train_loss", "test_loss"]].to_numpy()).all()
    assert (tmp_path / "run" / "curves.csv").is_file()


def test_pretrain_checkpoint_is_the_pretrained_init_of_a_run(tmp_path):
    source = tiny_data(n_train=2, n_test=1, channels=3, n_classes=3, name="source")
    path = tmp_path / "pretrain" / "lraspp.pt"
    source_curves = pretrain_run(source, "lraspp", 1e-3, seed=0, device="cpu", epochs=1,
                                 batch_size=2, out_path=path, log=quiet)
    assert source_curves["study"].tolist() == ["pretrain"]
    assert torch.load(path, weights_only=True)["provenance"]["dataset"]["name"] == "source"
    curves = train_run(tiny_data(n_train=2, n_test=1), "lraspp", 1e-3, "pretrained", 0, "cpu",
                       1, 2, tmp_path / "run", pretrained_checkpoint=path, log=quiet)
    assert curves["init"].tolist() == ["pretrained"]


# ---------------------------------------------------------------- loss weights and metrics


def test_class_weights_are_inverse_proportions_normalised_to_one():
    # 10 pixels: 6 of class 0, 3 of class 1, 1 of class 2, none of class 3.
    # p = 0.6, 0.3, 0.1 -> 1/p = 5/3, 10/3, 10 -> sum 15 -> w = 1/9, 2/9, 6/9; absent -> 0.
    mask = np.array([[0, 0, 0, 0, 0], [0, 1, 1, 1, 2]])
    np.testing.assert_allclose(class_weights(mask, 4).numpy(), [1 / 9, 2 / 9, 6 / 9, 0])


def test_segmentation_scores_on_a_hand_made_pair():
    target = np.array([0, 0, 0, 0, 1, 1, 1, 2])
    predicted = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    confusion = confusion_matrix(predicted, target, n_classes=4)  # class 3: never present
    np.testing.assert_array_equal(confusion[:3, :3], [[3, 1, 0], [0, 2, 1], [0, 0, 1]])
    scores = segmentation_scores(confusion)
    # TP = 3, 2, 1; predicted = 3, 3, 2; actual = 4, 3, 1.
    expected = {
        "pixel_accuracy": Fraction(6, 8),
        "precision": (Fraction(3, 3) + Fraction(2, 3) + Fraction(1, 2)) / 3,  # 13/18
        "recall": (Fraction(3, 4) + Fraction(2, 3) + Fraction(1, 1)) / 3,  # 29/36
        "f1": (Fraction(6, 7) + Fraction(4, 6) + Fraction(2, 3)) / 3,  # 2TP/(pred+actual): 46/63
        "iou": (Fraction(3, 4) + Fraction(2, 4) + Fraction(1, 2)) / 3,  # TP/union: 7/12
    }
    assert scores == pytest.approx({name: float(value) for name, value in expected.items()})


def test_a_class_never_predicted_counts_in_recall_but_not_in_precision():
    scores = segmentation_scores(confusion_matrix(np.array([0, 0]), np.array([0, 1]), 2))
    assert scores["precision"] == pytest.approx(0.5)  # class 0 only: 1/2
    assert scores["recall"] == pytest.approx(0.5)  # (1/1 + 0/1) / 2


def test_normalisation_is_per_channel_over_training_images():
    images = np.stack([np.full((2, 2), 1.0), np.full((2, 2), 5.0)])[..., None]
    images = np.concatenate([images, np.full_like(images, 7.0)], axis=-1)
    mean, std = normalisation(images)
    np.testing.assert_allclose(mean, [3.0, 7.0])
    np.testing.assert_allclose(std, [2.0, 1.0])  # a constant channel keeps std 1


def test_batches_are_seeded_and_a_lone_last_sample_joins_the_previous_batch():
    first = batches(7, 2, torch.Generator().manual_seed(3))
    again = batches(7, 2, torch.Generator().manual_seed(3))
    assert [len(batch) for batch in first] == [2, 2, 3]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert sorted(torch.cat(first).tolist()) == list(range(7))


# ---------------------------------------------------------------- bad input


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
@pytest.mark.parametrize("device", ["cuda", "cuda:1", "a100"])
def test_cuda_requested_without_one_is_an_input_error(device, tmp_path):
    expected = (f"device '{device}' was requested but no CUDA device is available on "
                f"{socket.gethostname()}.")
    with pytest.raises(InputError) as caught:
        train_run(tiny_data(), "lraspp", 1e-3, "random", 0, device, 1, 2, tmp_path)
    assert str(caught.value) == expected
    assert not any(tmp_path.iterdir())


@pytest.fixture
def fake_h100(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "NVIDIA H100 80GB HBM3")


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "h100", "H100"])
def test_gpu_devices_resolve_to_a_cuda_index(fake_h100, device):
    assert resolve_device(device) == torch.device("cuda:0")


@pytest.mark.parametrize(("device", "fragment"), [
    ("a100", "but cuda:0 on .* is 'NVIDIA H100 80GB HBM3'"),
    ("cuda:1", "has CUDA devices cuda:0..cuda:0 only"),
    ("cuda:x", "has CUDA devices"),
])
def test_a_gpu_that_is_not_there_is_an_input_error(fake_h100, device, fragment):
    with pytest.raises(InputError, match=fragment):
        resolve_device(device)


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"init": "pretrained"}, "pretrained_checkpoint must be given"),
    ({"init": "imagenet"}, "Unknown init 'imagenet'"),
    ({"batch_size": 1}, "batch_size must be at least 2"),
    ({"lr": float("nan")}, "learning rate"),
    ({"arch": "segnet"}, "Unknown architecture"),
])
def test_bad_configuration_is_an_input_error(changes, fragment):
    with pytest.raises(InputError, match=fragment):
        fit(tiny_data(), config(**changes))


def test_mask_values_beyond_the_class_count_are_an_input_error():
    data = tiny_data(n_classes=3)
    data.n_classes = 2
    with pytest.raises(InputError, match=r"Data set tiny: mask values must lie in 0\.\.1"):
        fit(data, config())


# ---------------------------------------------------------------- precise BatchNorm


def test_precise_bn_makes_eval_mode_match_the_training_statistics():
    data = tiny_data(n_train=8, n_test=2, size=128)
    model = build_model("lraspp", 2, 1)
    fit(data, config(epochs=2, batch_size=8), log=lambda line: None, model=model)
    mean, std = normalisation(data.images[data.train_index])
    train = normalised_split(data, data.train_index, mean, std)
    weights_before = [p.detach().clone() for p in model.parameters()]
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    momenta_before = [norm.momentum for norm in norms]

    def eval_minus_train_output():
        with torch.no_grad():
            model.train()
            train_mode = model(train.images)
            model.eval()
            return (model(train.images) - train_mode).abs().mean().item()

    stale = eval_minus_train_output()
    recompute_batchnorm_statistics(model, train, batch_size=8)  # one batch: exact statistics
    precise = eval_minus_train_output()
    assert precise < 0.1 * stale
    assert all(torch.equal(a, b) for a, b in zip(weights_before, model.parameters(),
                                                 strict=True))
    assert [norm.momentum for norm in norms] == momenta_before
    assert 0.01 in momenta_before  # torchvision's MobileNetV3 layers


def test_precise_bn_is_recorded_in_the_provenance_and_survives_a_lone_last_sample(tmp_path):
    train_run(tiny_data(n_train=5), "lraspp", 1e-3, "random", 0, "cpu", 1, 4, tmp_path,
              log=lambda line: None, precise_bn=True)
    provenance = json.loads((tmp_path / "provenance.json").read_text())
    assert provenance["config"]["precise_bn"] is True


# ---------------------------------------------------------------- checkpoints and resuming


def test_keep_optimizer_state_keeps_adam_state_in_the_checkpoint(tmp_path):
    train_run(tiny_data(), "lraspp", 1e-3, "random", 0, "cpu", 1, 2, tmp_path, log=quiet,
              keep_optimizer_state=True)
    checkpoint = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert checkpoint["optimizer_state"]["state"]


class Killed(Exception):
    pass


def kill_after_epoch(epoch):
    def log(line):
        if line.startswith(f"epoch {epoch}/"):
            raise Killed

    return log


def test_a_killed_run_resumes_from_its_saved_state_with_the_same_curves(tmp_path):
    data = tiny_data(n_train=6, n_test=2)
    options = {"arch": "lraspp", "lr": 1e-3, "init": "random", "seed": 0, "device": "cpu",
               "epochs": 3, "batch_size": 2}
    whole = train_run(data, out_dir=tmp_path / "whole", log=quiet, **options)
    with pytest.raises(Killed):
        train_run(data, out_dir=tmp_path / "killed", log=kill_after_epoch(3),
                  resume_interval_s=0, **options)
    saved = torch.load(tmp_path / "killed" / RESUME_FILE, weights_only=True)
    assert len(saved["rows"]) == 2 and saved["optimizer_state"]["state"]
    lines: list[str] = []
    resumed = train_run(data, out_dir=tmp_path / "killed", log=lines.append, **options)
    assert lines[0].startswith("resuming after epoch 2") and lines[1].startswith("epoch 3/3")
    np.testing.assert_array_equal(learned_columns(resumed), learned_columns(whole))
    assert not (tmp_path / "killed" / RESUME_FILE).exists()
    assert "optimizer_state" not in torch.load(tmp_path / "killed" / "checkpoint.pt",
                                               weights_only=True)


def test_a_saved_state_of_another_configuration_is_not_resumed(tmp_path):
    data = tiny_data()
    with pytest.raises(Killed):
        train_run(data, "lraspp", 1e-3, "random", 0, "cpu", 3, 2, tmp_path,
                  log=kill_after_epoch(2), resume_interval_s=0)
    lines: list[str] = []
    curves = train_run(data, "lraspp", 1e-4, "random", 0, "cpu", 2, 2, tmp_path,
                       log=lines.append)
    assert "starting afresh" in lines[0] and curves["epoch"].tolist() == [1, 2]


def test_seeds_trained_in_one_process_equal_separate_runs(tmp_path, lraspp_runs):
    data = tiny_data(n_train=6, n_test=2)
    together = train_seeds(data, [0, 1], [tmp_path / "s0", tmp_path / "s1"], arch="lraspp",
                           lr=1e-3, init="random", device="cpu", epochs=2, batch_size=2,
                           log=quiet)
    for curves, name in zip(together, ("first", "other_seed"), strict=True):
        np.testing.assert_array_equal(learned_columns(curves),
                                      learned_columns(lraspp_runs[name].curves))
    assert (tmp_path / "s1" / "checkpoint.pt").is_file()


# ---------------------------------------------------------------- constant-prediction reference


def test_reference_is_the_test_loss_of_the_training_class_frequencies_when_unweighted():
    train = np.array([0, 0, 0, 1])  # p_train = 3/4, 1/4
    test = np.array([0, 1])  # q_test = 1/2, 1/2
    reference = constant_reference(train, test, torch.ones(2))
    assert reference["reference_loss"] == pytest.approx(-(np.log(0.75) + np.log(0.25)) / 2)
    # predicting class 0 everywhere: IoU (1/2 + 0) / 2, F1 (2/3 + 0) / 2
    assert reference["reference_iou"] == pytest.approx(0.25)
    assert reference["reference_f1"] == pytest.approx(1 / 3)


def test_reference_with_inverse_proportion_weights_is_ln_of_the_class_count():
    train = np.array([0, 0, 0, 1, 2, 2])
    reference = constant_reference(train, np.array([0, 1, 1, 2]), class_weights(train, 3))
    assert reference["reference_loss"] == pytest.approx(np.log(3))


def test_reference_columns_are_constant_over_a_runs_epochs(lraspp_runs):
    curves = lraspp_runs["first"].curves
    assert set(REFERENCE_COLUMNS) <= set(curves.columns)
    assert (curves[list(REFERENCE_COLUMNS)].nunique() == 1).all()
    assert curves["reference_loss"].iloc[0] == pytest.approx(np.log(2))


def test_a_float16_checkpoint_loads_as_the_pretrained_init_of_a_float32_model(tmp_path):
    train_run(tiny_data(), "lraspp", 1e-3, "random", 0, "cpu", 1, 2, tmp_path / "run",
              log=quiet, checkpoint_dtype="float16")
    path = tmp_path / "run" / "checkpoint.pt"
    state = torch.load(path, weights_only=True)["model_state"]
    assert {value.dtype for value in state.values() if value.is_floating_point()} == \
        {torch.float16}
    model = build_model("lraspp", 2, 1)
    load_pretrained(model, path, n_classes=2)
    body = model.net.state_dict()["backbone.0.0.weight"]
    assert body.dtype == torch.float32
    assert torch.equal(body.half(), state["net.backbone.0.0.weight"])


# ---------------------------------------------------------------- an interrupted job


def test_seeds_a_killed_job_had_finished_are_kept_not_retrained(tmp_path):
    data, run = tiny_data(), dict(arch="lraspp", lr=1e-3, init="random", device="cpu",
                                  epochs=1, batch_size=2)
    first, second = tmp_path / "s0", tmp_path / "s1"
    first.mkdir()
    second.write_text("a file where the second seed's folder should be")
    with pytest.raises(InputError):  # the job dies in its second seed
        train_seeds(data, [0, 1], [first, second], log=quiet, **run)
    trained = (first / "checkpoint.pt").read_bytes()
    for name in ("curves.csv", "provenance.json", "checkpoint.pt"):
        (first / name).unlink()  # Snakemake deletes every output of the incomplete job
    second.unlink()
    second.mkdir()
    lines: list[str] = []
    train_seeds(data, [0, 1], [first, second], log=lines.append, **run)
    assert lines[0] == "seed 0: finished before this job was interrupted; outputs kept"
    assert (first / "checkpoint.pt").read_bytes() == trained
    assert sum("epoch 1/1" in line for line in lines) == 1  # only seed 1 trained
    assert not (first / ".finished").exists() and not (second / ".finished").exists()


def test_kept_outputs_of_another_configuration_are_not_used(tmp_path):
    data, run = tiny_data(), dict(arch="lraspp", init="random", device="cpu", epochs=1,
                                  batch_size=2)
    out = tmp_path / "s0"
    out.mkdir()
    train_run(data, lr=1e-3, seed=0, out_dir=out, log=quiet, **run)
    remember_finished(out, ("curves.csv", "provenance.json", "checkpoint.pt"),
                      {"other": "run"})
    lines: list[str] = []
    train_seeds(data, [0], [out], lr=1e-2, log=lines.append, **run)
    assert any("epoch 1/1" in line for line in lines)
