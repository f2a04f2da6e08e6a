"""Study A segmentation training: one configuration, one curve table (paper Table 3).

Adam, cross entropy weighted by class proportion, no augmentation. Per epoch: the training
loss is the mean of the epoch's batch losses; then a full pass over the test set in eval mode
gives the test loss and the test metrics (pixel accuracy; precision, recall, F1 and IoU,
each the macro mean over classes). Intensities are standardised per channel with the mean and
standard deviation of the training images. A diverging run keeps all its epochs; a NaN or
infinite loss is recorded as +inf, which the metric library flags as divergence (NaN would make
a run that diverges in its first epoch an "empty" run under the curve-table contract).

Every row also carries the run's constant-prediction reference (:func:`constant_reference`), the
test loss, IoU and F1 a model reaches without looking at the image. A completed run's checkpoint
holds the weights (optimizer state only with ``keep_optimizer_state``); while a run is under
way, ``resume.pt`` in its folder holds weights, optimizer state, random states and the epochs
so far, written every ``resume_interval_s`` seconds, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from reusebench.core.curves import read_curves, validate_curves, write_curves
from reusebench.core.errors import InputError
from reusebench.core.finished import forget_finished, remember_finished, restore_finished
from reusebench.core.io import atomic_write, atomic_write_all
from reusebench.core.provenance import library_versions, system_info, utc_now
from reusebench.training.seg import nvml
from reusebench.training.seg.device import (
    clock,
    device_info,
    nvml_device,
    peak_memory_mb,
    reset_peak_memory,
    resolve_device,
)
from reusebench.training.seg.evaluate import (
    class_weights,
    confusion_matrix,
    constant_reference,
    ratio,
    segmentation_scores,
)
from reusebench.training.seg.models import (
    SegmentationNet,
    build_model,
    check_arch,
    load_pretrained,
    load_torchvision_coco,
)
from reusebench.training.seg.resume import RESUME_FILE, Progress, save_progress, start_progress

INITS = ("random", "pretrained", "coco")
RUN_OUTPUTS = ("curves.csv", "provenance.json", "checkpoint.pt")
RESUME_INTERVAL_S = 300.0
CHECKPOINT_DTYPES = {"float32": torch.float32, "float16": torch.float16,
                     "bfloat16": torch.bfloat16}
LIBRARIES = ("torch", "torchvision", "segmentation-models-pytorch", "numpy", "nvidia-ml-py")
Log = Callable[[str], object]
FitResult = tuple[pd.DataFrame, dict[str, Any], dict[str, Any]]  # curves, checkpoint, provenance


class SegmentationDataLike(Protocol):
    """What training needs of ``reusebench.data.microscopy.SegmentationData``."""

    images: np.ndarray  # float32 (N, H, W, C), C in {1, 3}, raw intensities
    masks: np.ndarray  # int64 (N, H, W) class indices
    n_classes: int
    name: str
    modality: str
    train_index: np.ndarray
    test_index: np.ndarray


@dataclass(frozen=True)
class RunConfig:
    """The arguments that define one training run."""

    study: str
    arch: str
    init: str
    lr: float
    seed: int
    device: str
    epochs: int
    batch_size: int
    pretrained_checkpoint: str | None = None
    num_threads: int = 1
    nvml_rate_hz: float = 10.0
    torch_home: str | None = None
    precise_bn: bool = False
    keep_optimizer_state: bool = False
    resume_interval_s: float = RESUME_INTERVAL_S
    checkpoint_dtype: str = "float32"


@dataclass
class Split:
    """One side of the split as tensors on the CPU: normalised images (N, C, H, W), masks."""

    images: torch.Tensor
    masks: torch.Tensor


# ---------------------------------------------------------------- public entry points


def train_run(data: SegmentationDataLike, arch: str, lr: float, init: str, seed: int,
              device: str, epochs: int, batch_size: int, out_dir: str | Path,
              study: str = "A", pretrained_checkpoint: str | Path | None = None,
              nvml_rate_hz: float = 10.0, log: Log = print, num_threads: int = 1,
              torch_home: str | Path | None = None, precise_bn: bool = False,
              keep_optimizer_state: bool = False, resume_interval_s: float = RESUME_INTERVAL_S,
              checkpoint_dtype: str = "float32") -> pd.DataFrame:
    """Train one configuration; write curves.csv, provenance.json and checkpoint.pt to out_dir.

    ``init`` is ``random``, ``pretrained`` (from ``pretrained_checkpoint``, written by
    :func:`pretrain_run`) or ``coco`` (torchvision's COCO weights from the torch hub cache under
    ``torch_home``). ``device`` is ``cpu``, ``cuda``, ``cuda:N`` or a GPU model name such as
    ``a100``, which must occur in the name of ``cuda:0``. The class weights of the loss are
    ``w_c = (1/p_c) / sum_k (1/p_k)`` with ``p_c`` the fraction of training-mask pixels of
    class c (sum over classes present; a class absent from the training masks gets weight 0).
    ``precise_bn`` recomputes BatchNorm statistics over the training set after every epoch
    (see :func:`recompute_batchnorm_statistics`). The checkpoint keeps the optimizer state only
    with ``keep_optimizer_state``; a ``resume.pt`` left in out_dir by a killed run of the same
    configuration is resumed and removed once the outputs are written. Returns the run's
    validated curve table. ``checkpoint_dtype`` (float32, float16, bfloat16) is the type the
    checkpoint stores floating-point weights in; loading casts them to the model's type.
    """
    config = RunConfig(study, arch, init, float(lr), int(seed), device, int(epochs),
                       int(batch_size), _optional_str(pretrained_checkpoint), int(num_threads),
                       float(nvml_rate_hz), _optional_str(torch_home), bool(precise_bn),
                       bool(keep_optimizer_state), float(resume_interval_s),
                       str(checkpoint_dtype))
    out_dir = Path(out_dir)
    resume_path = out_dir / RESUME_FILE
    curves, checkpoint, provenance = fit(data, config, log, resume_path=resume_path)
    atomic_write_all({
        out_dir / "curves.csv": lambda tmp: write_curves(curves, tmp),
        out_dir / "provenance.json": lambda tmp: tmp.write_text(_json(provenance)),
        out_dir / "checkpoint.pt": lambda tmp: torch.save(checkpoint, tmp),
    })
    resume_path.unlink(missing_ok=True)
    return curves


def train_seeds(data: SegmentationDataLike, seeds: list[int], out_dirs: list[str | Path],
                **run: Any) -> list[pd.DataFrame]:
    """:func:`train_run` for each seed into its own folder, in one process (which saves the
    imports and start-up of one process per run); ``run`` holds train_run's other arguments.
    """
    if len(seeds) != len(out_dirs):
        raise InputError(f"{len(seeds)} seeds but {len(out_dirs)} output folders.")
    log, runs = run.get("log", print), []
    job = {**{key: value for key, value in run.items() if key != "log"},
           "data": data_fingerprint(data)}
    for seed, out_dir in zip(seeds, out_dirs, strict=True):
        identity = {**job, "seed": seed}
        if restore_finished(out_dir, RUN_OUTPUTS, identity):
            log(f"seed {seed}: finished before this job was interrupted; outputs kept")
            runs.append(read_curves(Path(out_dir) / "curves.csv"))
            continue
        runs.append(train_run(data, seed=seed, out_dir=out_dir, **run))
        remember_finished(out_dir, RUN_OUTPUTS, identity)
    forget_finished(out_dirs)
    return runs


def data_fingerprint(data: SegmentationDataLike) -> str:
    """A digest of the images, masks and splits a run trains and tests on."""
    digest = hashlib.blake2b(data.name.encode(), digest_size=16)
    for array in (data.images, data.masks, data.train_index, data.test_index):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def pretrain_run(source_data: SegmentationDataLike, arch: str, lr: float, seed: int,
                 device: str, epochs: int, batch_size: int, out_path: str | Path,
                 nvml_rate_hz: float = 10.0, log: Log = print,
                 num_threads: int = 1, precise_bn: bool = False) -> pd.DataFrame:
    """Train ``arch`` from random weights on a source data set and save the checkpoint.

    The checkpoint at ``out_path`` (with its provenance inside) is the ``pretrained`` init of
    :func:`train_run`, which keeps all weights but the classifier head. Returns the curves
    (study ``pretrain``).
    """
    config = RunConfig("pretrain", arch, "random", float(lr), int(seed), device, int(epochs),
                       int(batch_size), None, int(num_threads), float(nvml_rate_hz),
                       precise_bn=bool(precise_bn))
    curves, checkpoint, provenance = fit(source_data, config, log)
    checkpoint["provenance"] = provenance
    atomic_write(Path(out_path), lambda tmp: torch.save(checkpoint, tmp))
    return curves


def fit(data: SegmentationDataLike, config: RunConfig, log: Log = print,
        model: SegmentationNet | None = None, resume_path: Path | None = None) -> FitResult:
    """Run the training loop: (curve table, checkpoint dict, provenance dict).

    ``model`` trains a model built by the caller instead of one initialised as ``config.init``
    says (which then only labels the run); it must match the arch and the data's class count.
    With ``resume_path``, the loop continues from the state saved there by a run of the same
    configuration, and saves its state there every ``config.resume_interval_s`` seconds;
    nothing else is written.
    """
    _check_config(config)
    _check_data(data)
    started = utc_now()
    torch_device = resolve_device(config.device)
    _make_deterministic(config.seed, config.num_threads)
    mean, std = normalisation(data.images[data.train_index])
    train = normalised_split(data, data.train_index, mean, std)
    test = normalised_split(data, data.test_index, mean, std)
    weights = class_weights(train.masks.numpy(), data.n_classes)
    model = _initial_model(config, data) if model is None else _checked(model, config, data)
    model = model.to(torch_device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    progress = start_progress(model, optimizer, config, resume_path, log)
    with nvml.NvmlSampler(nvml_device(torch_device), config.nvml_rate_hz) as sampler:
        rows = _epochs(model, optimizer, train, test, weights, config, sampler, log, progress)
    reference = constant_reference(train.masks.numpy(), test.masks.numpy(), weights)
    curves = _curve_table([{**row, **reference} for row in rows], config, data.name)
    checkpoint = _checkpoint(model, optimizer if config.keep_optimizer_state else None, config,
                             data, mean, std)
    provenance = _provenance(config, data, torch_device, started, sampler.status,
                             {"mean": mean.tolist(), "std": std.tolist()}, weights)
    return curves, checkpoint, provenance


# ---------------------------------------------------------------- checks and set-up


def _optional_str(value: str | Path | None) -> str | None:
    return None if value is None else str(value)


def _check_config(config: RunConfig) -> None:
    check_arch(config.arch)
    if config.checkpoint_dtype not in CHECKPOINT_DTYPES:
        raise InputError(f"Unknown checkpoint_dtype {config.checkpoint_dtype!r}: choose one of "
                         f"{', '.join(CHECKPOINT_DTYPES)}.")
    if config.init not in INITS:
        raise InputError(f"Unknown init {config.init!r}: choose one of {', '.join(INITS)}.")
    if (config.init == "pretrained") != (config.pretrained_checkpoint is not None):
        raise InputError("A pretrained_checkpoint must be given exactly when init is "
                         f"'pretrained' (init is {config.init!r}).")
    if not (math.isfinite(config.lr) and config.lr > 0):
        raise InputError(f"The learning rate must be a positive number, got {config.lr}.")
    if config.epochs < 1:
        raise InputError(f"epochs must be at least 1, got {config.epochs}.")
    if config.batch_size < 2:
        raise InputError(f"batch_size must be at least 2 (BatchNorm needs two samples per "
                         f"training batch), got {config.batch_size}.")
    if config.num_threads < 1:
        raise InputError(f"num_threads must be at least 1, got {config.num_threads}.")


def _check_data(data: SegmentationDataLike) -> None:
    images, masks = np.asarray(data.images), np.asarray(data.masks)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise InputError(f"Data set {data.name}: images must be N×H×W×C with C 1 or 3, got "
                         f"shape {images.shape}.")
    if masks.shape != images.shape[:3]:
        raise InputError(f"Data set {data.name}: masks have shape {masks.shape}, but the "
                         f"images need {images.shape[:3]}.")
    if masks.size and (masks.min() < 0 or masks.max() >= data.n_classes):
        raise InputError(f"Data set {data.name}: mask values must lie in 0..{data.n_classes - 1},"
                         f" found {masks.min()}..{masks.max()}.")
    _check_index(data.train_index, len(images), data.name, "train_index", minimum=2)
    _check_index(data.test_index, len(images), data.name, "test_index", minimum=1)


def _check_index(index: np.ndarray, n_images: int, name: str, field: str, minimum: int) -> None:
    index = np.asarray(index)
    if index.ndim != 1 or len(index) < minimum:
        raise InputError(f"Data set {name}: {field} must list at least {minimum} images.")
    if index.dtype.kind not in "iu" or index.min() < 0 or index.max() >= n_images:
        raise InputError(f"Data set {name}: {field} must hold image numbers 0..{n_images - 1}.")


def _make_deterministic(seed: int, num_threads: int) -> None:
    # cuBLAS reads this when CUDA starts; without it deterministic matmuls raise on CUDA.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.set_num_threads(num_threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _initial_model(config: RunConfig, data: SegmentationDataLike) -> SegmentationNet:
    model = build_model(config.arch, data.n_classes, data.images.shape[-1])
    if config.init == "pretrained":
        load_pretrained(model, config.pretrained_checkpoint, data.n_classes)
    elif config.init == "coco":
        load_pretrained(model, load_torchvision_coco(config.arch, config.torch_home),
                        data.n_classes)
    return model


def _checked(model: SegmentationNet, config: RunConfig,
             data: SegmentationDataLike) -> SegmentationNet:
    if (model.arch, model.n_classes) != (config.arch, data.n_classes):
        raise InputError(f"The given model is a {model.arch} for {model.n_classes} classes, "
                         f"but the run needs a {config.arch} for {data.n_classes}.")
    return model


# ---------------------------------------------------------------- the data as tensors


def normalisation(train_images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over training images (N, H, W, C) as float64."""
    pixels = np.asarray(train_images, dtype=np.float64).reshape(-1, train_images.shape[-1])
    mean, std = pixels.mean(axis=0), pixels.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)


def normalised_split(data: SegmentationDataLike, index: np.ndarray, mean: np.ndarray,
           std: np.ndarray) -> Split:
    images = (np.asarray(data.images[index], dtype=np.float64) - mean) / std
    channels_first = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32)
    masks = np.ascontiguousarray(data.masks[index], dtype=np.int64)
    return Split(torch.from_numpy(channels_first), torch.from_numpy(masks))


# ---------------------------------------------------------------- the loop


def _epochs(model: SegmentationNet, optimizer: torch.optim.Optimizer, train: Split,
            test: Split, weights: torch.Tensor, config: RunConfig,
            sampler: nvml.NvmlSampler, log: Log, progress: Progress) -> list[dict[str, float]]:
    device = next(model.parameters()).device
    weights = weights.to(device)
    rows, saved_at = progress.rows, time.monotonic()
    for epoch in range(len(rows) + 1, config.epochs + 1):
        reset_peak_memory(device)
        started = clock(device)
        train_loss = _train_epoch(model, optimizer, train, weights, config.batch_size,
                                  progress.order)
        if config.precise_bn:
            recompute_batchnorm_statistics(model, train, config.batch_size)
        trained = clock(device)
        test_loss, confusion = _evaluate(model, test, weights, config.batch_size,
                                         model.n_classes)
        evaluated = clock(device)
        mem_mb, util_pct, n_samples = sampler.epoch_summary()
        train_loss, test_loss = _recorded(train_loss), _recorded(test_loss)
        rows.append({"epoch": epoch, "train_loss": train_loss, "test_loss": test_loss,
                     "epoch_seconds": trained - started, "eval_seconds": evaluated - trained,
                     "gpu_mem_max_mb": mem_mb, "gpu_util_mean_pct": util_pct,
                     "gpu_samples": n_samples, "torch_mem_max_mb": peak_memory_mb(device),
                     **segmentation_scores(confusion)})
        log(f"epoch {epoch}/{config.epochs} train_loss {train_loss:.3f} "
            f"test_loss {test_loss:.3f} ({evaluated - started:.1f} s)")
        if (progress.path is not None and epoch < config.epochs
                and time.monotonic() - saved_at >= config.resume_interval_s):
            save_progress(model, optimizer, config, progress)
            saved_at = time.monotonic()
    return rows


def _recorded(loss: float) -> float:
    return loss if math.isfinite(loss) else math.inf


def batches(n_samples: int, batch_size: int,
            generator: torch.Generator | None) -> list[torch.Tensor]:
    """A seeded random partition into batches (in order without a generator); a last batch
    of one joins the one before it."""
    order = (torch.arange(n_samples) if generator is None
             else torch.randperm(n_samples, generator=generator))
    parts = list(order.split(batch_size))
    if len(parts) > 1 and len(parts[-1]) == 1:
        parts[-2:] = [torch.cat(parts[-2:])]
    return parts


def in_order_batches(n_samples: int, batch_size: int) -> list[torch.Tensor]:
    """Consecutive batches; a last batch of one joins the one before it (BatchNorm needs 2)."""
    return batches(n_samples, batch_size, None)


def _train_epoch(model: SegmentationNet, optimizer: torch.optim.Optimizer, train: Split,
                 weights: torch.Tensor, batch_size: int, order: torch.Generator) -> float:
    model.train()
    device = weights.device
    losses = []
    for batch in batches(len(train.images), batch_size, order):
        images, masks = train.images[batch].to(device), train.masks[batch].to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), masks, weight=weights)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))


@torch.no_grad()
def recompute_batchnorm_statistics(model: SegmentationNet, train: Split,
                                   batch_size: int) -> None:
    """Replace BatchNorm running statistics by their average over the training set.

    With few batches per epoch (small data sets) the running averages lag far behind the
    weights (torchvision's MobileNetV3 layers use momentum 0.01), so evaluation-mode outputs
    reflect stale statistics rather than the model; one forward pass over the training images
    with a cumulative average fixes that ("precise BN"). The weights are not changed.
    """
    norms = [module for module in model.modules()
             if isinstance(module, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the batches below
    model.train()
    device = next(model.parameters()).device
    for chunk in in_order_batches(len(train.images), batch_size):
        model(train.images[chunk].to(device))
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum


@torch.no_grad()
def _evaluate(model: SegmentationNet, test: Split, weights: torch.Tensor, batch_size: int,
              n_classes: int) -> tuple[float, np.ndarray]:
    """Weighted cross entropy over all test pixels (not a mean of batch means), confusion."""
    model.eval()
    device = weights.device
    loss_sum, weight_sum = 0.0, 0.0
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    for start in range(0, len(test.images), batch_size):
        images = test.images[start:start + batch_size].to(device)
        masks = test.masks[start:start + batch_size].to(device)
        logits = model(images)
        loss_sum += F.cross_entropy(logits, masks, weight=weights, reduction="sum").item()
        weight_sum += weights[masks].sum().item()
        confusion += confusion_matrix(logits.argmax(dim=1).cpu().numpy(), masks.cpu().numpy(),
                                      n_classes)
    return ratio(loss_sum, weight_sum), confusion


# ---------------------------------------------------------------- outputs


def _curve_table(rows: list[dict[str, float]], config: RunConfig, dataset: str) -> pd.DataFrame:
    keys = {"study": config.study, "dataset": dataset, "arch": config.arch,
            "init": config.init, "lr": config.lr, "seed": config.seed, "device": config.device}
    table = pd.DataFrame([{**keys, **row} for row in rows])
    return validate_curves(table, source=f"training run {config.study}/{dataset}/{config.arch}")


def _checkpoint(model: SegmentationNet, optimizer: torch.optim.Optimizer | None,
                config: RunConfig, data: SegmentationDataLike, mean: np.ndarray,
                std: np.ndarray) -> dict[str, Any]:
    dtype = CHECKPOINT_DTYPES[config.checkpoint_dtype]
    state = {key: value.to(dtype) if value.is_floating_point() else value
             for key, value in model.state_dict().items()}
    checkpoint = {"model_state": state, "epoch": config.epochs,
                  "arch": config.arch, "n_classes": data.n_classes,
                  "in_channels": int(data.images.shape[-1]),
                  "normalisation": {"mean": mean.tolist(), "std": std.tolist()}}
    if optimizer is not None:
        checkpoint["optimizer_state"] = optimizer.state_dict()
    return checkpoint


def _provenance(config: RunConfig, data: SegmentationDataLike, device: torch.device,
                started: str, nvml_status: str, normalised: dict[str, list[float]],
                weights: torch.Tensor) -> dict[str, Any]:
    system = system_info()
    return {
        "config": asdict(config),
        "seed": config.seed,
        "dataset": {"name": data.name, "modality": data.modality, "n_classes": data.n_classes,
                    "image_shape": list(data.images.shape[1:]),
                    "n_train": len(data.train_index), "n_test": len(data.test_index)},
        "normalisation": normalised,
        "class_weights": weights.tolist(),
        "versions": {"python": system["python"], **library_versions(LIBRARIES)},
        "device": device_info(device),
        "host": system["host"],
        "platform": system["platform"],
        "start": started,
        "end": utc_now(),
        "nvml": {"status": nvml_status, "ok": nvml_status.startswith("ok")},
    }


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, allow_nan=True) + "\n"
