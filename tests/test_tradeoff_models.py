"""Study B models and techniques in TensorFlow: build, unfreeze, cluster, fp16, m2m, one run."""

import contextlib
import json

import numpy as np
import pytest

from reusebench.core.curves import read_curves
from reusebench.core.errors import InputError
from reusebench.core.tradeoff_runs import ARCHS, Run, parse_technique
from reusebench.data.tradeoff_data import synthetic_dataset, write_dataset
from reusebench.training.keras.backend import configure, keras
from reusebench.training.keras.experiment import RunSettings, _restart, run_experiment, run_seeds
from reusebench.training.keras.measure import gzip_size, save_model, unmodified_sizes
from reusebench.training.keras.models import (
    HEAD,
    build_backbone,
    build_classifier,
    head_norm_of,
    preprocess,
    set_trainable_top,
    weight_bearing_layers,
)
from reusebench.training.keras.techniques import (
    cluster_for_training,
    cluster_model,
    float16_copy,
    is_clustered_layer,
    strip_clusters,
    transfer_top_layers,
)
from reusebench.training.keras.train import compile_model, precise_batchnorm

SHAPE = (32, 32, 3)  # the smallest input the Keras applications accept


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with contextlib.suppress(RuntimeError):  # TensorFlow already started in this process
        configure(1, "cpu")


@pytest.mark.parametrize("arch", ARCHS)
def test_every_model_builds_and_trains_one_step(arch):
    model = build_classifier(arch, 3, SHAPE)
    assert model.output_shape == (None, 3) and model.layers[-1].name == HEAD
    compile_model(model, 1e-3)
    model.run_eagerly = True  # one step: no graph tracing, which costs more than the step
    images = preprocess(arch, np.random.default_rng(0).integers(0, 256, (2, *SHAPE)))
    head_before = model.get_layer(HEAD).get_weights()[0].copy()
    first_conv = weight_bearing_layers(model)[0]
    conv_before = first_conv.get_weights()[0].copy()
    loss = model.train_on_batch(images, np.array([0, 2]))
    assert np.isfinite(loss).all()
    assert not np.array_equal(model.get_layer(HEAD).get_weights()[0], head_before)
    assert not np.array_equal(first_conv.get_weights()[0], conv_before)  # base: all layers


def test_unknown_model_is_an_input_error():
    with pytest.raises(InputError, match="unknown model 'resnet18'"):
        build_classifier("resnet18", 10, SHAPE)


def test_topn_trains_the_head_and_the_last_weight_bearing_layers_only():
    model = build_classifier("resnet50", 10, SHAPE)
    assert set_trainable_top(model, 1) == 1
    assert [layer.name for layer in model.layers if layer.trainable] == [HEAD]
    assert set_trainable_top(model, 10) == 10
    trainable = [layer for layer in model.layers if layer.trainable]
    assert trainable == weight_bearing_layers(model)[-10:]
    assert trainable[-1].name == HEAD and trainable[0].name.startswith("conv5_block1")
    bn = model.get_layer("conv5_block3_3_bn")
    assert not bn.trainable  # frozen BatchNorm: inference mode, statistics fixed
    with pytest.raises(InputError, match="top999"):
        set_trainable_top(model, 999)
    assert set_trainable_top(model, None) == len(weight_bearing_layers(model))
    assert all(layer.trainable for layer in model.layers)


def test_frozen_batchnorm_keeps_its_statistics_while_the_head_trains():
    model = build_classifier("resnet50", 3, SHAPE)
    set_trainable_top(model, 1)
    compile_model(model, 1e-2)
    model.run_eagerly = True
    bn = model.get_layer("conv1_bn")
    before = [value.copy() for value in bn.get_weights()]
    images = preprocess("resnet50", np.random.default_rng(1).integers(0, 256, (4, *SHAPE)))
    model.train_on_batch(images, np.array([0, 1, 2, 0]))
    for value, original in zip(bn.get_weights(), before, strict=True):
        np.testing.assert_array_equal(value, original)


def test_clustering_leaves_at_most_k_values_per_kernel_and_compresses(tmp_path):
    clusters = 8
    plain = build_classifier("vgg16", 10, SHAPE)
    plain_path = tmp_path / "plain.h5"
    save_model(plain, plain_path)
    wrapped = cluster_model(build_classifier("vgg16", 10, SHAPE), clusters)  # a fresh model
    clustered_names = [layer.layer.name for layer in wrapped.layers
                       if is_clustered_layer(layer) and hasattr(layer.layer, "kernel")]
    stripped = strip_clusters(wrapped)
    assert not any(is_clustered_layer(layer) for layer in stripped.layers)
    assert len(clustered_names) == 14  # 13 convolutions and the head
    for name in clustered_names:
        assert len(np.unique(stripped.get_layer(name).kernel.numpy())) <= clusters
    clustered_path = tmp_path / "clustered.h5"
    save_model(stripped, clustered_path)
    assert gzip_size(clustered_path) < 0.5 * gzip_size(plain_path)
    # the raw file does not shrink: clustering pays off compressed only
    assert clustered_path.stat().st_size == pytest.approx(plain_path.stat().st_size, rel=0.05)


def test_clustering_with_unfreezing_wraps_only_the_trained_layers():
    model = build_classifier("vgg16", 10, SHAPE)
    trained, names = cluster_for_training(model, 4, "linear", top=2)
    wrapped = [layer.layer.name for layer in trained.layers if is_clustered_layer(layer)]
    assert wrapped == ["block5_conv3", HEAD]
    frozen_kernel = trained.get_layer("block1_conv2").kernel.numpy()
    assert len(np.unique(frozen_kernel)) <= 4  # clustered once, then stripped
    assert "block1_conv2" in names


@pytest.mark.parametrize("clusters", [0, -3])
def test_non_positive_cluster_counts_are_input_errors(clusters):
    with pytest.raises(InputError, match="at least 1"):
        cluster_model(build_classifier("vgg16", 10, SHAPE), clusters)
    with pytest.raises(InputError):
        parse_technique(f"cluster{clusters}")


def test_float16_saved_size_is_about_half():
    sizes = unmodified_sizes("vgg16", SHAPE, gzip_level=1)
    assert sizes["float16_ratio"] == pytest.approx(0.5, abs=0.02)
    assert sizes["layers"] == 19 and sizes["parameters"] == 14_714_688


def test_m2m_copies_the_donors_top_layers_where_names_and_shapes_match():
    donor = build_classifier("resnet101", 10, SHAPE)
    model = build_classifier("resnet50", 10, SHAPE)
    moved = transfer_top_layers(donor, model, top_layers=10)
    assert moved[-1] == HEAD and "conv5_block3_3_conv" in moved and "conv5_block1_2_bn" in moved
    assert all(name.startswith("conv5_") or name == HEAD for name in moved)
    for name in moved:
        for ours, theirs in zip(model.get_layer(name).get_weights(),
                                donor.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(ours, theirs)
    untouched = model.get_layer("conv4_block6_3_conv").get_weights()[0]
    assert not np.array_equal(untouched, donor.get_layer("conv4_block6_3_conv").get_weights()[0])


def test_head_of_another_class_count_does_not_move():
    donor = build_classifier("vgg19", 100, SHAPE)
    model = build_classifier("vgg16", 10, SHAPE)
    moved = transfer_top_layers(donor, model, top_layers=3)
    assert moved == ["block5_conv2", "block5_conv3"]


def test_missing_imagenet_weights_offline_is_one_sentence(monkeypatch):
    from tf_keras.src.utils import data_utils

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/x.h5: None -- "
                        "[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(data_utils, "get_file", offline)
    with pytest.raises(InputError) as caught:
        build_backbone("resnet50", SHAPE, "imagenet")
    assert "not in the Keras cache" in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1


def test_a_run_writes_valid_curves_summary_and_model(tmp_path):
    data_path = tmp_path / "synth10.npz"
    write_dataset(synthetic_dataset("synth10", 40, 20, seed=0, image_size=32), data_path)
    outputs = {name: tmp_path / f"run.{ext}" for name, ext in
               (("curves", "csv"), ("summary", "json"), ("model", "h5"))}
    settings = RunSettings(epochs=2, batch_size=16, lr=1e-3, seed=0, tflite="none")
    run = Run("synth10", "70-30", "vgg16", "cluster4-top1", "cpu")
    summary = run_experiment(run, data_path, None, settings, 1, outputs)
    curves = read_curves(outputs["curves"])
    assert curves["epoch"].tolist() == [1, 2]
    assert set(curves[["study", "dataset", "arch", "init"]].iloc[0]) == \
        {"B", "synth10-70-30", "vgg16", "cluster4-top1"}
    assert curves[["train_loss", "test_loss", "test_accuracy"]].notna().all().all()
    assert json.loads(outputs["summary"].read_text())["run_id"] == summary["run_id"]
    assert summary["n_train"] == 40 and summary["n_test"] == 20  # 6 per class: 4 + 2
    assert summary["max_distinct_kernel_values"] <= 4 and summary["clustered_layers"] == 14
    assert summary["prep_seconds"] > 0 and summary["unfrozen_layers"] == 1
    assert summary["total_seconds"] == pytest.approx(summary["train_seconds"]
                                                     + summary["test_seconds"])
    assert 0 <= summary["accuracy"] <= 1 and summary["size_mb"] > 50
    loaded = keras.models.load_model(outputs["model"], compile=False)
    assert loaded.count_params() == summary["parameters"]


def _two_seed_files(tmp_path):
    """A small synth10 file and the output paths of seeds 3 and 5."""
    data_path = tmp_path / "synth10.npz"
    write_dataset(synthetic_dataset("synth10", 40, 20, seed=0, image_size=32), data_path)
    outputs = {name: [tmp_path / f"s{seed}" / f"run.{ext}" for seed in (3, 5)] for name, ext in
               (("curves", "csv"), ("summary", "json"), ("model", "h5"))}
    return data_path, outputs


def test_seeds_of_a_head_only_run_share_cached_features_that_match_the_full_model(tmp_path):
    data_path, outputs = _two_seed_files(tmp_path)
    settings = RunSettings(epochs=2, batch_size=16, lr=1e-3, seed=0, tflite="none",
                           feature_cache=True, head_norm="l2")
    run = Run("synth10", "own", "efficientnetb0", "top1", "cpu")
    summaries = run_seeds(run, [3, 5], data_path, None, settings, 1, outputs)
    assert [summary["seed"] for summary in summaries] == [3, 5]
    assert summaries[0]["run_id"].endswith("/s3/cpu") and summaries[1]["run_id"] != \
        summaries[0]["run_id"]
    for summary, curves_path in zip(summaries, outputs["curves"], strict=True):
        curves = read_curves(curves_path)
        assert summary["cached_features"] and summary["feature_seconds"] > 0
        assert summary["train_seconds"] == pytest.approx(curves["epoch_seconds"].sum())
        # the head's last test pass on cached features = the full model's predictions
        assert curves["test_accuracy"].iloc[-1] == pytest.approx(summary["accuracy"])
        assert summary["correct"] == round(summary["accuracy"] * summary["n_test"])
        assert 0 <= summary["above_chance_p"] <= 1
        assert curves["reference_loss"].iloc[0] == pytest.approx(np.log(10))
    assert summaries[0]["feature_seconds"] == summaries[1]["feature_seconds"]  # one pass
    first, second = (read_curves(path) for path in outputs["curves"])
    assert first["train_loss"].iloc[0] != second["train_loss"].iloc[0]  # seeded head init


def test_l2_head_norm_feeds_the_head_unit_rms_features_and_survives_the_fp16_copy():
    model = build_classifier("efficientnetb0", 10, (32, 32, 3), None, head_norm="l2")
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    features = keras.Model(model.input, model.layers[-2].output)(images).numpy()
    assert np.sqrt(np.mean(np.square(features), axis=1)) == pytest.approx(np.ones(4), rel=1e-4)
    assert head_norm_of(model) == "l2" and head_norm_of(float16_copy(
        model, "efficientnetb0", (32, 32, 3))) == "l2"
    assert head_norm_of(build_classifier("efficientnetb0", 10, (32, 32, 3))) == "none"
    with pytest.raises(InputError, match="head_norm"):
        build_classifier("efficientnetb0", 10, (32, 32, 3), head_norm="batch")


def test_seeds_of_a_full_training_run_share_one_traced_model(tmp_path):
    data_path, outputs = _two_seed_files(tmp_path)
    settings = RunSettings(epochs=1, batch_size=16, lr=1e-3, seed=0, tflite="none",
                           feature_cache=True, head_norm="l2")
    run = Run("synth10", "own", "efficientnetb0", "top10", "cpu")
    first, second = run_seeds(run, [3, 5], data_path, None, settings, 1, outputs)
    assert first["trace_seconds"] > 0 and second["trace_seconds"] == 0
    assert not first["cached_features"] and first["unfrozen_layers"] == 10
    losses = [read_curves(path)["train_loss"].iloc[0] for path in outputs["curves"]]
    assert np.isfinite(losses).all() and losses[0] != losses[1]


def test_a_restart_puts_back_the_first_weights_and_zeroes_the_optimizer():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name=HEAD)(
        keras.layers.Dense(4, name="body")(inputs)))
    compile_model(model, 1e-2)
    initial = model.get_weights()
    model.fit(np.ones((8, 3)), np.zeros(8), epochs=2, verbose=0)
    assert int(model.optimizer.iterations) > 0
    _restart(model, initial, seed=7)
    np.testing.assert_array_equal(model.get_layer("body").get_weights()[0], initial[0])
    assert int(model.optimizer.iterations) == 0
    assert not np.array_equal(model.get_layer(HEAD).get_weights()[0], initial[2])


def test_a_failing_run_leaves_no_curves_or_summary(tmp_path):
    data_path = tmp_path / "synth10.npz"
    write_dataset(synthetic_dataset("synth10", 20, 10, seed=0, image_size=32), data_path)
    outputs = {name: tmp_path / f"run.{ext}" for name, ext in
               (("curves", "csv"), ("summary", "json"), ("model", "h5"))}
    settings = RunSettings(epochs=1, batch_size=8, lr=1e-3, seed=0)
    with pytest.raises(InputError, match="top500"):
        run_experiment(Run("synth10", "own", "vgg16", "top500", "cpu"), data_path, None,
                       settings, 1, outputs)
    assert not list(tmp_path.glob("run.*"))


def test_precise_batchnorm_sets_population_statistics_of_trained_layers_only():
    inputs = keras.Input((4, 4, 2))
    conv = keras.layers.Conv2D(3, 1, name="conv")
    trained_bn = keras.layers.BatchNormalization(name="trained_bn")
    frozen_bn = keras.layers.BatchNormalization(name="frozen_bn")
    features = frozen_bn(trained_bn(conv(inputs)))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(features)))
    frozen_bn.trainable = False
    images = np.random.default_rng(0).normal(3.0, 2.0, (10, 4, 4, 2)).astype(np.float32)
    assert precise_batchnorm(model, images, batch_size=4) == 1
    activations = conv(images).numpy().reshape(-1, 3)
    np.testing.assert_allclose(trained_bn.moving_mean.numpy(), activations.mean(axis=0),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(trained_bn.moving_variance.numpy(), activations.var(axis=0),
                               rtol=1e-4)
    np.testing.assert_array_equal(frozen_bn.moving_mean.numpy(), np.zeros(3))
    np.testing.assert_array_equal(frozen_bn.moving_variance.numpy(), np.ones(3))
