"""One Study B run end to end, the synthetic pretraining, and the unmodified-model sizes.

A run: load the dataset and its split, build the model with its technique, train, time a
full inference pass over the test set, then save the deployable model (stripped of
clustering wrappers; float16 weights for ``fp16``) and measure its sizes. Outputs: the curve
table (one row per epoch), a JSON summary (one row of ``runs.csv``) and the model file.
"""

from __future__ import annotations

import json
import platform
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from reusebench.curves import validate_curves
from reusebench.datasets.cifar_like import make_cifar_like
from reusebench.errors import InputError
from reusebench.io import atomic_write, atomic_write_all
from reusebench.tradeoff.backend import configure, gpu_peak_mb, keras, versions
from reusebench.tradeoff.data import load_npz_dataset, split_dataset
from reusebench.tradeoff.measure import MB, model_size_table, saved_sizes, tflite_float16_size
from reusebench.tradeoff.models import (
    backbone_of,
    build_classifier,
    preprocess,
    set_trainable_top,
)
from reusebench.tradeoff.scores import classification_scores
from reusebench.tradeoff.spec import Run, Technique, curve_dataset, parse_technique
from reusebench.tradeoff.techniques import (
    Prepared,
    float16_copy,
    float32_copy,
    prepare,
    strip_clusters,
)
from reusebench.tradeoff.train import (
    TrainSettings,
    compile_model,
    fit_epochs,
    precise_batchnorm,
    timed_predict,
    trainable_parameters,
    warm_up,
)

Log = Callable[[str], object]
STUDY = "B"
TFLITE_CHOICES = ("fp16", "all", "none")


@dataclass(frozen=True)
class RunSettings:
    """Everything besides the run's wildcards that changes a run's result."""

    epochs: int
    batch_size: int
    lr: float
    seed: int
    test_repeats: int = 1
    gzip_level: int = 6
    tflite: str = "fp16"
    cluster_init: str = "linear"
    m2m_top_layers: int = 10
    precise_bn: bool = False

    @classmethod
    def from_config(cls, section: Mapping) -> RunSettings:
        return cls(epochs=section["epochs"], batch_size=section["batch_size"],
                   lr=float(section["lr"]), seed=section["seed"],
                   test_repeats=section["test_repeats"], gzip_level=section["gzip_level"],
                   tflite=section["tflite"], cluster_init=section["cluster_init"],
                   m2m_top_layers=section["m2m"]["top_layers"],
                   precise_bn=section["precise_bn"])


def resolve_weights(weights: str, pretrained_path: str | Path | None) -> str | Path | None:
    """The ``weights`` argument of the Keras application for ``study_b.weights``."""
    if weights == "imagenet":
        return "imagenet"
    if weights == "none":
        return None
    if pretrained_path is None:
        raise InputError("study_b.weights is 'synthetic' but no pretrained checkpoint was given.")
    return Path(pretrained_path)


@dataclass(frozen=True)
class RunData:
    """The preprocessed images and labels of a run's split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(size) for size in self.x_train.shape[1:])


def load_run_data(run: Run, dataset_path: str | Path, seed: int) -> RunData:
    """The run's split of its data set, preprocessed for its model."""
    data = load_npz_dataset(dataset_path)
    x_train, y_train, x_test, y_test = split_dataset(data, run.split, seed)
    return RunData(preprocess(run.arch, x_train), y_train, preprocess(run.arch, x_test), y_test,
                   len(data["class_names"]))


def run_experiment(run: Run, dataset_path: str | Path, weights: str | Path | None,
                   settings: RunSettings, threads: int, outputs: Mapping[str, str | Path],
                   donor_path: str | Path | None = None, log: Log = print) -> dict:
    """Train and measure one run; write ``outputs['curves']``, ``['summary']``, ``['model']``.

    Returns the summary. The curve table and summary appear together or not at all.
    """
    started = datetime.now(UTC)
    device_name = configure(threads, run.device)
    keras.utils.set_random_seed(settings.seed)
    technique = parse_technique(run.technique)
    data = load_run_data(run, dataset_path, settings.seed)
    log(f"{run}: {len(data.y_train)} train / {len(data.y_test)} test images, "
        f"{data.n_classes} classes, {data.image_shape}, on {device_name}")
    prepared = prepare(technique, run.arch, data.n_classes, data.image_shape, weights,
                       donor_path, settings.cluster_init, settings.m2m_top_layers)
    if prepared.moved_layers:
        log(f"m2m moved {len(prepared.moved_layers)} layers: {' '.join(prepared.moved_layers)}")
    unfrozen = set_trainable_top(prepared.model, technique.top)
    measured = _train_and_time(prepared.model, data, settings, log)
    deployable, sizes, extra = _deploy(prepared, technique, run.arch, data.image_shape,
                                       settings, outputs["model"])
    summary = {
        **_identity(run, technique, settings), "unfrozen_layers": unfrozen,
        "device_name": device_name, "n_train": len(data.y_train), "n_test": len(data.y_test),
        "n_classes": data.n_classes, **measured["scores"], **measured["times"],
        "prep_seconds": prepared.prep_seconds, "parameters": int(deployable.count_params()),
        "trainable_parameters": trainable_parameters(prepared.model),
        "layers": len(deployable.layers), **sizes, **extra,
        "gpu_peak_mb": measured["gpu_peak_mb"], "moved_layers": " ".join(prepared.moved_layers),
        "weights": str(weights) if weights is not None else "none",
        "host": socket.gethostname(), "python": platform.python_version(), **versions(),
        "started": started.isoformat(), "finished": datetime.now(UTC).isoformat(),
        "settings": asdict(settings),
    }
    curves = _curve_table(run, settings, measured["epochs"])
    atomic_write_all({
        Path(outputs["curves"]): lambda tmp: curves.to_csv(tmp, index=False),
        Path(outputs["summary"]): lambda tmp: tmp.write_text(json.dumps(summary, indent=2)),
    })
    return summary


def _identity(run: Run, technique: Technique, settings: RunSettings) -> dict[str, object]:
    return {"run_id": _run_id(run, settings), "study": STUDY,
            "dataset": curve_dataset(run.dataset, run.split), "source_dataset": run.dataset,
            "split": run.split, "arch": run.arch, "technique": run.technique,
            "method": technique.method, "clusters": technique.clusters, "device": run.device,
            "lr": settings.lr, "seed": settings.seed, "epochs": settings.epochs,
            "batch_size": settings.batch_size}


def _train_and_time(model: keras.Model, data: RunData, settings: RunSettings,
                    log: Log) -> dict[str, object]:
    """Compile, warm up, train and time inference; the per-epoch table, scores and times."""
    compile_model(model, settings.lr)
    trace_seconds = warm_up(model, data.x_train, data.y_train, data.x_test, data.y_test,
                            settings.batch_size)
    train_settings = TrainSettings(settings.epochs, settings.batch_size, settings.lr,
                                   settings.seed, settings.test_repeats, settings.precise_bn)
    epochs = fit_epochs(model, data.x_train, data.y_train, data.x_test, data.y_test,
                        train_settings, log)
    predicted, test_seconds = timed_predict(model, data.x_test, settings.batch_size,
                                            settings.test_repeats)
    train_seconds = float(epochs["epoch_seconds"].sum())
    times = {"train_seconds": train_seconds, "test_seconds": test_seconds,
             "test_repeats": settings.test_repeats,
             "test_ms_per_image": 1000 * test_seconds / (len(data.y_test)
                                                        * settings.test_repeats),
             "total_seconds": train_seconds + test_seconds, "trace_seconds": trace_seconds}
    return {"epochs": epochs, "times": times,
            "scores": classification_scores(data.y_test, predicted, data.n_classes),
            "gpu_peak_mb": _max_or_nan([*epochs["gpu_mem_max_mb"], gpu_peak_mb()])}


def _deploy(prepared: Prepared, technique: Technique, arch: str,
            image_shape: tuple[int, int, int], settings: RunSettings,
            path: str | Path) -> tuple[keras.Model, dict, dict]:
    """Save the deployable model; return it, its sizes and the technique's extra facts."""
    extra: dict[str, object] = {"tflite_fp16_mb": float("nan"),
                                "max_distinct_kernel_values": float("nan"),
                                "clustered_layers": len(prepared.clustered_layers)}
    model = deployable = prepared.model
    if technique.method == "cluster":
        deployable = strip_clusters(model)
        extra["max_distinct_kernel_values"] = max_distinct_kernel_values(
            deployable, prepared.clustered_layers)
    float32_model = deployable
    if technique.method == "fp16":
        float32_model = float32_copy(model, arch, image_shape)
        deployable = float16_copy(model, arch, image_shape)
    sizes = saved_sizes(deployable, path, settings.gzip_level)
    if settings.tflite == "all" or (settings.tflite == "fp16" and technique.method == "fp16"):
        extra["tflite_fp16_mb"] = tflite_float16_size(float32_model) / MB
    return deployable, sizes, extra


def _max_or_nan(values: list[float]) -> float:
    finite = [value for value in values if np.isfinite(value)]
    return max(finite) if finite else float("nan")


def max_distinct_kernel_values(model: keras.Model, layer_names: list[str]) -> int:
    """The most distinct values in the kernel of any of the named (clustered) layers."""
    counts = []
    for name in layer_names:
        kernel = getattr(model.get_layer(name), "kernel", None)
        if kernel is not None:
            counts.append(len(np.unique(kernel.numpy())))
    return max(counts, default=0)


def _run_id(run: Run, settings: RunSettings) -> str:
    return (f"{STUDY}/{curve_dataset(run.dataset, run.split)}/{run.arch}/{run.technique}/"
            f"lr{settings.lr:g}/s{settings.seed}/{run.device}")


def _curve_table(run: Run, settings: RunSettings, epochs: pd.DataFrame) -> pd.DataFrame:
    keys = {"study": STUDY, "dataset": curve_dataset(run.dataset, run.split), "arch": run.arch,
            "init": run.technique, "lr": settings.lr, "seed": settings.seed,
            "device": run.device}
    table = pd.DataFrame({**{key: [value] * len(epochs) for key, value in keys.items()},
                          **{column: epochs[column] for column in epochs.columns}})
    return validate_curves(table, source=f"run {run}")


@dataclass(frozen=True)
class PretrainSettings:
    n_classes: int
    n_train: int
    image_size: int
    epochs: int
    batch_size: int
    lr: float
    seed: int


def pretrain_backbone(arch: str, settings: PretrainSettings, threads: int,
                      out_path: str | Path, device: str = "cpu", log: Log = print) -> dict:
    """Train ``arch`` from scratch on a synthetic source task; save its backbone weights.

    The source task is the synthetic CIFAR-like generator with its own seed and class count,
    so its classes differ from the target sets'. Training ends with precise BatchNorm
    statistics over the source images: a frozen backbone runs its BatchNorm layers on them.
    The checkpoint (HDF5 weights of the backbone, no head) is what
    ``keras.applications.<Model>(weights=path)`` loads.
    """
    configure(threads, device)
    keras.utils.set_random_seed(settings.seed)
    source = make_cifar_like(settings.n_classes, settings.n_train, 0, settings.seed,
                             settings.image_size)
    images = preprocess(arch, source["x_train"])
    model = build_classifier(arch, settings.n_classes, tuple(images.shape[1:]), None)
    compile_model(model, settings.lr)
    began = time.perf_counter()
    history = model.fit(images, source["y_train"], batch_size=settings.batch_size,
                        epochs=settings.epochs, shuffle=True, verbose=0)
    calibrated = precise_batchnorm(model, images, settings.batch_size)
    seconds = time.perf_counter() - began
    atomic_write(out_path, lambda tmp: backbone_of(model).save_weights(tmp))
    summary = {"arch": arch, "seconds": seconds,
               "train_loss": [float(value) for value in history.history["loss"]],
               "train_accuracy": [float(value) for value in history.history["accuracy"]],
               **asdict(settings)}
    log(f"pretrained {arch} on {settings.n_train} synthetic images of {settings.n_classes} "
        f"classes in {seconds:.1f} s ({calibrated} BatchNorm layers calibrated): {summary}")
    return summary


def model_sizes(archs: list[str], gzip_level: int, threads: int,
                image_size: int = 32) -> pd.DataFrame:
    """Paper Table 1 for the given models (built without weights, CPU; CIFAR-sized input,
    which changes neither the sizes nor the parameter counts of a model without its top)."""
    configure(threads, "cpu")
    return model_size_table(archs, (image_size, image_size, 3), gzip_level)
