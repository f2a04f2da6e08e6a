"""Study A data sets from their config entries, and Table 4 over them.

An entry of ``study_a.datasets`` has a ``kind``: ``synthetic`` (generated from a contrast
preset), ``folder`` (images/ and masks/ folders the user provides) or ``a10`` (a folder the
``a10_download`` rule fills from the configured archive).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from reusebench.datasets.microscopy import (
    SegmentationData,
    dataset_summary,
    load_folder,
    preset_dataset,
    require_folder,
)
from reusebench.errors import InputError

KINDS = ("synthetic", "folder", "a10")
TABLE4_COLUMNS = ("dataset", "modality", "n_classes", "mpix", "cv", "n_images", "n_train",
                  "n_test", "image_size")


def build_dataset(name: str, spec: Mapping[str, Any],
                  folder: str | Path | None = None) -> SegmentationData:
    """The data set ``name`` described by its config entry ``spec``.

    ``folder`` (images/ and masks/) overrides ``spec["path"]``: the a10 kind reads the folder
    its download rule filled.
    """
    kind = spec.get("kind")
    if kind not in KINDS:
        raise InputError(f"study_a.datasets.{name}.kind is {kind!r}; choose one of "
                         f"{', '.join(KINDS)}.")
    n_classes = int(spec.get("n_classes", 2))
    seed = int(spec.get("seed", 0))
    if kind == "synthetic":
        return preset_dataset(spec["preset"], name, int(spec["n_images"]),
                              int(spec["image_size"]), seed, n_classes=n_classes)
    images, masks = spec.get("images", "images"), spec.get("masks", "masks")
    folder = require_folder(folder if folder is not None else spec["path"], name, images, masks)
    return load_folder(folder / images, folder / masks, n_classes, name,
                       spec.get("modality", "microscopy"), seed=seed,
                       resize_to=spec.get("resize_to"))


def check_dataset_names(datasets: Mapping[str, Any], targets: Sequence[str], source: str,
                        eq11: Mapping[str, str], inits: Sequence[str]) -> None:
    """Every data set the grid names must be a key of ``study_a.datasets``."""
    named = [(f"study_a.targets[{index}]", name) for index, name in enumerate(targets)]
    named += [(f"study_a.eq11.{side}", eq11[side]) for side in ("easy", "hard")]
    if "pretrained" in inits:
        named.append(("study_a.pretrain.source", source))
    for key, name in named:
        if name not in datasets:
            raise InputError(f"Configuration key {key} names data set {name!r}, which is not "
                             f"a key of study_a.datasets ({', '.join(sorted(datasets))}).")
    for side in ("easy", "hard"):
        if eq11[side] not in targets:
            raise InputError(f"Configuration key study_a.eq11.{side} names {eq11[side]!r}, "
                             "which is not one of study_a.targets.")


def table4(datasets: Sequence[SegmentationData]) -> pd.DataFrame:
    """Table 4: one summary row per data set (modality, classes, MPix, CV, counts)."""
    rows = [dataset_summary(data) for data in datasets]
    return pd.DataFrame(rows, columns=list(TABLE4_COLUMNS))

