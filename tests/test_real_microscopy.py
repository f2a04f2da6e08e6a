"""Real microscopy sets for Study A: tiling, random subsets, and Eq. 11's easy side by contrast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from reusebench.core.errors import InputError
from reusebench.data.datasets.build import build_dataset, check_dataset_names
from reusebench.data.microscopy import load_folder, subset_indices, tile_pair
from reusebench.reporting.study_a.tables import (
    easy_and_hard_by_contrast,
    eq11_names,
    resolve_eq11,
    table4,
)

SHARED_MICROSCOPY = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "microscopy"
needs_shared = pytest.mark.skipif(not SHARED_MICROSCOPY.is_dir(),
                                  reason="../shared/data/microscopy is not beside this clone")
# The real tier's settings: lraspp and unet learn on both in 25 epochs within its CPU budget.
# ISBI keeps full resolution (64-pixel tiles): downsampled 2× or 4×, its thin membranes
# defeat lraspp.
NIST_SPEC = {"kind": "folder", "path": str(SHARED_MICROSCOPY / "nist_cells"),
             "modality": "phase contrast", "resize_to": 64, "n_images": 48}
ISBI_SPEC = {"kind": "folder", "path": str(SHARED_MICROSCOPY / "isbi2012_em" / "train"),
             "images": "image", "masks": "label", "modality": "electron microscopy",
             "tile": 64, "n_images": 48}
AUTO = {"easy": "auto", "hard": "auto", "datasets": ["low", "high"]}


def write_pairs(root: Path, shapes: list[tuple[int, int]]) -> Path:
    """PNG pairs p0, p1, ...: image pixel = its index in the image (mod 256), mask = row parity."""
    for index, (height, width) in enumerate(shapes):
        image = (np.arange(height * width) % 256).reshape(height, width).astype(np.uint8)
        mask = np.repeat((np.arange(height) % 2)[:, None], width, axis=1).astype(np.uint8)
        for folder, pixels in (("images", image), ("masks", mask)):
            (root / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(root / folder / f"p{index}.png")
    return root


def folder_spec(root: Path, **options) -> dict:
    return {"kind": "folder", "path": str(root), **options}


# ---------------------------------------------------------------- tiles


def test_tile_pair_cuts_row_by_row_and_drops_the_remainder():
    image = np.arange(7 * 10, dtype=np.float32).reshape(7, 10, 1)
    mask = np.arange(7 * 10).reshape(7, 10)
    tiles = tile_pair(image, mask, 3, Path("x.png"))
    assert len(tiles) == 2 * 3  # 7 rows give 2 whole tiles, 10 columns give 3
    np.testing.assert_array_equal(tiles[1][1], mask[0:3, 3:6])
    np.testing.assert_array_equal(tiles[5][0][..., 0], image[3:6, 6:9, 0])
    assert all(part.shape == (3, 3) for _, part in tiles)


def test_tile_none_keeps_the_pair_whole():
    image, mask = np.zeros((4, 4, 1), np.float32), np.zeros((4, 4), np.int64)
    ((whole_image, whole_mask),) = tile_pair(image, mask, None, Path("x.png"))
    assert whole_image is image and whole_mask is mask


def test_folder_tiles_come_before_the_resize(tmp_path):
    root = write_pairs(tmp_path, [(20, 33), (20, 33)])
    data = build_dataset("cells", folder_spec(root, tile=16, resize_to=8, seed=0))
    assert data.images.shape == (2 * 2, 8, 8, 1)  # 1 × 2 tiles of 16 per image, resized
    assert len(data.train_index) + len(data.test_index) == 4


def test_tile_larger_than_an_image_names_the_config_key(tmp_path):
    root = write_pairs(tmp_path, [(20, 20), (12, 40)])
    with pytest.raises(InputError, match=r"study_a\.datasets\.cells\.tile is 16, larger than "
                                         r"image .*p1\.png \(12x40\)"):
        build_dataset("cells", folder_spec(root, tile=16))


@pytest.mark.parametrize(("option", "value"), [
    ("tile", 0), ("tile", -4), ("tile", 2.5), ("tile", True), ("tile", "64"),
    ("n_images", 1), ("n_images", 0), ("n_images", 10.0),
])
def test_tile_and_n_images_must_be_positive_integers(tmp_path, option, value):
    root = write_pairs(tmp_path, [(8, 8)] * 3)
    with pytest.raises(InputError, match=rf"^study_a\.datasets\.cells\.{option} is "
                                         rf"{value!r}; give an integer"):
        build_dataset("cells", folder_spec(root, **{option: value}))


def test_a_synthetic_entry_is_not_tiled():
    spec = {"kind": "synthetic", "preset": "high_contrast", "n_images": 6, "image_size": 32,
            "tile": 16}
    with pytest.raises(InputError, match=r"study_a\.datasets\.easy\.tile is 16, but a synthetic"):
        build_dataset("easy", spec)


def test_a_synthetic_entry_needs_n_images():
    spec = {"kind": "synthetic", "preset": "high_contrast", "image_size": 32}
    with pytest.raises(InputError, match=r"study_a\.datasets\.easy\.n_images is missing"):
        build_dataset("easy", spec)


# ---------------------------------------------------------------- random subsets


def test_subset_is_sorted_distinct_and_fixed_by_the_seed():
    first, again, other = (subset_indices(30, 12, seed) for seed in (3, 3, 4))
    assert len(first) == len(set(first.tolist())) == 12 and first.dtype == np.int64
    assert (np.diff(first) > 0).all() and first.min() >= 0 and first.max() < 30
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_subset_none_keeps_every_sample():
    np.testing.assert_array_equal(subset_indices(5, None, 0), np.arange(5))


def test_folder_subset_draws_tiles_before_the_split(tmp_path):
    root = write_pairs(tmp_path, [(16, 16)] * 3)  # 3 × 4 tiles of 8
    data = build_dataset("cells", folder_spec(root, tile=8, n_images=5, seed=2))
    assert data.images.shape == (5, 8, 8, 1)
    assert sorted([*data.train_index, *data.test_index]) == list(range(5))
    all_tiles = load_folder(root / "images", root / "masks", 2, "cells", "x", tile=8)
    kept = subset_indices(12, 5, 2)
    np.testing.assert_array_equal(data.images, all_tiles.images[kept])


def test_more_images_than_the_folder_gives_names_the_config_key(tmp_path):
    root = write_pairs(tmp_path, [(16, 16)] * 3)
    with pytest.raises(InputError, match=r"study_a\.datasets\.cells\.n_images is 13, but the "
                                         r"folder gives 12 images \(after tiling\)"):
        build_dataset("cells", folder_spec(root, tile=8, n_images=13))


# ---------------------------------------------------------------- Eq. 11: which set is easy


def table4_of(cv: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"dataset": list(cv), "cv": list(cv.values())})


@pytest.mark.parametrize("names", [["low", "high"], ["high", "low"]])
def test_the_higher_contrast_cv_is_easy_whatever_the_order(names):
    easy, hard, reason = easy_and_hard_by_contrast(table4_of({"low": 0.13, "high": 0.34,
                                                              "other": 9.0}), names)
    assert (easy, hard) == ("high", "low")
    assert "CV 0.340" in reason and "CV 0.130" in reason


@pytest.mark.parametrize(("cv", "complaint"), [
    ({"low": 0.2, "high": 0.2}, r"study_a\.eq11\.datasets lists low and high, whose contrast "
                                r"CVs are equal"),
    ({"low": 0.2}, r"Table 4 needs one finite contrast CV for data set 'high'"),
    ({"low": 0.2, "high": float("nan")}, r"finite contrast CV for data set 'high'"),
])
def test_a_missing_or_tied_contrast_cannot_decide(cv, complaint):
    with pytest.raises(InputError, match=complaint):
        easy_and_hard_by_contrast(table4_of(cv), ["low", "high"])


def test_resolve_eq11_keeps_explicit_names_and_orders_auto_ones():
    measured = table4_of({"low": 0.1, "high": 0.5})
    assert resolve_eq11({"easy": "low", "hard": "high"}, measured)[:2] == ("low", "high")
    assert resolve_eq11(AUTO, measured)[:2] == ("high", "low")


@pytest.mark.parametrize(("eq11", "complaint"), [
    ({"easy": "auto", "hard": "hard"}, r"study_a\.eq11\.easy and hard must be both auto"),
    ({"easy": "auto", "hard": "auto"}, r"study_a\.eq11\.datasets must list two different"),
    ({**AUTO, "datasets": ["low", "low"]}, r"study_a\.eq11\.datasets must list two different"),
    ({**AUTO, "datasets": "low"}, r"study_a\.eq11\.datasets must list two different"),
    ({"easy": "low", "hard": "high", "datasets": ["low", "high"]}, r"study_a\.eq11 needs"),
])
def test_eq11_config_is_explicit_or_fully_auto(eq11, complaint):
    with pytest.raises(InputError, match=complaint):
        eq11_names(eq11)


def test_auto_eq11_data_sets_must_be_configured_and_trained():
    spec = {"kind": "synthetic", "preset": "high_contrast", "n_images": 6, "image_size": 32}
    datasets = {"low": spec, "high": spec}
    check_dataset_names(datasets, ["low", "high"], "low", AUTO, ["random"])
    with pytest.raises(InputError, match=r"study_a\.eq11\.datasets\[1\] names 'high', which "
                                         r"is not one of study_a\.targets"):
        check_dataset_names(datasets, ["low"], "low", AUTO, ["random"])
    with pytest.raises(InputError, match=r"study_a\.eq11\.datasets\[0\] names data set 'low', "
                                         r"which is not a key"):
        check_dataset_names({"high": spec}, ["high"], "high", AUTO, ["random"])


# ---------------------------------------------------------------- the real sets


@needs_shared
def test_the_real_sets_load_at_the_real_tier_settings():
    nist, isbi = build_dataset("nist_cells", NIST_SPEC), build_dataset("isbi_em", ISBI_SPEC)
    for data in (nist, isbi):
        assert data.images.shape == (48, 64, 64, 1) and data.images.dtype == np.float32
        assert data.masks.shape == (48, 64, 64) and set(np.unique(data.masks)) == {0, 1}
        assert (len(data.train_index), len(data.test_index)) == (38, 10)
    assert nist.images.max() > 255  # 16-bit phase contrast kept raw


@needs_shared
def test_on_the_real_sets_the_em_membranes_are_the_easy_side():
    measured = table4([build_dataset("nist_cells", NIST_SPEC),
                       build_dataset("isbi_em", ISBI_SPEC)])
    easy, hard, reason = resolve_eq11({"easy": "auto", "hard": "auto",
                                       "datasets": ["nist_cells", "isbi_em"]}, measured)
    assert (easy, hard) == ("isbi_em", "nist_cells")
    assert reason.startswith("easy = isbi_em (contrast CV 0.3")
