"""Study B data: CIFAR-10/100 archives, npz files, labelled PNGs, the synthetic set, splits.

A dataset is a dict of ``x_train``, ``x_test`` (uint8, N×H×W×3), ``y_train``, ``y_test``
(int64) and ``class_names``, written as one ``.npz`` by the workflow. No TensorFlow here.
"""

from __future__ import annotations

import pickle
import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reusebench.core.errors import InputError
from reusebench.core.io import atomic_write
from reusebench.core.tradeoff_runs import SYNTHETIC_CLASSES, parse_split
from reusebench.data.datasets.cifar_like import make_cifar_like, split
from reusebench.data.download import fetch, verify

ARRAYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class CifarArchive:
    """An official CIFAR python archive (Krizhevsky 2009; md5 as published on its page)."""

    url: str
    md5: str
    folder: str  # top folder inside the archive
    train: tuple[str, ...]
    test: str
    meta: str
    label_key: bytes
    names_key: bytes

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


CIFAR = {
    "cifar10": CifarArchive(
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a", "cifar-10-batches-py",
        tuple(f"data_batch_{index}" for index in range(1, 6)), "test_batch", "batches.meta",
        b"labels", b"label_names"),
    "cifar100": CifarArchive(
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85", "cifar-100-python", ("train",), "test", "meta",
        b"fine_labels", b"fine_label_names"),
}


def fetch_cifar(name: str, destination: str | Path) -> Path:
    """The official archive of ``name`` at ``destination``, downloaded and md5-checked."""
    archive = CIFAR[name]
    return fetch(archive.url, destination, md5=archive.md5)


def read_cifar_archive(path: str | Path, name: str) -> dict:
    """Train and test arrays of an official CIFAR-10/100 python archive (.tar.gz).

    The archive is checked against its published md5 first, so the pickles inside are the
    official ones; a corrupt or foreign file raises InputError naming it.
    """
    archive, path = CIFAR[name], Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such CIFAR archive; fetch {archive.url} and put it there.")
    verify(path, None, md5=archive.md5)
    try:
        with tarfile.open(path, "r:gz") as tar:
            train = [_read_batch(tar, f"{archive.folder}/{member}", archive)
                     for member in archive.train]
            x_test, y_test = _read_batch(tar, f"{archive.folder}/{archive.test}", archive)
            meta = _unpickle(tar, f"{archive.folder}/{archive.meta}")
    except (tarfile.TarError, OSError, KeyError, EOFError, pickle.UnpicklingError,
            ValueError) as error:
        raise InputError(f"{path} is not a readable {name} archive ({error}).") from None
    return {
        "x_train": np.concatenate([x for x, _ in train]),
        "y_train": np.concatenate([y for _, y in train]),
        "x_test": x_test,
        "y_test": y_test,
        "class_names": [label.decode() for label in meta[archive.names_key]],
    }


def _unpickle(tar: tarfile.TarFile, member: str) -> dict:
    stream = tar.extractfile(member)
    if stream is None:
        raise KeyError(member)
    return pickle.load(stream, encoding="bytes")


def _read_batch(tar: tarfile.TarFile, member: str,
                archive: CifarArchive) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(tar, member)
    rows = np.asarray(batch[b"data"], dtype=np.uint8)
    images = rows.reshape(len(rows), 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), np.asarray(batch[archive.label_key], dtype=np.int64)


def load_npz_dataset(path: str | Path) -> dict:
    """A dataset stored as npz (x_train, y_train, x_test, y_test, optional class_names)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such dataset file.")
    try:
        with np.load(path, allow_pickle=False) as stored:
            missing = [key for key in ARRAYS if key not in stored.files]
            if missing:
                raise InputError(f"{path}: missing array '{missing[0]}' (needs "
                                 f"{', '.join(ARRAYS)}).")
            data = {key: stored[key] for key in ARRAYS}
            names = stored["class_names"] if "class_names" in stored.files else None
    except InputError:
        raise
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot be read as an npz dataset ({error}).") from None
    data["class_names"] = _class_names(names, data)
    return check_dataset(data, str(path))


def _class_names(names: np.ndarray | None, data: dict) -> list[str]:
    if names is not None:
        return [str(name) for name in names]
    n_classes = int(max(data["y_train"].max(initial=0), data["y_test"].max(initial=0))) + 1
    return [f"class_{index}" for index in range(n_classes)]


def check_dataset(data: dict, source: str) -> dict:
    """Check shapes and label ranges; return the arrays as uint8 images and int64 labels."""
    for part in ("train", "test"):
        images, labels = np.asarray(data[f"x_{part}"]), np.asarray(data[f"y_{part}"])
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise InputError(f"{source}: 'x_{part}' must be uint8 images N×H×W×3, got "
                             f"{images.dtype} {images.shape}.")
        labels = labels.reshape(-1)
        if len(labels) != len(images) or len(labels) == 0:
            raise InputError(f"{source}: 'y_{part}' has {len(labels)} labels for "
                             f"{len(images)} images.")
        if labels.dtype.kind not in "iu" or labels.min() < 0 \
                or labels.max() >= len(data["class_names"]):
            raise InputError(f"{source}: 'y_{part}' must hold class indices 0.."
                             f"{len(data['class_names']) - 1}.")
        data[f"x_{part}"], data[f"y_{part}"] = images, labels.astype(np.int64)
    if data["x_train"].shape[1:] != data["x_test"].shape[1:]:
        raise InputError(f"{source}: train and test images differ in size.")
    return data


_PNG_NAME = re.compile(r"^(?P<prefix>.+)_(?P<index>\d+)_(?P<label>\d+)\.png$")


def load_labelled_pngs(folder: str | Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``{prefix}_{index}_{label}.png`` of a folder, by index, with their labels."""
    from PIL import Image

    found = []
    for path in Path(folder).glob(f"{prefix}_*.png"):
        match = _PNG_NAME.match(path.name)
        if match and match["prefix"] == prefix:
            found.append((int(match["index"]), int(match["label"]), path))
    if not found:
        raise InputError(f"{folder}: no images named {prefix}_<index>_<label>.png.")
    found.sort()
    images = [np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)
              for _, _, path in found]
    return np.stack(images), np.array([label for _, label, _ in found], dtype=np.int64)


def synthetic_dataset(name: str, n_train: int, n_test: int, seed: int,
                      image_size: int) -> dict:
    """The synthetic CIFAR-like set of ``synth10`` / ``synth100`` (10 or 100 classes)."""
    data = make_cifar_like(SYNTHETIC_CLASSES[name], n_train, n_test, seed, image_size)
    return check_dataset(data, name)


def subsample(data: dict, n_train: int | None, n_test: int | None, seed: int) -> dict:
    """At most ``n_train`` / ``n_test`` images of each part, drawn at random by ``seed``."""
    rng = np.random.default_rng(seed)
    result = dict(data)
    for part, limit in (("train", n_train), ("test", n_test)):
        count = len(data[f"y_{part}"])
        if limit is not None and limit < count:
            keep = np.sort(rng.choice(count, size=limit, replace=False))
            result[f"x_{part}"] = data[f"x_{part}"][keep]
            result[f"y_{part}"] = data[f"y_{part}"][keep]
    return result


ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")


def is_cifar_archive(name: str, source: str | Path) -> bool:
    """True when ``source`` is read as the official CIFAR archive of ``name``, False when
    as an npz: chosen by the file's name (``.tar.gz``/``.tgz`` or not), so a CIFAR data set
    may also come as an npz (such as a subset of CIFAR-10)."""
    if not Path(source).name.lower().endswith(ARCHIVE_SUFFIXES):
        return False
    if name not in CIFAR:
        raise InputError(f"{source}: a .tar.gz file is read only as an official CIFAR archive "
                         f"({', '.join(CIFAR)}), not as data set {name!r}; give an npz.")
    return True


def load_source(name: str, source: str | Path) -> dict:
    """All images of the data set ``name`` from its file: a CIFAR archive or an npz."""
    return read_cifar_archive(source, name) if is_cifar_archive(name, source) \
        else load_npz_dataset(source)


def prepare_dataset(name: str, settings: Mapping, source: str | Path | None) -> dict:
    """The dataset ``name`` from its source: synthetic settings, a CIFAR archive or an npz
    (by the file, :func:`is_cifar_archive`), capped at ``settings['limits']``."""
    if name in SYNTHETIC_CLASSES:
        synthetic = settings["synthetic"]
        return synthetic_dataset(name, synthetic["n_train"], synthetic["n_test"],
                                 synthetic["seed"], synthetic["image_size"])
    if source is None:
        raise InputError(f"dataset {name!r} needs a source file.")
    data = load_source(name, source)
    limits = settings["limits"]
    return subsample(data, limits["n_train"], limits["n_test"], settings["seed"])


def write_dataset(data: dict, path: str | Path) -> None:
    """Write a dataset as one npz, atomically."""
    arrays = {key: data[key] for key in ARRAYS}
    arrays["class_names"] = np.asarray(data["class_names"], dtype=str)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as stream:
            np.savez(stream, **arrays)

    atomic_write(path, write)


def split_dataset(data: dict, split_name: str,
                  seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)`` for a split: ``own``, or pooled and re-split.

    A ratio such as ``70-30`` pools train and test and puts 70 % of every class into the
    training part (stratified, shuffled by ``seed``), as the paper's Table 3.
    """
    fraction = parse_split(split_name)
    if fraction is None:
        return data["x_train"], data["y_train"], data["x_test"], data["y_test"]
    x = np.concatenate([data["x_train"], data["x_test"]])
    y = np.concatenate([data["y_train"], data["y_test"]])
    parts = split(x, y, fraction, seed)
    for part, labels in (("training", parts[1]), ("test", parts[3])):
        if len(labels) == 0:
            raise InputError(f"split {split_name} leaves no {part} images: the data set has "
                             "too few images per class.")
    return parts
