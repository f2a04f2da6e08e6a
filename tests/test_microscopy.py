"""Segmentation data sets of Study A: synthetic presets, folders of real images, Table 4."""

from __future__ import annotations

import hashlib
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from reusebench.core.errors import InputError
from reusebench.data import microscopy
from reusebench.data.microscopy import (
    SegmentationData,
    load_dataset,
    load_folder,
    preset_dataset,
    save_dataset,
    split_indices,
    synthetic_microscopy,
)
from reusebench.reporting.study_a.tables import dataset_summary

SHARED_MICROSCOPY = Path(__file__).resolve().parents[2] / "shared" / "data" / "microscopy"
NIST_CELLS = SHARED_MICROSCOPY / "nist_cells"
ISBI_EM = SHARED_MICROSCOPY / "isbi2012_em"


@pytest.fixture(scope="module")
def high_contrast() -> SegmentationData:
    return preset_dataset("high_contrast", "a10_like", n_images=64, image_size=64, seed=0)


@pytest.fixture(scope="module")
def low_contrast() -> SegmentationData:
    return preset_dataset("low_contrast", "cryoem_like", n_images=64, image_size=64, seed=0)


def assert_same(first: SegmentationData, second: SegmentationData) -> None:
    for field in ("images", "masks", "train_index", "test_index"):
        np.testing.assert_array_equal(getattr(first, field), getattr(second, field))
        assert getattr(first, field).dtype == getattr(second, field).dtype
    assert (first.n_classes, first.name, first.modality) == (
        second.n_classes, second.name, second.modality)


# ---------------------------------------------------------------- synthetic images


def test_synthetic_follows_the_data_set_contract(high_contrast):
    data = high_contrast
    assert data.images.dtype == np.float32 and data.images.shape == (64, 64, 64, 1)
    assert data.masks.dtype == np.int64 and data.masks.shape == (64, 64, 64)
    assert data.images.min() >= 0 and set(np.unique(data.masks)) == {0, 1}
    assert data.train_index.dtype == data.test_index.dtype == np.int64
    assert (len(data.train_index), len(data.test_index)) == (51, 13)
    microscopy.check_dataset(data, "in memory")


def test_synthetic_is_deterministic_by_seed():
    arguments = {"name": "s", "n_images": 6, "image_size": 32, "n_classes": 3,
                 "contrast": 5.0, "heterogeneity": 0.5}
    assert_same(synthetic_microscopy(**arguments, seed=3), synthetic_microscopy(**arguments,
                                                                                 seed=3))
    other = synthetic_microscopy(**arguments, seed=4)
    assert not np.array_equal(synthetic_microscopy(**arguments, seed=3).images, other.images)


@pytest.mark.parametrize(("preset", "paper_cv"), [("high_contrast", 1.3),
                                                  ("low_contrast", 0.06)])
@pytest.mark.parametrize("seed", [0, 1])
def test_presets_hit_the_paper_cv_within_20_percent(preset, paper_cv, seed):
    data = preset_dataset(preset, preset, n_images=64, image_size=64, seed=seed)
    assert dataset_summary(data)["cv"] == pytest.approx(paper_cv, rel=0.2)


def test_contrast_steers_the_cv():
    cvs = [dataset_summary(synthetic_microscopy("s", 16, 64, 2, contrast, 0.5, seed=0))["cv"]
           for contrast in (1.05, 1.5, 3.0, 10.0)]
    assert cvs == sorted(cvs) and cvs[-1] > 10 * cvs[0]


def threshold_iou(data: SegmentationData) -> float:
    """Foreground IoU on the test images of the global threshold best on the train images."""
    intensity, foreground = data.images[..., 0], data.masks > 0

    def iou(threshold: float, index: np.ndarray) -> float:
        predicted, truth = intensity[index] > threshold, foreground[index]
        return (predicted & truth).sum() / (predicted | truth).sum()

    candidates = np.quantile(intensity[data.train_index], np.linspace(0.01, 0.99, 99))
    best = max(candidates, key=lambda threshold: iou(threshold, data.train_index))
    return iou(best, data.test_index)


def test_high_contrast_is_easier_to_segment_than_low_contrast(high_contrast, low_contrast):
    easy, hard = threshold_iou(high_contrast), threshold_iou(low_contrast)
    assert easy > 0.95
    assert hard < 0.85 and easy - hard > 0.15


def test_nine_classes_all_appear():
    data = synthetic_microscopy("infer14_like", 16, 64, 9, contrast=4.0, heterogeneity=0.5,
                                seed=0)
    assert set(np.unique(data.masks)) == set(range(9))
    band_means = [data.images[..., 0][data.masks == k].mean() for k in range(9)]
    assert band_means == sorted(band_means)  # object types differ in intensity band


def test_64_images_of_64_pixels_take_well_under_a_second():
    start = time.perf_counter()
    preset_dataset("source", "source", n_images=64, image_size=64, seed=0)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("arguments", [{"contrast": 1.0}, {"heterogeneity": 1.5},
                                       {"n_classes": 1}, {"n_images": 1}])
def test_synthetic_rejects_bad_arguments(arguments):
    valid = {"name": "s", "n_images": 4, "image_size": 32, "n_classes": 2, "contrast": 2.0,
             "heterogeneity": 0.1, "seed": 0}
    with pytest.raises(InputError, match=next(iter(arguments))):
        synthetic_microscopy(**{**valid, **arguments})


def test_unknown_preset_is_named():
    with pytest.raises(InputError, match="'nope'"):
        preset_dataset("nope", "x", 4, 32, seed=0)


# ---------------------------------------------------------------- splits


@pytest.mark.parametrize("n_images", [2, 3, 5, 10, 64, 101])
@pytest.mark.parametrize("test_fraction", [0.01, 0.2, 0.5, 0.99])
def test_split_indices_are_disjoint_non_empty_and_cover_all(n_images, test_fraction):
    train, test = split_indices(n_images, test_fraction, seed=7)
    assert train.dtype == test.dtype == np.int64
    assert len(train) > 0 and len(test) > 0
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(n_images))
    same_again = split_indices(n_images, test_fraction, seed=7)
    assert np.array_equal(train, same_again[0]) and np.array_equal(test, same_again[1])


def test_split_indices_is_80_20_and_depends_on_the_seed():
    train, test = split_indices(100, 0.2, seed=0)
    assert (len(train), len(test)) == (80, 20)
    assert not np.array_equal(test, split_indices(100, 0.2, seed=1)[1])


@pytest.mark.parametrize(("n_images", "test_fraction"), [(1, 0.2), (10, 0.0), (10, 1.0)])
def test_split_indices_rejects_impossible_splits(n_images, test_fraction):
    with pytest.raises(InputError):
        split_indices(n_images, test_fraction, seed=0)


# ---------------------------------------------------------------- .npz round trip


def test_save_load_round_trip(tmp_path):
    data = synthetic_microscopy("round trip", 5, 32, 4, 3.0, 0.3, seed=2, modality="OF")
    path = tmp_path / "data.npz"
    save_dataset(data, path)
    assert sorted(np.load(path).files) == sorted(microscopy.NPZ_KEYS)
    assert_same(load_dataset(path), data)
    assert [p.name for p in tmp_path.iterdir()] == ["data.npz"]  # no temporary file left


def test_save_dataset_writes_to_a_name_without_npz_suffix(tmp_path):
    data = synthetic_microscopy("x", 3, 16, 2, 3.0, 0.3, seed=0)
    save_dataset(data, tmp_path / "data.bin")
    assert_same(load_dataset(tmp_path / "data.bin"), data)


def test_save_dataset_refuses_data_breaking_the_contract(tmp_path):
    data = synthetic_microscopy("x", 3, 16, 2, 3.0, 0.3, seed=0)
    broken = SegmentationData(data.images.astype(np.float64), data.masks, 2, "x", "m",
                              data.train_index, data.test_index)
    with pytest.raises(InputError, match="float32"):
        save_dataset(broken, tmp_path / "broken.npz")
    assert not (tmp_path / "broken.npz").exists()


def write_npz(path: Path, **changes) -> Path:
    data = synthetic_microscopy("x", 3, 16, 2, 3.0, 0.3, seed=0)
    arrays = {"images": data.images, "masks": data.masks, "n_classes": np.int64(2),
              "name": np.str_("x"), "modality": np.str_("m"),
              "train_index": data.train_index, "test_index": data.test_index}
    np.savez(path, **{**arrays, **changes})
    return path


@pytest.mark.parametrize(("changes", "complaint"), [
    ({"masks": np.zeros((3, 16, 16), dtype=np.int32)}, "int64"),
    ({"images": np.zeros((3, 16, 16, 2), dtype=np.float32)}, "C 1 or 3"),
    ({"images": np.full((3, 16, 16, 1), -1.0, dtype=np.float32)}, "negative"),
    ({"masks": np.full((3, 16, 16), 2, dtype=np.int64)}, "outside 0..1"),
    ({"train_index": np.array([0, 1, 2], dtype=np.int64)}, "repeat"),
    ({"test_index": np.array([], dtype=np.int64)}, "non-empty"),
    ({"n_classes": np.str_("two")}, "integer n_classes"),
    ({"extra": np.zeros(1)}, "expected exactly"),
])
def test_load_dataset_names_the_file_and_the_problem(tmp_path, changes, complaint):
    path = write_npz(tmp_path / "bad.npz", **changes)
    with pytest.raises(InputError, match=complaint) as caught:
        load_dataset(path)
    assert str(path) in str(caught.value)


def test_load_dataset_rejects_a_missing_key(tmp_path):
    path = tmp_path / "missing.npz"
    data = synthetic_microscopy("x", 3, 16, 2, 3.0, 0.3, seed=0)
    np.savez(path, images=data.images, masks=data.masks)
    with pytest.raises(InputError, match="expected exactly") as caught:
        load_dataset(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("content", [b"not an npz at all", b"PK\x03\x04truncated"])
def test_load_dataset_rejects_a_corrupt_file(tmp_path, content):
    path = tmp_path / "corrupt.npz"
    path.write_bytes(content)
    with pytest.raises(InputError, match="Cannot read") as caught:
        load_dataset(path)
    assert str(path) in str(caught.value)


def test_load_dataset_rejects_a_truncated_npz(tmp_path):
    path = write_npz(tmp_path / "whole.npz")
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(InputError, match="Cannot read") as caught:
        load_dataset(path)
    assert str(path) in str(caught.value)


# ---------------------------------------------------------------- Table 4 summary


def test_dataset_summary_on_a_hand_made_data_set():
    # Training images 0 and 1; image 2 is a test image and must not enter the CV.
    # RGB images whose channels are 0.5, 1 and 1.5 × a grey value, so the channel mean is it:
    # image 0: grey 1, 1, 3, 3 → mean 2, std 1 → σ/μ = 0.5
    # image 1: grey 2, 2, 6, 6 → mean 4, std 2 → σ/μ = 0.5
    # image 2: grey 0, 0, 0, 100 → σ/μ = √3 ≈ 1.73, excluded
    # CV = (0.5 + 0.5) / 2 = 0.5; mpix = 3 images × 2 × 2 pixels / 1e6 = 1.2e-5
    grey_values = np.array([[1, 1, 3, 3], [2, 2, 6, 6], [0, 0, 0, 100]], dtype=np.float32)
    channel_scale = np.array([0.5, 1.0, 1.5], dtype=np.float32)
    images = (grey_values[:, :, None] * channel_scale).reshape(3, 2, 2, 3)
    masks = np.array([[0, 1, 1, 0], [0, 0, 1, 1], [1, 1, 1, 1]], dtype=np.int64).reshape(3, 2, 2)
    data = SegmentationData(images, masks, 2, "tiny", "OF", np.array([0, 1]), np.array([2]))
    summary = dataset_summary(data)
    assert summary == {
        "dataset": "tiny", "modality": "OF", "n_classes": 2,
        "mpix": pytest.approx(1.2e-5), "cv": pytest.approx(0.5),
        "n_images": 3, "n_train": 2, "n_test": 1, "image_size": "2x2",
    }


# ---------------------------------------------------------------- folders of real images


@pytest.mark.skipif(not NIST_CELLS.is_dir(), reason=f"real data folder {NIST_CELLS} is absent")
def test_load_folder_reads_the_nist_cells():
    data = load_folder(NIST_CELLS / "images", NIST_CELLS / "masks", n_classes=2,
                       name="nist_cells", modality="OB")
    assert data.images.shape == (100, 256, 256, 1) and data.images.dtype == np.float32
    assert data.masks.shape == (100, 256, 256) and set(np.unique(data.masks)) == {0, 1}
    first = sorted((NIST_CELLS / "images").glob("*.tif"))[0]
    np.testing.assert_array_equal(data.images[0, ..., 0], tifffile.imread(first))
    assert (len(data.train_index), len(data.test_index)) == (80, 20)
    summary = dataset_summary(data)
    assert summary["mpix"] == pytest.approx(100 * 256 * 256 / 1e6)
    assert 0 < summary["cv"] < 2


@pytest.mark.skipif(not ISBI_EM.is_dir(), reason=f"real data folder {ISBI_EM} is absent")
def test_load_folder_reads_the_isbi_em_pngs_and_maps_255_to_1():
    data = load_folder(ISBI_EM / "train" / "image", ISBI_EM / "train" / "label", n_classes=2,
                       name="isbi2012_em", modality="EM", resize_to=128)
    assert data.images.shape == (30, 128, 128, 1) and data.masks.shape == (30, 128, 128)
    assert set(np.unique(data.masks)) == {0, 1}
    assert data.images.min() >= 0 and data.images.max() <= 255


def write_png(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def write_tif(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, pixels)
    return path


def make_folder(root: Path, n_pairs: int = 3, size: int = 8) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    for index in range(n_pairs):
        write_tif(root / "images" / f"p{index}.tif",
                  rng.integers(0, 60000, (size, size), dtype=np.uint16))
        write_png(root / "masks" / f"p{index}.png",
                  np.where(rng.random((size, size)) < 0.5, 255, 0).astype(np.uint8))
    return root / "images", root / "masks"


def test_load_folder_mixes_tiff_and_png_and_16_bit(tmp_path):
    images_dir, masks_dir = make_folder(tmp_path)
    data = load_folder(images_dir, masks_dir, 2, "mixed", "OF", seed=1)
    assert data.images.shape == (3, 8, 8, 1) and data.images.max() > 255
    assert set(np.unique(data.masks)) <= {0, 1}
    assert (len(data.train_index), len(data.test_index)) == (2, 1)


def test_load_folder_reads_rgb_images_and_the_first_channel_of_rgb_masks(tmp_path):
    rgb = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    mask = np.stack([np.eye(4, dtype=np.uint8) * 2, np.full((4, 4), 7, np.uint8),
                     np.zeros((4, 4), np.uint8)], axis=-1)
    for stem in ("a", "b"):
        write_png(tmp_path / "images" / f"{stem}.png", rgb)
        write_png(tmp_path / "masks" / f"{stem}.png", mask)
    data = load_folder(tmp_path / "images", tmp_path / "masks", 3, "rgb", "OB")
    assert data.images.shape == (2, 4, 4, 3)
    np.testing.assert_array_equal(data.images[0], rgb.astype(np.float32))
    np.testing.assert_array_equal(data.masks[1], np.eye(4, dtype=np.int64) * 2)


def test_load_folder_resizes_different_sizes_when_asked(tmp_path):
    write_tif(tmp_path / "images" / "small.tif", np.full((8, 8), 10, np.uint8))
    write_tif(tmp_path / "images" / "large.tif", np.full((16, 12), 20, np.uint8))
    write_tif(tmp_path / "masks" / "small.tif", np.eye(8, dtype=np.uint8))
    write_tif(tmp_path / "masks" / "large.tif", np.ones((16, 12), np.uint8))
    with pytest.raises(InputError, match="resize_to") as caught:
        load_folder(tmp_path / "images", tmp_path / "masks", 2, "sizes", "OF")
    assert "small.tif" in str(caught.value)
    data = load_folder(tmp_path / "images", tmp_path / "masks", 2, "sizes", "OF", resize_to=4)
    assert data.images.shape == (2, 4, 4, 1) and data.masks.shape == (2, 4, 4)
    np.testing.assert_allclose(data.images[0], 20.0)  # "large" sorts first; bilinear of 20s
    np.testing.assert_array_equal(data.masks[0], 1)
    np.testing.assert_array_equal(data.masks[1], np.eye(4, dtype=np.int64))  # nearest


def test_error_missing_mask(tmp_path):
    images_dir, masks_dir = make_folder(tmp_path)
    (masks_dir / "p1.png").unlink()
    with pytest.raises(InputError, match="no mask") as caught:
        load_folder(images_dir, masks_dir, 2, "x", "OF")
    assert "p1.tif" in str(caught.value)


def test_error_image_mask_size_mismatch(tmp_path):
    images_dir, masks_dir = make_folder(tmp_path)
    write_png(masks_dir / "p2.png", np.zeros((8, 9), np.uint8))
    with pytest.raises(InputError, match="8x8 but its mask") as caught:
        load_folder(images_dir, masks_dir, 2, "x", "OF")
    assert "p2.tif" in str(caught.value) and "p2.png" in str(caught.value)


@pytest.mark.parametrize("broken", ["images/p0.tif", "masks/p2.png"])
def test_error_unreadable_file(tmp_path, broken):
    images_dir, masks_dir = make_folder(tmp_path)
    (tmp_path / broken).write_bytes(b"this is not an image")
    with pytest.raises(InputError, match="Cannot read") as caught:
        load_folder(images_dir, masks_dir, 2, "x", "OF")
    assert Path(broken).name in str(caught.value)


def test_error_mask_value_outside_the_classes(tmp_path):
    images_dir, masks_dir = make_folder(tmp_path)
    write_png(masks_dir / "p1.png", np.full((8, 8), 3, np.uint8))
    with pytest.raises(InputError, match=r"\[3\] outside the classes 0\.\.1") as caught:
        load_folder(images_dir, masks_dir, 2, "x", "OF")
    assert "p1.png" in str(caught.value)


def test_255_is_a_class_value_error_unless_two_classes(tmp_path):
    images_dir, masks_dir = make_folder(tmp_path)
    with pytest.raises(InputError, match=r"\[255\] outside") as caught:
        load_folder(images_dir, masks_dir, 3, "x", "OF")
    assert "p0.png" in str(caught.value)


def test_error_empty_folder(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    (tmp_path / "images" / "notes.txt").write_text("no images here")
    with pytest.raises(InputError, match="holds no") as caught:
        load_folder(tmp_path / "images", tmp_path / "masks", 2, "x", "OF")
    assert str(tmp_path / "images") in str(caught.value)


def test_error_missing_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist") as caught:
        load_folder(tmp_path / "nowhere", tmp_path / "masks", 2, "x", "OF")
    assert "nowhere" in str(caught.value)


# ---------------------------------------------------------------- paper data sets


def test_require_folder_explains_where_to_put_a_data_set(tmp_path):
    with pytest.raises(InputError) as caught:
        microscopy.require_folder(tmp_path / "cryoem", "cryoEM")
    assert str(caught.value) == (f"Dataset cryoEM is not at {tmp_path / 'cryoem'}: put its "
                                 "images/ and masks/ folders there (see config/paper.yaml).")
    make_folder(tmp_path / "cryoem")
    assert microscopy.require_folder(tmp_path / "cryoem", "cryoEM") == tmp_path / "cryoem"


def test_a10_source_invents_no_checksum():
    assert microscopy.A10_SOURCE["sha256"] is None and microscopy.A10_SOURCE["url"] is None


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_fetch_a10_downloads_verifies_and_unpacks(tmp_path, kind, http_folder):
    make_folder(tmp_path / "packed" / "A10" / "data")
    archive = tmp_path / f"a10.{kind}"
    members = sorted((tmp_path / "packed").rglob("*"))
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as bundle:
            for member in members:
                bundle.write(member, member.relative_to(tmp_path / "packed"))
    else:
        with tarfile.open(archive, "w:gz") as bundle:
            bundle.add(tmp_path / "packed" / "A10", arcname="A10")
    checksum = hashlib.sha256(archive.read_bytes()).hexdigest()
    destination = microscopy.fetch_a10(tmp_path / "a10", f"{http_folder}/{archive.name}",
                                       checksum)
    assert sorted(p.name for p in (destination / "images").iterdir()) == [
        "p0.tif", "p1.tif", "p2.tif"]
    data = load_folder(destination / "images", destination / "masks", 2, "A10", "OF")
    assert data.images.shape == (3, 8, 8, 1)
    assert microscopy.fetch_a10(tmp_path / "a10", "file:///nowhere.zip", None) == destination


def test_fetch_a10_without_a_url_says_what_to_do(tmp_path):
    with pytest.raises(InputError, match="no download url is configured"):
        microscopy.fetch_a10(tmp_path / "a10", None, None)


def test_fetch_a10_rejects_a_wrong_checksum(tmp_path, http_folder):
    archive = tmp_path / "a10.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("images/a.txt", "x")
    with pytest.raises(InputError, match="SHA-256"):
        microscopy.fetch_a10(tmp_path / "a10", f"{http_folder}/{archive.name}", "0" * 64)
