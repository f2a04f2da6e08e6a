"""A data set as one compressed ``.npz``, the form it travels in between pipeline steps."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from reusebench.core.errors import InputError
from reusebench.core.io import atomic_write
from reusebench.data.microscopy.dataset import SegmentationData, check_dataset

NPZ_KEYS = ("images", "masks", "n_classes", "name", "modality", "train_index", "test_index")


def save_dataset(data: SegmentationData, path: str | Path) -> None:
    """Write ``data`` as one compressed .npz (keys NPZ_KEYS), atomically."""
    path = Path(path)
    check_dataset(data, path)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as stream:  # a file object stops numpy appending ".npz"
            np.savez_compressed(stream, images=data.images, masks=data.masks,
                                n_classes=np.int64(data.n_classes), name=np.str_(data.name),
                                modality=np.str_(data.modality),
                                train_index=data.train_index, test_index=data.test_index)

    atomic_write(path, write)


def load_dataset(path: str | Path) -> SegmentationData:
    """Read and validate a data set written by :func:`save_dataset`."""
    path = Path(path)
    arrays = _read_npz(path)
    if sorted(arrays) != sorted(NPZ_KEYS):
        raise InputError(f"{path} holds the arrays {sorted(arrays)}, expected exactly "
                         f"{sorted(NPZ_KEYS)}.")
    for key in ("n_classes", "name", "modality"):
        if arrays[key].ndim != 0:
            raise InputError(f"{path} has a {key} of shape {arrays[key].shape}, expected a "
                             "single value.")
    kinds = (arrays["n_classes"].dtype.kind, arrays["name"].dtype.kind,
             arrays["modality"].dtype.kind)
    if kinds[0] not in "iu" or kinds[1:] != ("U", "U"):
        raise InputError(f"{path} needs an integer n_classes and a text name and modality.")
    data = SegmentationData(arrays["images"], arrays["masks"], int(arrays["n_classes"]),
                            str(arrays["name"]), str(arrays["modality"]),
                            arrays["train_index"], arrays["test_index"])
    check_dataset(data, path)
    return data


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise InputError(f"Cannot read the data set {path} ({error}).") from None
