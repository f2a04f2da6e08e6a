"""Study A data sets from their config entries.

An entry of ``study_a.datasets`` has a ``kind``: ``synthetic`` (generated from a contrast
preset), ``folder`` (images/ and masks/ folders the user provides) or ``a10`` (a folder the
``a10_download`` rule fills from the configured archive). Folder and a10 entries may cut every
pair into tiles (``tile``, the remainder dropped), resize (``resize_to``) and keep a random
subset (``n_images``, drawn with the entry's ``seed``); see
:func:`reusebench.data.microscopy.folder.load_folder`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reusebench.core.errors import InputError
from reusebench.data.microscopy import (
    SegmentationData,
    load_folder,
    preset_dataset,
    require_folder,
)

KINDS = ("synthetic", "folder", "a10")


def build_dataset(name: str, spec: Mapping[str, Any],
                  folder: str | Path | None = None) -> SegmentationData:
    """The data set ``name`` described by its config entry ``spec``.

    ``folder`` (images/ and masks/) overrides ``spec["path"]``: the a10 kind reads the folder
    its download rule filled. For those two kinds ``tile`` and ``n_images`` (integers or None)
    tile the pairs and keep a random subset of them; a synthetic entry has no ``tile``.
    """
    kind = spec.get("kind")
    if kind not in KINDS:
        raise InputError(f"study_a.datasets.{name}.kind is {kind!r}; choose one of "
                         f"{', '.join(KINDS)}.")
    n_classes = int(spec.get("n_classes", 2))
    seed = int(spec.get("seed", 0))
    tile = optional_count(spec, name, "tile", minimum=1)
    n_images = optional_count(spec, name, "n_images", minimum=2)
    if kind == "synthetic":
        if tile is not None:
            raise InputError(f"study_a.datasets.{name}.tile is {tile}, but a synthetic data "
                             "set is not tiled; remove it or set image_size.")
        if n_images is None:
            raise InputError(f"study_a.datasets.{name}.n_images is missing; a synthetic data "
                             "set needs the number of images to generate.")
        return preset_dataset(spec["preset"], name, n_images, int(spec["image_size"]), seed,
                              n_classes=n_classes)
    images, masks = spec.get("images", "images"), spec.get("masks", "masks")
    folder = require_folder(folder if folder is not None else spec["path"], name, images, masks)
    return load_folder(folder / images, folder / masks, n_classes, name,
                       spec.get("modality", "microscopy"), seed=seed,
                       resize_to=spec.get("resize_to"), tile=tile, n_images=n_images,
                       key=f"study_a.datasets.{name}")


def optional_count(spec: Mapping[str, Any], name: str, option: str, minimum: int) -> int | None:
    """``spec[option]`` as an int of at least ``minimum``, or None when absent or null."""
    value = spec.get(option)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"study_a.datasets.{name}.{option} is {value!r}; give an integer of "
                         f"at least {minimum}, or null.")
    return value


def check_dataset_names(datasets: Mapping[str, Any], targets: Sequence[str], source: str,
                        eq11: Mapping[str, Any], inits: Sequence[str]) -> None:
    """Every data set the grid names must be a key of ``study_a.datasets``.

    Eq. 11's data sets (``easy`` and ``hard``, or ``datasets`` when both are ``auto``, see
    :func:`eq11_names`) must also be training targets.
    """
    compared = eq11_names(eq11)
    named = [(f"study_a.targets[{index}]", name) for index, name in enumerate(targets)]
    named += compared
    if "pretrained" in inits:
        named.append(("study_a.pretrain.source", source))
    for key, name in named:
        if name not in datasets:
            raise InputError(f"Configuration key {key} names data set {name!r}, which is not "
                             f"a key of study_a.datasets ({', '.join(sorted(datasets))}).")
    for key, name in compared:
        if name not in targets:
            raise InputError(f"Configuration key {key} names {name!r}, which is not one of "
                             "study_a.targets.")


EQ11_AUTO = "auto"
EQ11_SIDES = ("easy", "hard")


def eq11_names(eq11: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(config key, data set name) of the two data sets ``study_a.eq11`` compares.

    Either ``easy`` and ``hard`` name them, or both are ``auto`` and ``datasets`` lists the
    two, ordered later by contrast (:func:`easy_and_hard_by_contrast`).
    """
    sides = [eq11.get(side) for side in EQ11_SIDES]
    datasets = eq11.get("datasets")
    if EQ11_AUTO not in sides:
        if None in sides or datasets is not None:
            raise InputError("Configuration key study_a.eq11 needs easy and hard naming two "
                             "data sets, or both auto with datasets listing the two, got "
                             f"{dict(eq11)!r}.")
        return [(f"study_a.eq11.{side}", name) for side, name in zip(EQ11_SIDES, sides,
                                                                      strict=True)]
    if sides != [EQ11_AUTO, EQ11_AUTO]:
        raise InputError(f"Configuration keys study_a.eq11.easy and hard must be both auto or "
                         f"both data set names, got {sides[0]!r} and {sides[1]!r}.")
    if (not isinstance(datasets, Sequence) or isinstance(datasets, str) or len(datasets) != 2
            or datasets[0] == datasets[1]):
        raise InputError("Configuration key study_a.eq11.datasets must list two different data "
                         f"sets when easy and hard are auto, got {datasets!r}.")
    return [(f"study_a.eq11.datasets[{index}]", name) for index, name in enumerate(datasets)]
