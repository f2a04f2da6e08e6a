"""The segmentation data set contract: :class:`SegmentationData`, its checks, its split.

Every data set, synthetic or real, becomes a :class:`SegmentationData`; :func:`check_dataset`
is the contract every writer and reader of one enforces.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reusebench.core.errors import InputError


@dataclass(frozen=True, eq=False)
class SegmentationData:
    """Images (N×H×W×C float32, raw, non-negative), masks (N×H×W int64 class indices)."""

    images: np.ndarray
    masks: np.ndarray
    n_classes: int
    name: str
    modality: str
    train_index: np.ndarray
    test_index: np.ndarray


def split_indices(n_images: int, test_fraction: float,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, disjoint, non-empty train and test indices covering 0..n_images-1."""
    if n_images < 2 or not 0.0 < test_fraction < 1.0:
        raise InputError(f"A train/test split needs at least 2 images and 0 < test_fraction "
                         f"< 1, got {n_images=}, {test_fraction=}.")
    n_test = min(max(round(n_images * test_fraction), 1), n_images - 1)
    order = np.random.default_rng(seed).permutation(n_images).astype(np.int64)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def check_dataset(data: SegmentationData, source: str | Path) -> None:
    """Raise InputError naming ``source`` unless ``data`` follows the data set contract."""
    images, masks = data.images, data.masks
    if images.dtype != np.float32 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise InputError(f"{source} has images of dtype {images.dtype} and shape "
                         f"{images.shape}, expected float32 N×H×W×C with C 1 or 3.")
    if masks.dtype != np.int64 or masks.shape != images.shape[:3]:
        raise InputError(f"{source} has masks of dtype {masks.dtype} and shape {masks.shape}, "
                         f"expected int64 {images.shape[:3]}.")
    if not np.isfinite(images).all() or (images < 0).any():
        raise InputError(f"{source} has negative or non-finite image intensities.")
    in_range = masks.size == 0 or 0 <= masks.min() <= masks.max() < data.n_classes
    if data.n_classes < 2 or not in_range:
        raise InputError(f"{source} has mask values outside 0..{data.n_classes - 1} "
                         f"(n_classes = {data.n_classes}, at least 2).")
    _check_split(data.train_index, data.test_index, len(images), source)


def _check_split(train_index: np.ndarray, test_index: np.ndarray, n_images: int,
                 source: str | Path) -> None:
    for index in (train_index, test_index):
        if index.dtype != np.int64 or index.ndim != 1 or index.size == 0:
            raise InputError(f"{source} needs non-empty 1-D int64 train_index and "
                             f"test_index, got {index.dtype} of shape {index.shape}.")
    both = np.concatenate([train_index, test_index])
    if both.min() < 0 or both.max() >= n_images or len(np.unique(both)) != len(both):
        raise InputError(f"{source} has train/test indices that repeat or fall outside "
                         f"0..{n_images - 1}.")
