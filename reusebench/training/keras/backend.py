"""TensorFlow with Keras 2 (tf-keras), thread limits and device selection.

tensorflow-model-optimization works with Keras 2 only: with Keras 3, ``cluster_weights``
returns None without an error. ``TF_USE_LEGACY_KERAS=1`` must be set before TensorFlow is
imported, so every Study B module imports TensorFlow through this one.
"""

from __future__ import annotations

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import platform
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from reusebench.core.errors import InputError

__all__ = ["configure", "dtype_policy", "keras", "tf", "tfmot"]

_GPU_ALIASES = ("gpu", "cuda")


def configure(threads: int, device: str) -> str:
    """Limit TensorFlow to ``threads`` CPU threads and show it only ``device``.

    ``device`` is ``cpu``, ``gpu``/``cuda``, ``gpu:N``/``cuda:N`` or part of a GPU's model
    name (e.g. ``v100``, checked on the first GPU). GPUs get memory growth, so the peak
    memory reported is what the run used. Must run before TensorFlow starts working.
    Returns a description of the device for the provenance.
    """
    tf.config.threading.set_intra_op_parallelism_threads(max(1, int(threads)))
    tf.config.threading.set_inter_op_parallelism_threads(1)
    gpus = tf.config.list_physical_devices("GPU")
    if device.lower() == "cpu":
        tf.config.set_visible_devices([], "GPU")
        return f"cpu ({platform.processor() or platform.machine()}, {threads} threads)"
    gpu = _pick_gpu(device, gpus)
    tf.config.set_visible_devices([gpu], "GPU")
    tf.config.experimental.set_memory_growth(gpu, True)
    return _gpu_name(gpu)


def _pick_gpu(device: str, gpus: list) -> object:
    host = socket.gethostname()
    if not gpus:
        raise InputError(f"device {device!r} was requested but TensorFlow sees no GPU on "
                         f"{host}.")
    kind, _, index_text = device.lower().partition(":")
    if kind in _GPU_ALIASES:
        index = int(index_text or 0) if (index_text or "0").isdigit() else -1
        if not 0 <= index < len(gpus):
            raise InputError(f"device {device!r} was requested but {host} has GPUs "
                             f"0..{len(gpus) - 1}.")
        return gpus[index]
    name = _gpu_name(gpus[0])
    if device.lower() not in name.lower():
        raise InputError(f"device {device!r} was requested but the first GPU on {host} is "
                         f"{name!r}.")
    return gpus[0]


def _gpu_name(gpu: object) -> str:
    details = tf.config.experimental.get_device_details(gpu)
    return str(details.get("device_name", gpu.name))


def gpu_in_use() -> bool:
    return bool(tf.config.get_visible_devices("GPU"))


def reset_gpu_peak() -> None:
    if gpu_in_use():
        tf.config.experimental.reset_memory_stats("GPU:0")


def gpu_peak_mb() -> float:
    """Peak GPU memory TensorFlow allocated since the last reset, in MiB (NaN on CPU)."""
    if not gpu_in_use():
        return float("nan")
    return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


@contextmanager
def dtype_policy(name: str | None) -> Iterator[None]:
    """Build models under a Keras dtype policy (e.g. ``mixed_float16``), then restore it."""
    if name is None:
        yield
        return
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def versions() -> dict[str, str]:
    return {"tensorflow": tf.__version__, "tf-keras": keras.__version__,
            "tensorflow-model-optimization": tfmot.__version__}
