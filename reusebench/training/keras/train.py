"""Training and timing of one Keras classifier (Adam, sparse cross entropy).

Per epoch: one ``fit`` pass over the shuffled training set (its loss and accuracy are Keras'
means over the epoch's mini-batches), then, with ``precise_bn``, the moving statistics of the
BatchNorm layers that trained are recomputed over the training set (Keras' momentum of 0.99
leaves them near their start after the few steps of a small data set, and the test pass,
in inference mode, would see unnormalized activations; this pass counts as training time),
then a full ``evaluate`` pass over the test set. The
one-off graph tracing is not training time: before the clock starts, one warm-up step on
the first training batch and one evaluation and prediction batch build the graphs; the
weights, BatchNorm statistics and optimizer state are then put back, so training starts
from the untouched model. The tracing time is reported as ``trace_seconds``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reusebench.training.keras.backend import gpu_peak_mb, keras, reset_gpu_peak, tf
from reusebench.training.keras.models import inner_layer

Log = Callable[[str], object]


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    batch_size: int
    lr: float
    seed: int
    test_repeats: int = 1
    precise_bn: bool = False


def compile_model(model: keras.Model, lr: float) -> None:
    """Adam and sparse categorical cross entropy, with accuracy."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def warm_up(model: keras.Model, x_train: np.ndarray, y_train: np.ndarray,
            x_test: np.ndarray, y_test: np.ndarray, batch_size: int) -> float:
    """Trace the train, test and predict graphs on one batch each, leaving no trace behind.

    Returns the seconds spent. The training step runs through ``fit`` like the real epochs,
    so the real epochs reuse its graph.
    """
    began = time.perf_counter()
    weights = model.get_weights()
    first = slice(0, min(batch_size, len(y_train)))
    model.fit(x_train[first], y_train[first], batch_size=batch_size, epochs=1, verbose=0)
    model.set_weights(weights)
    reset_optimizer(model.optimizer)
    test_first = slice(0, min(batch_size, len(y_test)))
    model.evaluate(x_test[test_first], y_test[test_first], batch_size=batch_size, verbose=0)
    model.predict(x_test[test_first], batch_size=batch_size, verbose=0)
    return time.perf_counter() - began


def reset_optimizer(optimizer: keras.optimizers.Optimizer) -> None:
    """Zero Adam's step counter and moments (inside a loss-scale wrapper too)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    for variable in inner.variables:
        variable.assign(tf.zeros_like(variable))


def fit_epochs(model: keras.Model, x_train: np.ndarray, y_train: np.ndarray,
               x_test: np.ndarray, y_test: np.ndarray, settings: TrainSettings,
               log: Log = print) -> pd.DataFrame:
    """Train for ``settings.epochs`` epochs; one row per epoch of losses, accuracies, times."""
    rows = []
    for epoch in range(1, settings.epochs + 1):
        reset_gpu_peak()
        began = time.perf_counter()
        history = model.fit(x_train, y_train, batch_size=settings.batch_size, epochs=epoch,
                            initial_epoch=epoch - 1, shuffle=True, verbose=0)
        if settings.precise_bn:
            precise_batchnorm(model, x_train, settings.batch_size)
        trained = time.perf_counter()
        scores = model.evaluate(x_test, y_test, batch_size=settings.batch_size, verbose=0,
                                return_dict=True)
        evaluated = time.perf_counter()
        row = {"epoch": epoch, "train_loss": _finite_or_inf(history.history["loss"][-1]),
               "test_loss": _finite_or_inf(scores["loss"]),
               "train_accuracy": float(history.history["accuracy"][-1]),
               "test_accuracy": float(scores["accuracy"]),
               "epoch_seconds": trained - began, "eval_seconds": evaluated - trained,
               "gpu_mem_max_mb": gpu_peak_mb()}
        rows.append(row)
        log(f"epoch {epoch}: train loss {row['train_loss']:.4f} acc "
            f"{row['train_accuracy']:.3f}, test loss {row['test_loss']:.4f} acc "
            f"{row['test_accuracy']:.3f}, {row['epoch_seconds']:.1f} s")
    return pd.DataFrame(rows)


def trained_batchnorm_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """BatchNormalization layers that run in training mode (trainable ones)."""
    return [layer for layer in model.layers
            if isinstance(inner_layer(layer), keras.layers.BatchNormalization)
            and layer.trainable]


def precise_batchnorm(model: keras.Model, images: np.ndarray, batch_size: int,
                      layers: list[keras.layers.Layer] | None = None) -> int:
    """Set the moving mean and variance of BatchNorm layers to their inputs' statistics.

    One forward pass over ``images`` in training mode (as during ``fit``: trained BatchNorm
    layers normalize by batch statistics, frozen ones by their moving statistics); per
    channel, the mean and the (biased) variance over all images and positions. ``layers``
    defaults to the trained BatchNorm layers. Returns how many layers were set.
    """
    layers = trained_batchnorm_layers(model) if layers is None else layers
    if not layers:
        return 0
    probe = keras.Model(model.inputs, [layer.input for layer in layers])
    sums: list = [0.0] * len(layers)  # per layer: per-channel sums of x and of x²
    counts = np.zeros(len(layers))
    for start in range(0, len(images), batch_size):
        outputs = probe(images[start:start + batch_size], training=True)
        outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
        for index, output in enumerate(outputs):
            values = np.asarray(output, dtype=np.float64)
            channels = values.reshape(-1, values.shape[-1])
            sums[index] = sums[index] + np.stack([channels.sum(axis=0),
                                                  np.square(channels).sum(axis=0)])
            counts[index] += len(channels)
    for layer, (total, total_square), count in zip(layers, sums, counts, strict=True):
        mean = total / count
        variance = np.maximum(total_square / count - np.square(mean), 0.0)
        bn = inner_layer(layer)
        bn.moving_mean.assign(mean.astype(np.float32))
        bn.moving_variance.assign(variance.astype(np.float32))
    return len(layers)


def _finite_or_inf(value: float) -> float:
    """A diverged loss (NaN or infinite) is recorded as +inf, as the curve table expects."""
    value = float(value)
    return value if math.isfinite(value) else math.inf


def timed_predict(model: keras.Model, images: np.ndarray, batch_size: int,
                  repeats: int = 1) -> tuple[np.ndarray, float]:
    """Predicted classes and the seconds of ``repeats`` full inference passes (summed)."""
    seconds, probabilities = 0.0, None
    for _ in range(max(1, repeats)):
        began = time.perf_counter()
        probabilities = model.predict(images, batch_size=batch_size, verbose=0)
        seconds += time.perf_counter() - began
    return np.asarray(probabilities).argmax(axis=1), seconds


def trainable_parameters(model: keras.Model) -> int:
    return int(sum(np.prod(weight.shape) for weight in model.trainable_weights))
