"""One Study B run end to end, the backbones' pretraining and the unmodified-model sizes.

A run: load the dataset and its split, build the model with its technique, train, time a
full inference pass over the test set, then save the deployable model (stripped of
clustering wrappers; float16 weights for ``fp16``) and measure its sizes. Outputs: the curve
table (one row per epoch), a JSON summary (one row of ``runs.csv``) and the model file.

One job runs one configuration for several seeds (:func:`run_seeds`), one output folder per
seed, so the imports are paid once. With ``feature_cache``, a run that trains the head alone
(``top1`` or a ``-top1`` suffix: the backbone is frozen, its BatchNorm layers in inference
mode) trains the head on the backbone's pooled features, computed once per job and backbone
(the same numbers the full model computes before its head); ``train_seconds`` is then the
head's epochs plus the training images' share of the timed feature pass (the time Keras
spends training the model that way). Dropout inside a frozen backbone (EfficientNet's
stochastic depth) is off in the features, as in inference.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from reusebench.core.curves import make_run_id, validate_curves
from reusebench.core.errors import InputError
from reusebench.core.io import atomic_write, atomic_write_all
from reusebench.core.provenance import system_info, utc_now
from reusebench.core.task_scores import above_chance, classification_scores, reference_loss
from reusebench.core.tradeoff_runs import (
    Run,
    Technique,
    curve_dataset,
    parse_split,
    parse_technique,
)
from reusebench.data.datasets.cifar_like import make_cifar_like, split
from reusebench.data.tradeoff_data import load_npz_dataset, subsample
from reusebench.training.keras.backend import configure, gpu_peak_mb, keras, tf, versions
from reusebench.training.keras.measure import MB, model_size_table, saved_sizes, tflite_float16_size
from reusebench.training.keras.models import (
    backbone_of,
    build_classifier,
    preprocess,
    set_trainable_top,
)
from reusebench.training.keras.techniques import (
    Prepared,
    float16_copy,
    float32_copy,
    prepare,
    strip_clusters,
    wrap_trained,
)
from reusebench.training.keras.train import (
    TrainSettings,
    compile_model,
    fit_epochs,
    precise_batchnorm,
    reset_optimizer,
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
    feature_cache: bool = False
    head_norm: str = "none"

    @classmethod
    def from_config(cls, section: Mapping, seed: int | None = None) -> RunSettings:
        """Settings of ``study_b`` (``seed``: default the first of ``study_b.seeds``)."""
        return cls(epochs=section["epochs"], batch_size=section["batch_size"],
                   lr=float(section["lr"]),
                   seed=section["seeds"][0] if seed is None else seed,
                   test_repeats=section["test_repeats"], gzip_level=section["gzip_level"],
                   tflite=section["tflite"], cluster_init=section["cluster_init"],
                   m2m_top_layers=section["m2m"]["top_layers"],
                   precise_bn=section["precise_bn"],
                   feature_cache=section.get("feature_cache", False),
                   head_norm=section.get("head_norm", "none"))


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


@dataclass(frozen=True)
class PooledData:
    """A data set's train and test images, preprocessed once, train part first."""

    images: np.ndarray
    labels: np.ndarray
    n_train: int
    n_classes: int

    def indices(self, split_name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Train and test indices of a split: ``own``, or pooled and re-split by ``seed``.

        A ratio such as ``70-30`` puts 70 % of every class into the training part
        (stratified, shuffled by ``seed``), as the paper's Table 3.
        """
        fraction = parse_split(split_name)
        everything = np.arange(len(self.labels))
        if fraction is None:
            return everything[:self.n_train], everything[self.n_train:]
        train, y_train, test, y_test = split(everything, self.labels, fraction, seed)
        for part, labels in (("training", y_train), ("test", y_test)):
            if len(labels) == 0:
                raise InputError(f"split {split_name} leaves no {part} images: the data set "
                                 "has too few images per class.")
        return train, test

    def run_data(self, split_name: str, seed: int) -> tuple[RunData, np.ndarray, np.ndarray]:
        train, test = self.indices(split_name, seed)
        data = RunData(self.images[train], self.labels[train], self.images[test],
                       self.labels[test], self.n_classes)
        return data, train, test


def load_pooled_data(arch: str, dataset_path: str | Path) -> PooledData:
    """A data set's images preprocessed for ``arch``, train part then test part."""
    data = load_npz_dataset(dataset_path)
    images = np.concatenate([data["x_train"], data["x_test"]])
    labels = np.concatenate([data["y_train"], data["y_test"]])
    return PooledData(preprocess(arch, images), labels, len(data["y_train"]),
                      len(data["class_names"]))


def load_run_data(run: Run, dataset_path: str | Path, seed: int) -> RunData:
    """The run's split of its data set, preprocessed for its model."""
    return load_pooled_data(run.arch, dataset_path).run_data(run.split, seed)[0]


class FeatureCache:
    """Pooled backbone features of every image, kept while the backbone's weights repeat."""

    def __init__(self) -> None:
        self.prepared: Prepared | None = None  # a model the seeds share, where they may
        self.compiled: tuple[Prepared, list] | None = None  # a traced model, its first weights
        self._key: str | None = None
        self._features: np.ndarray | None = None
        self._seconds = 0.0

    def features(self, model: keras.Model, images: np.ndarray,
                 batch_size: int) -> tuple[np.ndarray, float, float]:
        """Features of ``images`` (the input of the head), seconds of the timed pass over
        them and seconds of graph tracing (0 when the features came from the cache)."""
        extractor = keras.Model(model.input, model.layers[-2].get_output_at(-1))
        key = _weights_digest(extractor)
        if key == self._key:
            return self._features, self._seconds, 0.0
        began = time.perf_counter()
        extractor.predict(images[:batch_size], batch_size=batch_size, verbose=0)
        traced = time.perf_counter()
        features = extractor.predict(images, batch_size=batch_size, verbose=0)
        self._key, self._features = key, features
        self._seconds = time.perf_counter() - traced
        return features, self._seconds, traced - began


def _weights_digest(model: keras.Model) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for value in model.get_weights():
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def run_seeds(run: Run, seeds: Sequence[int], dataset_path: str | Path,
              weights: str | Path | None, settings: RunSettings, threads: int,
              outputs: Mapping[str, Sequence[str | Path]],
              donor_paths: Sequence[str | Path] | None = None, log: Log = print) -> list[dict]:
    """Run one configuration once per seed in this process; ``outputs[key][i]`` (curves,
    summary, model) and ``donor_paths[i]`` belong to ``seeds[i]``. Returns the summaries."""
    if len(set(seeds)) != len(seeds) or not seeds:
        raise InputError(f"study_b.seeds must be distinct and not empty, got {list(seeds)}.")
    device_name = configure(threads, run.device)
    pooled = load_pooled_data(run.arch, dataset_path)
    cache, summaries = FeatureCache(), []
    for index, seed in enumerate(seeds):
        paths = {key: values[index] for key, values in outputs.items()}
        donor = donor_paths[index] if donor_paths else None
        summaries.append(_run_one(run, pooled, weights, replace(settings, seed=seed), paths,
                                  device_name, donor, cache, log))
    return summaries


def _reusable(technique: Technique, settings: RunSettings) -> bool:
    """True when the seeds of a run can share one backbone: a head-only run on cached
    features whose backbone does not depend on the seed (every method but m2m)."""
    return settings.feature_cache and technique.top == 1 and technique.method != "m2m"


def _reused(prepared: Prepared, technique: Technique, settings: RunSettings) -> Prepared:
    """The first seed's model with a fresh head for this seed; a clustered model gets a new
    head, wrapped for clustering (clustering time: the first seed's plus the re-wrapping)."""
    if technique.method != "cluster":
        _reset_head(prepared.model, settings.seed)
        return prepared
    began = time.perf_counter()
    model = wrap_trained(prepared.stripped, technique.clusters, settings.cluster_init,
                         technique.top, prepared.clustered_layers, new_head=True)
    return replace(prepared, model=model,
                   prep_seconds=prepared.prep_seconds + time.perf_counter() - began)


def _retraceable(technique: Technique, settings: RunSettings) -> bool:
    """True when the seeds of a run that trains through the backbone (base, top{N} with
    N > 1) can share one compiled, traced model, restarted from its first weights."""
    return technique.method == "base" and not (settings.feature_cache and technique.top == 1)


def _restart(model: keras.Model, initial_weights: list, seed: int) -> None:
    """Put back the weights (BatchNorm statistics included) the first seed started from,
    draw this seed's head and zero the optimizer: the traced graphs are kept."""
    model.set_weights(initial_weights)
    _reset_head(model, seed)
    reset_optimizer(model.optimizer)


def _reset_head(model: keras.Model, seed: int) -> None:
    """A fresh Glorot-uniform kernel drawn with ``seed`` and a zero bias for the head."""
    head = model.layers[-1]
    initializer = keras.initializers.GlorotUniform(seed=seed)
    head.kernel.assign(initializer(head.kernel.shape, dtype=head.kernel.dtype))
    head.bias.assign(tf.zeros_like(head.bias))


def run_experiment(run: Run, dataset_path: str | Path, weights: str | Path | None,
                   settings: RunSettings, threads: int, outputs: Mapping[str, str | Path],
                   donor_path: str | Path | None = None, log: Log = print) -> dict:
    """Train and measure one run; write ``outputs['curves']``, ``['summary']``, ``['model']``.

    Returns the summary. The curve table and summary appear together or not at all.
    """
    return run_seeds(run, [settings.seed], dataset_path, weights, settings, threads,
                     {key: [path] for key, path in outputs.items()},
                     None if donor_path is None else [donor_path], log)[0]


def _run_one(run: Run, pooled: PooledData, weights: str | Path | None, settings: RunSettings,
             outputs: Mapping[str, str | Path], device_name: str,
             donor_path: str | Path | None, cache: FeatureCache, log: Log) -> dict:
    started = utc_now(timespec="auto")
    keras.utils.set_random_seed(settings.seed)
    technique = parse_technique(run.technique)
    data, train_index, test_index = pooled.run_data(run.split, settings.seed)
    log(f"{run} seed {settings.seed}: {len(data.y_train)} train / {len(data.y_test)} test "
        f"images, {data.n_classes} classes, {data.image_shape}, on {device_name}")
    if _reusable(technique, settings) and cache.prepared is not None:
        prepared = _reused(cache.prepared, technique, settings)
    elif _retraceable(technique, settings) and cache.compiled is not None:
        prepared = cache.compiled[0]
    else:
        prepared = prepare(technique, run.arch, data.n_classes, data.image_shape, weights,
                           donor_path, settings.cluster_init, settings.m2m_top_layers,
                           settings.head_norm)
        cache.prepared = prepared if _reusable(technique, settings) else None
    if prepared.moved_layers:
        log(f"m2m moved {len(prepared.moved_layers)} layers: {' '.join(prepared.moved_layers)}")
    unfrozen = set_trainable_top(prepared.model, technique.top)
    if settings.feature_cache and technique.top == 1:
        measured = _train_head_on_features(prepared.model, pooled, data,
                                           (train_index, test_index), settings, cache, log)
    elif _retraceable(technique, settings) and cache.compiled is not None:
        _restart(prepared.model, cache.compiled[1], settings.seed)
        measured = _train_and_time(prepared.model, data, settings, log, traced=True)
    else:
        initial_weights = prepared.model.get_weights()
        measured = _train_and_time(prepared.model, data, settings, log)
        if _retraceable(technique, settings):
            cache.compiled = (prepared, initial_weights)
    deployable, sizes, extra = _deploy(prepared, technique, run.arch, data.image_shape,
                                       settings, outputs["model"])
    scores, system = measured["scores"], system_info()
    summary = {
        **_identity(run, technique, settings), "unfrozen_layers": unfrozen,
        "device_name": device_name, "n_train": len(data.y_train), "n_test": len(data.y_test),
        "n_classes": data.n_classes, **scores,
        "above_chance_p": above_chance(scores["correct"], len(data.y_test), data.n_classes),
        "reference_loss": reference_loss(data.y_train, data.y_test, data.n_classes),
        **measured["times"],
        "prep_seconds": prepared.prep_seconds, "parameters": int(deployable.count_params()),
        "trainable_parameters": trainable_parameters(prepared.model),
        "layers": len(deployable.layers), **sizes, **extra,
        "gpu_peak_mb": measured["gpu_peak_mb"], "moved_layers": " ".join(prepared.moved_layers),
        "weights": str(weights) if weights is not None else "none",
        "host": system["host"], "python": system["python"], **versions(),
        "started": started, "finished": utc_now(timespec="auto"),
        "settings": asdict(settings),
    }
    curves = _curve_table(run, settings, measured["epochs"], summary["reference_loss"])
    atomic_write_all({
        Path(outputs["curves"]): lambda tmp: curves.to_csv(tmp, index=False),
        Path(outputs["summary"]): lambda tmp: tmp.write_text(json.dumps(summary, indent=2)),
    })
    log(f"seed {settings.seed}: accuracy {scores['accuracy']:.4f} ({scores['correct']}/"
        f"{len(data.y_test)}, p = {summary['above_chance_p']:.2g} against chance), train "
        f"{summary['train_seconds']:.2f} s, size {summary['size_mb']:.1f} MB")
    return summary


def _identity(run: Run, technique: Technique, settings: RunSettings) -> dict[str, object]:
    return {"run_id": _run_id(run, settings), "study": STUDY,
            "dataset": curve_dataset(run.dataset, run.split), "source_dataset": run.dataset,
            "split": run.split, "arch": run.arch, "technique": run.technique,
            "method": technique.method, "clusters": technique.clusters, "device": run.device,
            "lr": settings.lr, "seed": settings.seed, "epochs": settings.epochs,
            "batch_size": settings.batch_size}


def _train_and_time(model: keras.Model, data: RunData, settings: RunSettings,
                    log: Log, traced: bool = False) -> dict[str, object]:
    """Compile, warm up, train and time inference; the per-epoch table, scores and times.

    ``traced``: the model is compiled and its graphs traced already (an earlier seed's).
    """
    trace_seconds = 0.0
    if not traced:
        compile_model(model, settings.lr)
        trace_seconds = warm_up(model, data.x_train, data.y_train, data.x_test, data.y_test,
                                settings.batch_size)
    train_settings = TrainSettings(settings.epochs, settings.batch_size, settings.lr,
                                   settings.seed, settings.test_repeats, settings.precise_bn)
    epochs = fit_epochs(model, data.x_train, data.y_train, data.x_test, data.y_test,
                        train_settings, log)
    return _measured(model, data, settings, epochs, trace_seconds)


def _measured(model: keras.Model, data: RunData, settings: RunSettings, epochs: pd.DataFrame,
              trace_seconds: float, feature_seconds: float = 0.0) -> dict[str, object]:
    """Time the full model's inference over the test set; the run's times and scores."""
    predicted, test_seconds = timed_predict(model, data.x_test, settings.batch_size,
                                            settings.test_repeats)
    train_seconds = float(epochs["epoch_seconds"].sum())
    times = {"train_seconds": train_seconds, "feature_seconds": feature_seconds,
             "cached_features": feature_seconds > 0, "test_seconds": test_seconds,
             "test_repeats": settings.test_repeats,
             "test_ms_per_image": 1000 * test_seconds / (len(data.y_test)
                                                        * settings.test_repeats),
             "total_seconds": train_seconds + test_seconds, "trace_seconds": trace_seconds}
    return {"epochs": epochs, "times": times,
            "scores": classification_scores(data.y_test, predicted, data.n_classes),
            "gpu_peak_mb": _max_or_nan([*epochs["gpu_mem_max_mb"], gpu_peak_mb()])}


def _train_head_on_features(model: keras.Model, pooled: PooledData, data: RunData,
                            indices: tuple[np.ndarray, np.ndarray], settings: RunSettings,
                            cache: FeatureCache, log: Log) -> dict[str, object]:
    """Train the model's head (its last layer, shared) on cached pooled features.

    The training images' share of the timed feature pass is added to epoch 1's time, so
    ``train_seconds`` holds it; the full model then predicts the test set (timed).
    """
    features, pass_seconds, trace_seconds = cache.features(model, pooled.images,
                                                           settings.batch_size)
    feature_seconds = pass_seconds * len(indices[0]) / len(pooled.labels)
    f_train, f_test = features[indices[0]], features[indices[1]]
    head = model.layers[-1]
    inputs = keras.Input(shape=f_train.shape[1:], dtype=model.layers[-2].compute_dtype)
    head_model = keras.Model(inputs, head(inputs), name=f"{model.name}_head")
    compile_model(head_model, settings.lr)
    trace_seconds += warm_up(head_model, f_train, data.y_train, f_test, data.y_test,
                             settings.batch_size)
    began = time.perf_counter()
    model.predict(data.x_test[:settings.batch_size], batch_size=settings.batch_size, verbose=0)
    trace_seconds += time.perf_counter() - began
    train_settings = TrainSettings(settings.epochs, settings.batch_size, settings.lr,
                                   settings.seed, settings.test_repeats, False)
    epochs = fit_epochs(head_model, f_train, data.y_train, f_test, data.y_test,
                        train_settings, log)
    epochs.loc[epochs.index[0], "epoch_seconds"] += feature_seconds
    log(f"head trained on cached features ({feature_seconds:.2f} s of the feature pass)")
    return _measured(model, data, settings, epochs, trace_seconds, feature_seconds)


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


def _curve_keys(run: Run, settings: RunSettings) -> dict[str, object]:
    return {"study": STUDY, "dataset": curve_dataset(run.dataset, run.split), "arch": run.arch,
            "init": run.technique, "lr": settings.lr, "seed": settings.seed,
            "device": run.device}


def _run_id(run: Run, settings: RunSettings) -> str:
    """The curve table's run id (:func:`reusebench.core.curves.make_run_id`), one spelling."""
    keys = pd.DataFrame([_curve_keys(run, settings)])
    return str(make_run_id(keys).iloc[0])


def _curve_table(run: Run, settings: RunSettings, epochs: pd.DataFrame,
                 constant_loss: float) -> pd.DataFrame:
    """One row per epoch; ``reference_loss``: the constant-prediction cross-entropy."""
    keys = {**_curve_keys(run, settings), "reference_loss": constant_loss}
    table = pd.DataFrame({**{key: [value] * len(epochs) for key, value in keys.items()},
                          **{column: epochs[column] for column in epochs.columns}})
    return validate_curves(table, source=f"run {run}")


PRETRAIN_SYNTHETIC = "synthetic"


@dataclass(frozen=True)
class PretrainSettings:
    """``study_b.pretrain`` less its device. ``source``: ``synthetic`` (the generator with
    ``n_classes``, ``image_size`` and ``seed``) or a Study B data set's name (its training
    split, at most ``n_train`` images drawn by ``seed``; its own classes and image size)."""

    n_classes: int
    n_train: int
    image_size: int
    epochs: int
    batch_size: int
    lr: float
    seed: int
    source: str = PRETRAIN_SYNTHETIC


@dataclass(frozen=True)
class PretrainImages:
    """The uint8 images and labels a backbone is pretrained on, and what they are."""

    images: np.ndarray
    labels: np.ndarray
    n_classes: int
    description: str


def pretrain_images(settings: PretrainSettings,
                    dataset_path: str | Path | None = None) -> PretrainImages:
    """The pretraining images: synthetic, or the training split of the data set file
    ``dataset_path`` (the npz of data set ``settings.source``); never its test split."""
    if settings.source == PRETRAIN_SYNTHETIC:
        source = make_cifar_like(settings.n_classes, settings.n_train, 0, settings.seed,
                                 settings.image_size)
        return PretrainImages(source["x_train"], source["y_train"], settings.n_classes,
                              f"{settings.n_train} synthetic images of {settings.n_classes} "
                              f"classes (seed {settings.seed})")
    if dataset_path is None:
        raise InputError(f"study_b.pretrain.source is {settings.source!r} but no data set file "
                         "was given to pretrain on.")
    return training_split(load_npz_dataset(dataset_path), settings.source, settings.n_train,
                          settings.seed)


def training_split(data: dict, name: str, n_train: int, seed: int) -> PretrainImages:
    """At most ``n_train`` images of the training split of ``data``, drawn by ``seed``."""
    part = subsample(data, n_train, None, seed)
    n_classes = len(data["class_names"])
    return PretrainImages(part["x_train"], part["y_train"], n_classes,
                          f"{len(part['y_train'])} of the {len(data['y_train'])} training "
                          f"images of {name} ({n_classes} classes; its test images unused)")


def pretrain_backbone(arch: str, settings: PretrainSettings, threads: int,
                      out_path: str | Path, device: str = "cpu", log: Log = print,
                      dataset_path: str | Path | None = None) -> dict:
    """Train ``arch`` from scratch on a source task; save its backbone weights.

    ``settings.source``: ``synthetic`` (the CIFAR-like generator with its own seed and class
    count, so its classes differ from the target sets') or a Study B data set, whose npz is
    ``dataset_path``: then the backbone learns that set's training split with its labels
    (never its test split). A target run on that set then measures a head re-learned on
    features trained for the very same task and images, not transfer from another task:
    ``top1`` is then close to training the whole model on the target, and the techniques'
    differences are differences on a backbone that fits the target (offline, with no
    ImageNet weights, the only way to real-image features). Only the set's own split keeps
    its test images unseen: a ratio split (``50-50``) pools and re-splits, so its test part
    holds training images the backbone has learned.

    Training ends with precise BatchNorm statistics over the source images: a frozen
    backbone runs its BatchNorm layers on them. The checkpoint (HDF5 weights of the
    backbone, no head) is what ``keras.applications.<Model>(weights=path)`` loads.
    """
    source = pretrain_images(settings, dataset_path)
    configure(threads, device)
    keras.utils.set_random_seed(settings.seed)
    images = preprocess(arch, source.images)
    log(f"pretraining {arch} on {source.description}, {tuple(images.shape[1:])}, "
        f"{settings.epochs} epochs")
    model = build_classifier(arch, source.n_classes, tuple(images.shape[1:]), None)
    compile_model(model, settings.lr)
    began = time.perf_counter()
    history = model.fit(images, source.labels, batch_size=settings.batch_size,
                        epochs=settings.epochs, shuffle=True, verbose=0)
    calibrated = precise_batchnorm(model, images, settings.batch_size)
    seconds = time.perf_counter() - began
    atomic_write(out_path, lambda tmp: backbone_of(model).save_weights(tmp))
    summary = {"arch": arch, **asdict(settings), "seconds": seconds,
               "source_description": source.description,
               "source_file": None if dataset_path is None else str(dataset_path),
               "images_used": len(source.labels), "classes_used": source.n_classes,
               "train_loss": [float(value) for value in history.history["loss"]],
               "train_accuracy": [float(value) for value in history.history["accuracy"]]}
    log(f"pretrained {arch} on {source.description} in {seconds:.1f} s ({calibrated} "
        f"BatchNorm layers calibrated): {summary}")
    return summary


def model_sizes(archs: list[str], gzip_level: int, threads: int,
                image_size: int = 32) -> pd.DataFrame:
    """Paper Table 1 for the given models (built without weights, CPU; CIFAR-sized input,
    which changes neither the sizes nor the parameter counts of a model without its top)."""
    configure(threads, "cpu")
    return model_size_table(archs, (image_size, image_size, 3), gzip_level)
