"""A mini NAS-Bench-101: train a few cells offline and write NAS-Bench-101 records.

Each (cell, epoch budget, repeat) is one training run from scratch, as in NAS-Bench-101:
SGD with momentum and a per-step cosine learning-rate decay over the whole budget,
accuracies on a train-evaluation subset, the validation split and the test set at
initialisation, halfway and at the end. NAS-Bench-101 itself used RMSProp (momentum 0.9,
epsilon 1.0) at batch 256 for 4 to 108 epochs of CIFAR-10; this CPU-sized version uses SGD
with momentum 0.9 and no data augmentation (the synthetic images are already varied).

Beyond NAS-Bench-101, the longest budget's run of each cell and repeat can also record its
per-epoch curve (test loss and accuracy after every epoch, the epoch's mean training loss),
written as a curve table (:func:`epoch_curves`) that forecasts can read epoch by epoch.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from reusebench.core.curves import validate_curves, write_curves
from reusebench.core.extras import require
from reusebench.core.forecast.targets import NASBENCH_STUDY
from reusebench.core.io import atomic_write_all, check_output, check_table_path
from reusebench.data.datasets.cifar_like import split
from reusebench.data.nasbench.graph import cell_hash
from reusebench.data.nasbench.proto import encode_model_metrics
from reusebench.data.nasbench.records import encode_record
from reusebench.data.nasbench.space import (
    INCEPTION_LIKE,
    RESNET_LIKE,
    cell_family,
    pruned_cell,
    random_valid_cell,
)
from reusebench.data.nasbench.tfrecord import write_tfrecord
from reusebench.training.nasbench.network import build_network, count_trainable_parameters

torch = require("seg", "torch")
nn = torch.nn

DEFAULT_BUDGETS = (2, 4)
PAPER_BUDGETS = (4, 12, 36, 108)
CellSpec = tuple[np.ndarray, list[str]]
EPOCH_CURVES_DATASET = "mini"  # dataset key of the per-epoch curve table


@dataclass(frozen=True)
class MiniSettings:
    """Network size and training hyper-parameters of the mini benchmark (CPU-sized)."""

    stem_channels: int = 16
    n_stacks: int = 2
    cells_per_stack: int = 1
    batch_size: int = 128
    learning_rate: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    validation_fraction: float = 0.2
    eval_batch_size: int = 500
    # On a 2-core CPU shared with other processes, two OpenMP threads were 14% faster when
    # it was idle but up to 8x slower under load.
    num_threads: int = 1


@dataclass(frozen=True)
class RunResult:
    """One training run: its pruned cell, budget, repeat and NAS-Bench-101 metrics."""

    matrix: np.ndarray
    ops: list[str]
    epochs: int
    repeat: int
    evaluation_data: list[dict[str, float]]
    trainable_parameters: int
    total_time: float
    # per epoch 1..epochs: epoch, train_loss, test_loss, test_accuracy, epoch_seconds,
    # eval_seconds; empty unless the run recorded it (the longest budget's runs, on request)
    epoch_curve: tuple[dict[str, float], ...] = ()
    module_hash: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "module_hash", cell_hash(self.matrix, self.ops))


@dataclass(frozen=True)
class Splits:
    """Image tensors (N×3×H×W, normalised) and labels of every split a run uses."""

    train: tuple[torch.Tensor, torch.Tensor]
    train_eval: tuple[torch.Tensor, torch.Tensor]
    validation: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    n_classes: int


def sample_cells(n_cells: int, seed: int) -> list[CellSpec]:
    """``n_cells`` random valid pruned cells with distinct hashes, alternating families.

    Cell i is ResNet-like for even i and Inception-like for odd i, so both families are
    present (at least two of each from four cells on).
    """
    if n_cells < 2:
        raise ValueError(f"need at least 2 cells (one per family), got {n_cells}")
    rng = np.random.default_rng(seed)
    cells: list[CellSpec] = []
    hashes: set[str] = set()
    for index in range(n_cells):
        wanted = RESNET_LIKE if index % 2 == 0 else INCEPTION_LIKE
        matrix, ops = random_valid_cell(rng)
        while cell_family(matrix) != wanted or cell_hash(matrix, ops) in hashes:
            matrix, ops = random_valid_cell(rng)
        cells.append((matrix, ops))
        hashes.add(cell_hash(matrix, ops))
    return cells


def train_mini_nasbench(cells: Sequence[tuple[np.ndarray, Sequence[str]]],
                        budgets: Sequence[int], repeats: int, data: dict,
                        settings: MiniSettings | None, out_path: str | Path, seed: int,
                        curves_path: str | Path | None = None) -> int:
    """Train every cell × budget × repeat and write one record each; return the count.

    ``data`` is a dict like :func:`reusebench.data.datasets.cifar_like.make_cifar_like`'s;
    ``settings`` None means :class:`MiniSettings` defaults. With ``curves_path`` (.csv or
    .parquet) the longest budget's runs also record their per-epoch curves, written there
    as a curve table (:func:`epoch_curves`); the records stay the same, and both files
    appear together or not at all.
    """
    settings = settings or MiniSettings()
    if curves_path is None:
        return write_runs(train_runs(cells, budgets, repeats, data, settings, seed), out_path)
    check_output(out_path)
    check_table_path(curves_path)  # before any training, as write_runs checks out_path
    runs = list(train_runs(cells, budgets, repeats, data, settings, seed, record_epochs=True))
    curves = epoch_curves(runs, settings.learning_rate)
    atomic_write_all({Path(out_path): lambda tmp: write_runs(runs, tmp),
                      Path(curves_path): lambda tmp: write_curves(curves, tmp)})
    return len(runs)


def epoch_curves(runs: Iterable[RunResult], learning_rate: float,
                 dataset: str = EPOCH_CURVES_DATASET) -> pd.DataFrame:
    """The per-epoch curves of the runs that recorded one, as a validated curve table.

    Keys: study ``nasbench``, ``dataset``, arch = the cell's module hash (as
    :func:`reusebench.core.forecast.targets.nasbench_curves`), init ``random``, lr =
    ``learning_rate``, seed = the repeat index, device ``cpu``. Besides the losses, columns
    ``test_accuracy``, ``epoch_seconds`` (training) and ``eval_seconds`` (the test pass).
    """
    rows = [{"study": NASBENCH_STUDY, "dataset": dataset, "arch": run.module_hash,
             "init": "random", "lr": learning_rate, "seed": run.repeat, "device": "cpu",
             **point} for run in runs for point in run.epoch_curve]
    return validate_curves(pd.DataFrame(rows), source=f"{dataset} NAS-Bench epoch curves")


def write_runs(runs: Iterable[RunResult], out_path: str | Path) -> int:
    """Write runs as NAS-Bench-101 records to a TFRecord file; return the record count."""
    return write_tfrecord(out_path, (run_record(run) for run in runs))


def run_record(run: RunResult) -> bytes:
    """One NAS-Bench-101 record (JSON list of hash, epochs, adjacency, ops, metrics)."""
    metrics = encode_model_metrics(run.evaluation_data, run.trainable_parameters,
                                   run.total_time)
    return encode_record(run.module_hash, run.epochs, run.matrix, run.ops, metrics)


def train_runs(cells: Sequence[tuple[np.ndarray, Sequence[str]]], budgets: Sequence[int],
               repeats: int, data: dict, settings: MiniSettings, seed: int,
               record_epochs: bool = False) -> Iterator[RunResult]:
    """One :class:`RunResult` per cell × budget × repeat, trained lazily in that nesting order.

    Every run has its own seed derived from ``seed``, the cell's index, the budget and
    the repeat, so a run does not depend on which other runs are made. With
    ``record_epochs`` the runs of the longest budget (its first occurrence in ``budgets``)
    record their per-epoch curve. Bad arguments raise ValueError here, before any training.
    """
    if repeats < 1 or not budgets or min(budgets) < 1:
        raise ValueError(f"need repeats >= 1 and budgets >= 1 epoch; got {repeats=}, {budgets=}")
    pruned = [pruned_cell(matrix, ops) for matrix, ops in cells]
    recorded_budget = list(budgets).index(max(budgets)) if record_epochs else None
    return _train_each(pruned, budgets, repeats, prepare_splits(data, settings, seed), settings,
                       seed, recorded_budget)


def _train_each(cells: list[CellSpec], budgets: Sequence[int], repeats: int, splits: Splits,
                settings: MiniSettings, seed: int,
                recorded_budget: int | None) -> Iterator[RunResult]:
    for cell_index, (matrix, ops) in enumerate(cells):
        for budget_index, epochs in enumerate(budgets):
            for repeat in range(repeats):
                run_seed = derived_seed(seed, cell_index, epochs, repeat)
                with torch_run_context(settings.num_threads):
                    result = train_run(matrix, ops, epochs, repeat, splits, settings, run_seed,
                                       record_epochs=budget_index == recorded_budget)
                yield result


def derived_seed(*numbers: int) -> int:
    """A 32-bit seed determined by ``numbers`` (well mixed, unlike their sum)."""
    return int(np.random.SeedSequence(list(numbers)).generate_state(1)[0])


@contextlib.contextmanager
def torch_run_context(num_threads: int) -> Iterator[None]:
    """Use ``num_threads`` and deterministic algorithms; restore them and torch's RNG after."""
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(num_threads)
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_deterministic)


def prepare_splits(data: dict, settings: MiniSettings, seed: int) -> Splits:
    """Carve a stratified validation split from train; scale with train's channel stats.

    As NAS-Bench-101 (which measures train accuracy on the first of its four training
    files), train accuracy is measured on a fixed train subset as large as validation.
    """
    x_train, y_train, x_valid, y_valid = split(
        data["x_train"], data["y_train"], 1.0 - settings.validation_fraction, seed)
    mean = x_train.mean(axis=(0, 1, 2)) / 255.0
    std = x_train.std(axis=(0, 1, 2)) / 255.0
    n_eval = len(y_valid)

    def tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return image_tensor(images, mean, std), torch.as_tensor(labels, dtype=torch.int64)

    return Splits(train=tensors(x_train, y_train),
                  train_eval=tensors(x_train[:n_eval], y_train[:n_eval]),
                  validation=tensors(x_valid, y_valid),
                  test=tensors(data["x_test"], data["y_test"]),
                  n_classes=int(max(np.max(y_train), np.max(data["y_test"])) + 1))


def image_tensor(images: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """uint8 N×H×W×3 images as a normalised float32 N×3×H×W tensor in channels-last memory."""
    scaled = (images.astype(np.float32) / 255.0 - mean.astype(np.float32)) / std.astype(np.float32)
    # channels_last is what N×H×W×3 already is in memory, and oneDNN's fast CPU layout.
    return torch.from_numpy(scaled).permute(0, 3, 1, 2)


def train_run(matrix: np.ndarray, ops: list[str], epochs: int, repeat: int, splits: Splits,
              settings: MiniSettings, seed: int, record_epochs: bool = False) -> RunResult:
    """Train one network from scratch for ``epochs``; evaluate at init, halfway and end.

    With ``record_epochs`` the run also evaluates the test split after every epoch (its
    ``epoch_curve``); that evaluation changes no weight, statistic or random state, and its
    time is left out of ``total_time``, so the NAS-Bench-101 metrics are those of a run
    without it.
    """
    start = time.perf_counter()
    torch.manual_seed(seed)
    network = build_network(matrix, ops, splits.n_classes, settings.stem_channels,
                            settings.n_stacks, settings.cells_per_stack)
    network = network.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(network.parameters(), lr=settings.learning_rate,
                                momentum=settings.momentum, weight_decay=settings.weight_decay)
    batches = epoch_batches(len(splits.train[1]), settings.batch_size, epochs, seed)
    schedule = cosine_schedule(settings.learning_rate, epochs * len(batches[0]))
    evaluation_data = [evaluate(network, splits, 0, 0.0, settings.eval_batch_size)]
    epoch_curve = train_epochs(network, optimizer, splits, settings, batches, schedule,
                               evaluation_data, record_epochs)
    extra_seconds = sum(point["eval_seconds"] for point in epoch_curve)
    return RunResult(matrix=matrix, ops=ops, epochs=epochs, repeat=repeat,
                     evaluation_data=evaluation_data,
                     trainable_parameters=count_trainable_parameters(network),
                     total_time=time.perf_counter() - start - extra_seconds,
                     epoch_curve=tuple(epoch_curve))


def train_epochs(network: nn.Module, optimizer: torch.optim.Optimizer, splits: Splits,
                 settings: MiniSettings, batches: list[list[torch.Tensor]],
                 schedule: list[float], evaluation_data: list[dict[str, float]],
                 record_epochs: bool) -> list[dict[str, float]]:
    """Train every epoch, appending the halfway and final evaluations to ``evaluation_data``;
    return the per-epoch curve (empty unless ``record_epochs``)."""
    epochs = len(batches)
    halfway = max(1, epochs // 2)
    training_time, step, epoch_curve = 0.0, 0, []
    for epoch, epoch_batch_indices in enumerate(batches, start=1):
        began = time.perf_counter()
        batch_losses: list[float] = []
        step = train_epoch(network, optimizer, splits.train, epoch_batch_indices, schedule, step,
                           batch_losses if record_epochs else None)
        epoch_seconds = time.perf_counter() - began
        training_time += epoch_seconds
        if record_epochs:
            epoch_curve.append(epoch_point(network, splits, settings.eval_batch_size, epoch,
                                           sum(batch_losses), epoch_seconds))
        if epoch == halfway:
            evaluation_data.append(evaluate(network, splits, epoch, training_time,
                                            settings.eval_batch_size))
    if halfway != epochs:
        evaluation_data.append(evaluate(network, splits, epochs, training_time,
                                        settings.eval_batch_size))
    else:  # a 1-epoch budget: halfway and final are the same evaluation
        evaluation_data.append(dict(evaluation_data[-1]))
    return epoch_curve


def epoch_point(network: nn.Module, splits: Splits, batch_size: int, epoch: int,
                summed_train_loss: float, epoch_seconds: float) -> dict[str, float]:
    """One epoch of a per-epoch curve: the epoch's mean training loss (over its batches, as
    the weights changed) and the test split's loss and accuracy after it."""
    began = time.perf_counter()
    test_loss, test_accuracy = loss_and_accuracy(network, splits.test, batch_size)
    return {"epoch": float(epoch), "train_loss": summed_train_loss / len(splits.train[1]),
            "test_loss": test_loss, "test_accuracy": test_accuracy,
            "epoch_seconds": epoch_seconds, "eval_seconds": time.perf_counter() - began}


def epoch_batches(n_samples: int, batch_size: int, epochs: int,
                  seed: int) -> list[list[torch.Tensor]]:
    """Per epoch, a fresh shuffle cut into ceil(n / batch_size) near-equal batches.

    Near-equal sizes avoid a tiny last batch (batch norm on a handful of samples).
    """
    generator = torch.Generator().manual_seed(seed)
    n_batches = math.ceil(n_samples / batch_size)
    return [list(torch.randperm(n_samples, generator=generator).tensor_split(n_batches))
            for _ in range(epochs)]


def cosine_schedule(base_rate: float, total_steps: int) -> list[float]:
    """NAS-Bench-101's COSINE_BY_STEP: 0.5 * base * (1 + cos(pi * step / total))."""
    return [0.5 * base_rate * (1.0 + math.cos(math.pi * step / total_steps))
            for step in range(total_steps)]


def train_epoch(network: nn.Module, optimizer: torch.optim.Optimizer,
                train: tuple[torch.Tensor, torch.Tensor], batch_indices: list[torch.Tensor],
                schedule: list[float], step: int, batch_losses: list[float] | None = None) -> int:
    """One pass over the batches; returns the global step after it.

    With ``batch_losses``, each batch's summed loss (mean loss × batch size) is appended.
    """
    images, labels = train
    network.train()
    for indices in batch_indices:
        for group in optimizer.param_groups:
            group["lr"] = schedule[step]
        loss = nn.functional.cross_entropy(network(images[indices]), labels[indices])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if batch_losses is not None:
            batch_losses.append(loss.item() * len(indices))
        step += 1
    return step


def evaluate(network: nn.Module, splits: Splits, epoch: int, training_time: float,
             batch_size: int) -> dict[str, float]:
    """One NAS-Bench-101 EvaluationData: epoch, training time and three accuracies."""
    return {
        "current_epoch": float(epoch),
        "training_time": training_time,
        "train_accuracy": accuracy(network, splits.train_eval, batch_size),
        "validation_accuracy": accuracy(network, splits.validation, batch_size),
        "test_accuracy": accuracy(network, splits.test, batch_size),
    }


def loss_and_accuracy(network: nn.Module, split_tensors: tuple[torch.Tensor, torch.Tensor],
                      batch_size: int) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over a split in one pass (batch norm in eval mode)."""
    images, labels = split_tensors
    network.eval()
    summed_loss, correct = 0.0, 0
    with torch.inference_mode():
        for first in range(0, len(labels), batch_size):
            logits = network(images[first:first + batch_size])
            batch_labels = labels[first:first + batch_size]
            summed_loss += float(nn.functional.cross_entropy(logits, batch_labels,
                                                             reduction="sum"))
            correct += int((logits.argmax(dim=1) == batch_labels).sum())
    return summed_loss / len(labels), correct / len(labels)


def accuracy(network: nn.Module, split_tensors: tuple[torch.Tensor, torch.Tensor],
             batch_size: int) -> float:
    """Fraction of images whose arg-max logit is their label (batch norm in eval mode)."""
    images, labels = split_tensors
    network.eval()
    correct = 0
    with torch.inference_mode():
        for first in range(0, len(labels), batch_size):
            logits = network(images[first:first + batch_size])
            correct += int((logits.argmax(dim=1) == labels[first:first + batch_size]).sum())
    return correct / len(labels)
