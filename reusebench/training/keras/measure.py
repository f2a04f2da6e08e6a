"""Sizes of saved models (raw, gzip, TFLite float16) and sizes of the unmodified models.

Sizes are in MB = 10^6 bytes. The saved model is Keras' HDF5 file (``.h5``, the format the
paper names) without the optimizer state.
"""

from __future__ import annotations

import tempfile
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from reusebench.core.io import atomic_write
from reusebench.training.keras.backend import dtype_policy, keras, tf
from reusebench.training.keras.models import build_backbone, check_arch

MB = 1e6
CHUNK_BYTES = 1 << 20


def save_model(model: keras.Model, path: str | Path) -> int:
    """Save ``model`` as HDF5 without optimizer state, atomically; return its bytes."""
    with warnings.catch_warnings():  # Keras calls HDF5 "legacy"; the paper's format is HDF5
        warnings.filterwarnings("ignore", message=r".*HDF5 file via `model.save\(\)`.*")
        atomic_write(path, lambda tmp: model.save(tmp, include_optimizer=False,
                                                  save_format="h5"))
    return Path(path).stat().st_size


def gzip_size(path: str | Path, level: int = 6) -> int:
    """Bytes of the file once gzip-compressed at ``level`` (nothing is written)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    total = 0
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            total += len(compressor.compress(chunk))
    return total + len(compressor.flush())


def tflite_float16_size(model: keras.Model) -> int:
    """Bytes of the model converted to TFLite with float16 weights (post-training)."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    return len(converter.convert())


def saved_sizes(model: keras.Model, path: str | Path, gzip_level: int) -> dict[str, float]:
    """Save ``model`` at ``path`` and return its raw and gzip sizes in MB."""
    raw = save_model(model, path)
    return {"size_mb": raw / MB, "gzip_mb": gzip_size(path, gzip_level) / MB}


def unmodified_sizes(arch: str, image_shape: tuple[int, int, int],
                     gzip_level: int) -> dict[str, object]:
    """Paper Table 1 for one model: the backbone (no top) in float32 and float16.

    Sizes do not depend on the weight values, so the backbone is built without weights.
    """
    backbone = build_backbone(check_arch(arch), image_shape, None)
    half = _float16_backbone(backbone, arch, image_shape)
    with tempfile.TemporaryDirectory() as folder:
        full = saved_sizes(backbone, Path(folder) / "float32.h5", gzip_level)
        halved = saved_sizes(half, Path(folder) / "float16.h5", gzip_level)
    return {"arch": arch, "layers": len(backbone.layers),
            "parameters": int(backbone.count_params()),
            "float32_mb": full["size_mb"], "float16_mb": halved["size_mb"],
            "float32_gzip_mb": full["gzip_mb"], "float16_gzip_mb": halved["gzip_mb"],
            "float16_ratio": halved["size_mb"] / full["size_mb"]}


def _float16_backbone(backbone: keras.Model, arch: str,
                      image_shape: tuple[int, int, int]) -> keras.Model:
    with dtype_policy("float16"):
        half = build_backbone(arch, image_shape, None)
    half.set_weights([np.asarray(value, dtype=np.float16) for value in backbone.get_weights()])
    return half


def model_size_table(archs: list[str], image_shape: tuple[int, int, int],
                     gzip_level: int) -> pd.DataFrame:
    """Paper Table 1: sizes float32 vs float16, layer and parameter counts per model."""
    return pd.DataFrame([unmodified_sizes(arch, image_shape, gzip_level) for arch in archs])

