"""Segmentation data sets of Study A: synthetic microscopy, folders of real images, Table 4.

Every data set, synthetic or real, becomes a :class:`SegmentationData` and travels between
pipeline steps as one ``.npz`` (:func:`save_dataset` / :func:`load_dataset`).

The synthetic images mimic fluorescent cells: ellipses brighter towards their centre on a
background, multiplied by a smooth texture, blurred by an optical point-spread function and
corrupted by shot-like noise. ``contrast`` is the object/background intensity ratio; with
the object density fixed it steers the mean coefficient of variation (Eq. 10). The presets
in :data:`PRESETS` reproduce the two ends of the paper's Table 4 at image size 64
(each measured over 64 images, seeds 0-7):

- ``high_contrast`` (like A10, CV = 1.34): contrast 15, heterogeneity 0.2 → CV 1.28-1.33;
- ``low_contrast`` (like cryoEM, CV = 0.06): contrast 1.09, heterogeneity 1.0 → CV 0.060-0.063;
- ``source`` (pretraining only): contrast 4, heterogeneity 0.5 → CV 0.73-0.74.

The CV barely moves with image size (32 to 256 pixels). A global threshold segments the
high-contrast set almost perfectly (foreground IoU ≈ 0.99) but not the low-contrast one,
whose texture is as strong as its objects (IoU ≈ 0.7).
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import urllib.parse
import zipfile
import zlib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from reusebench.core.errors import InputError
from reusebench.core.io import atomic_write
from reusebench.core.metrics import coefficient_of_variation
from reusebench.data.download import fetch

BACKGROUND = 100.0  # mean background intensity (arbitrary photon units)
OBJECTS_PER_IMAGE = (6, 14)  # uniform range of objects drawn per image
OBJECT_RADIUS = 0.11  # mean long semi-axis, as a fraction of the image size
CENTRE_BRIGHTENING = 0.35  # objects are this much brighter at their centre than at the edge
TEXTURE_AMPLITUDE = 0.04  # relative std of the background texture at heterogeneity 1
TEXTURE_SCALE = 1 / 16  # correlation length of the texture, as a fraction of the image size
NOISE_FRACTION = 0.02  # shot-noise std relative to the background level
PSF_SIGMA = 0.012  # Gaussian blur, as a fraction of the image size
RENDER_CHUNK_PIXELS = 1 << 23  # object × pixel evaluations rendered at once

NPZ_KEYS = ("images", "masks", "n_classes", "name", "modality", "train_index", "test_index")
IMAGE_SUFFIXES = (".tif", ".tiff", ".png")

PRESETS: dict[str, dict[str, Any]] = {
    "high_contrast": {"contrast": 15.0, "heterogeneity": 0.2,
                      "modality": "synthetic fluorescence"},
    "low_contrast": {"contrast": 1.09, "heterogeneity": 1.0,
                     "modality": "synthetic cryo-electron"},
    "source": {"contrast": 4.0, "heterogeneity": 0.5, "modality": "synthetic fluorescence"},
}

# The paper cites the NIST A10 set (Table 4, ref. [17]) by NIST's dissemination page below,
# without a file address; no archive URL or checksum could be verified from it, so
# fetch_a10 takes both from the config.
A10_SOURCE: dict[str, str | None] = {
    "landing_page": "https://isg.nist.gov/deepzoomweb/data/dissemination",
    "description": "NIST fluorescent A10 rat smooth-muscle cells with manual masks",
    "url": None,
    "sha256": None,
}


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


# ---------------------------------------------------------------- synthetic images


def synthetic_microscopy(name: str, n_images: int, image_size: int, n_classes: int,
                         contrast: float, heterogeneity: float, seed: int,
                         modality: str = "synthetic fluorescence",
                         test_fraction: float = 0.2) -> SegmentationData:
    """Fluorescent-cell-like images and masks, deterministic by ``seed``.

    ``contrast`` (> 1) is the ratio of object to background intensity at an object's edge
    (centres are brighter, see CENTRE_BRIGHTENING); ``heterogeneity``
    (0-1) spreads object sizes and the amplitude of the background texture across images.
    Class 0 is background; classes 1..n_classes-1 are object types differing in size,
    elongation and intensity band.
    """
    _check_synthetic_arguments(n_images, image_size, n_classes, contrast, heterogeneity)
    rng_objects, rng_texture, rng_noise = (
        np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(3))
    objects = draw_objects(rng_objects, n_images, n_classes, heterogeneity)
    masks, profile = render_in_chunks(objects, image_size)
    excess = (contrast - 1.0) * object_types(n_classes)[2][masks] * profile
    clean = BACKGROUND * np.where(masks > 0, 1.0 + excess, 1.0)
    clean *= 1.0 + heterogeneity * background_texture(rng_texture, n_images, image_size)
    blurred = ndimage.gaussian_filter(clean, sigma=(0, PSF_SIGMA * image_size,
                                                     PSF_SIGMA * image_size), mode="reflect")
    images = add_shot_noise(rng_noise, blurred)
    train_index, test_index = split_indices(n_images, test_fraction, seed)
    return SegmentationData(images[..., None].astype(np.float32), masks, n_classes, name,
                            modality, train_index, test_index)


def preset_dataset(preset: str, name: str, n_images: int, image_size: int, seed: int,
                   n_classes: int = 2, test_fraction: float = 0.2) -> SegmentationData:
    """:func:`synthetic_microscopy` with the contrast, heterogeneity and modality of a preset."""
    if preset not in PRESETS:
        raise InputError(f"Unknown synthetic preset {preset!r}: choose one of "
                         f"{', '.join(PRESETS)}.")
    return synthetic_microscopy(name, n_images, image_size, n_classes, seed=seed,
                                test_fraction=test_fraction, **PRESETS[preset])


def _check_synthetic_arguments(n_images: int, image_size: int, n_classes: int,
                               contrast: float, heterogeneity: float) -> None:
    if n_images < 2 or image_size < 16 or not 2 <= n_classes <= 16:
        raise InputError(f"Synthetic microscopy needs n_images >= 2, image_size >= 16 and "
                         f"2 <= n_classes <= 16, got {n_images=}, {image_size=}, {n_classes=}.")
    if not contrast > 1.0 or not 0.0 <= heterogeneity <= 1.0:
        raise InputError(f"Synthetic microscopy needs contrast > 1 and heterogeneity in "
                         f"[0, 1], got {contrast=}, {heterogeneity=}.")


@dataclass(frozen=True)
class Objects:
    """Ellipses per image (N×M arrays, M the most objects any image has)."""

    active: np.ndarray
    centre_row: np.ndarray
    centre_column: np.ndarray
    long_axis: np.ndarray
    short_axis: np.ndarray
    angle: np.ndarray
    kind: np.ndarray  # class index 1..n_classes-1

    def images(self, part: slice) -> Objects:
        """The objects of the images in ``part``."""
        return Objects(*(getattr(self, field.name)[part] for field in fields(self)))


def object_types(n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per class (index 0, background, unused): size factor, extra elongation, intensity band.

    A single object type has factor 1, no extra elongation and band 1; several types run
    from large, round and dim (class 1) to small, elongated and bright (last class).
    """
    if n_classes == 2:
        return np.ones(2), np.zeros(2), np.ones(2)
    rank = np.concatenate([[0.0], np.linspace(0.0, 1.0, n_classes - 1)])
    return 1.25 - 0.5 * rank, 1.5 * rank, 0.5 + rank


def draw_objects(rng: np.random.Generator, n_images: int, n_classes: int,
                 heterogeneity: float) -> Objects:
    """Random ellipses in unit coordinates, of random object types (classes)."""
    low, high = OBJECTS_PER_IMAGE
    shape = (n_images, high)
    active = np.arange(high) < rng.integers(low, high + 1, (n_images, 1))
    kind = rng.integers(1, n_classes, shape)
    size_factor, extra_elongation, _ = object_types(n_classes)
    image_scale = np.exp(0.35 * heterogeneity * rng.standard_normal((n_images, 1)))
    object_scale = np.exp(rng.normal(0.0, 0.1 + 0.3 * heterogeneity, shape))
    long_axis = OBJECT_RADIUS * size_factor[kind] * image_scale * object_scale
    elongation = rng.uniform(1.0, 1.6, shape) + extra_elongation[kind]
    return Objects(active, rng.uniform(0.05, 0.95, shape), rng.uniform(0.05, 0.95, shape),
                   long_axis, long_axis / elongation, rng.uniform(0.0, np.pi, shape), kind)


def render_in_chunks(objects: Objects, size: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`render_objects` over groups of images, bounding the N×M×H×W working memory."""
    per_chunk = max(1, RENDER_CHUNK_PIXELS // (objects.kind.shape[1] * size * size))
    parts = [render_objects(objects.images(slice(start, start + per_chunk)), size)
             for start in range(0, len(objects.kind), per_chunk)]
    return np.concatenate([mask for mask, _ in parts]), np.concatenate(
        [profile for _, profile in parts])


def render_objects(objects: Objects, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks (N×H×W int64) and the brightness profile (N×H×W) of the top object.

    Later objects lie on top of earlier ones. The profile, which scales an object's excess
    over the background, falls from 1 + CENTRE_BRIGHTENING at its centre to 1 at its edge.
    """
    coordinate = (np.arange(size, dtype=np.float32) + 0.5) / size
    row, column = coordinate[:, None], coordinate[None, :]

    def per_object(values: np.ndarray) -> np.ndarray:
        return values[:, :, None, None].astype(np.float32)

    d_row, d_column = row - per_object(objects.centre_row), column - per_object(
        objects.centre_column)
    cos, sin = np.cos(per_object(objects.angle)), np.sin(per_object(objects.angle))
    radius_sq = (((d_column * cos + d_row * sin) / per_object(objects.long_axis)) ** 2
                 + ((d_row * cos - d_column * sin) / per_object(objects.short_axis)) ** 2)
    inside = (radius_sq < 1.0) & objects.active[:, :, None, None]
    n_objects = inside.shape[1]
    top = n_objects - 1 - inside[:, ::-1].argmax(axis=1)
    covered = inside.any(axis=1)
    top_kind = np.take_along_axis(objects.kind, top.reshape(len(top), -1), axis=1)
    masks = np.where(covered, top_kind.reshape(top.shape), 0).astype(np.int64)
    top_radius_sq = np.take_along_axis(radius_sq, top[:, None], axis=1)[:, 0]
    return masks, 1.0 + CENTRE_BRIGHTENING * (1.0 - np.minimum(top_radius_sq, 1.0))


def background_texture(rng: np.random.Generator, n_images: int, size: int) -> np.ndarray:
    """Smooth zero-mean texture (N×H×W) whose amplitude varies per image.

    Blurred white noise, scaled to a per-image std of TEXTURE_AMPLITUDE × U(0.5, 1.5), so
    texture strength itself differs across images.
    """
    white = rng.standard_normal((n_images, size, size), dtype=np.float32)
    sigma = TEXTURE_SCALE * size
    smooth = ndimage.gaussian_filter(white, sigma=(0, sigma, sigma), mode="wrap")
    smooth /= smooth.std(axis=(1, 2), keepdims=True)
    amplitude = TEXTURE_AMPLITUDE * rng.uniform(0.5, 1.5, (n_images, 1, 1))
    return amplitude * smooth


def add_shot_noise(rng: np.random.Generator, intensity: np.ndarray) -> np.ndarray:
    """Gaussian approximation of Poisson noise: std grows like the square root of intensity.

    The std is NOISE_FRACTION × BACKGROUND on the background; intensities stay non-negative.
    """
    std = NOISE_FRACTION * np.sqrt(BACKGROUND * intensity)
    return np.maximum(intensity + std * rng.standard_normal(intensity.shape), 0.0)


# ---------------------------------------------------------------- splits and summaries


def split_indices(n_images: int, test_fraction: float,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, disjoint, non-empty train and test indices covering 0..n_images-1."""
    if n_images < 2 or not 0.0 < test_fraction < 1.0:
        raise InputError(f"A train/test split needs at least 2 images and 0 < test_fraction "
                         f"< 1, got {n_images=}, {test_fraction=}.")
    n_test = min(max(round(n_images * test_fraction), 1), n_images - 1)
    order = np.random.default_rng(seed).permutation(n_images).astype(np.int64)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def grey(images: np.ndarray) -> np.ndarray:
    """N×H×W intensities: the channel mean of N×H×W×C images."""
    return images.mean(axis=-1)


def dataset_summary(data: SegmentationData) -> dict[str, Any]:
    """The data set's row of Table 4, with the CV (Eq. 10) over its training images."""
    n_images, height, width = data.masks.shape
    return {
        "dataset": data.name,
        "modality": data.modality,
        "n_classes": int(data.n_classes),
        "mpix": n_images * height * width / 1e6,
        "cv": coefficient_of_variation(grey(data.images[data.train_index])),
        "n_images": int(n_images),
        "n_train": len(data.train_index),
        "n_test": len(data.test_index),
        "image_size": f"{height}x{width}",
    }


# ---------------------------------------------------------------- .npz round trip


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


# ---------------------------------------------------------------- folders of real images


def load_folder(images_dir: str | Path, masks_dir: str | Path, n_classes: int, name: str,
                modality: str, test_fraction: float = 0.2, seed: int = 0,
                resize_to: int | None = None, tile: int | None = None,
                n_images: int | None = None, key: str | None = None) -> SegmentationData:
    """Image/mask pairs matched by file stem (TIFF or PNG, 8/16-bit, grey or RGB).

    Masks hold class indices, or {0, 255} when n_classes is 2 (255 becomes 1); RGB masks
    use their first channel. In order, per pair: ``tile`` cuts it into non-overlapping
    tile × tile pieces from the top-left corner, each a sample of its own, and drops the
    remainder (rows and columns past the last whole tile); ``resize_to`` resizes each sample
    to resize_to × resize_to (bilinear images, nearest masks). Samples must share one size
    unless resized. ``n_images`` then keeps a random subset of that many samples (sorted,
    drawn with ``seed``) before the train/test split, also drawn with ``seed``; tiles of one
    image may land on both sides of the split. ``key`` (such as ``study_a.datasets.x``)
    prefixes the option names in error messages.
    """
    pairs = matched_pairs(Path(images_dir), Path(masks_dir))
    images, masks, sources = [], [], []
    for image_path, mask_path in pairs:
        image, mask = read_image(image_path), read_mask(mask_path, n_classes)
        if image.shape[:2] != mask.shape:
            raise InputError(f"Image {image_path} is {_size(image)} but its mask {mask_path} "
                             f"is {_size(mask)}.")
        for image_part, mask_part in tile_pair(image, mask, tile, image_path, key):
            if resize_to is not None:
                image_part, mask_part = resize_pair(image_part, mask_part, resize_to)
            images.append(image_part)
            masks.append(mask_part)
            sources.append(image_path)
    _check_same_layout(images, sources)
    keep = subset_indices(len(images), n_images, seed, key)
    train_index, test_index = split_indices(len(keep), test_fraction, seed)
    return SegmentationData(np.stack(images)[keep], np.stack(masks)[keep], n_classes, name,
                            modality, train_index, test_index)


def tile_pair(image: np.ndarray, mask: np.ndarray, tile: int | None, path: Path,
              key: str | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Non-overlapping tile × tile pieces of an image and its mask, row by row.

    The rows and columns past the last whole tile are dropped; ``tile`` None keeps the pair
    whole. A tile larger than the image is an error naming ``path`` and the option.
    """
    if tile is None:
        return [(image, mask)]
    height, width = mask.shape
    if tile > min(height, width):
        raise InputError(f"{_option(key, 'tile')} is {tile}, larger than image {path} "
                         f"({_size(mask)}); choose a tile of at most {min(height, width)}.")
    return [(image[row:row + tile, column:column + tile], mask[row:row + tile,
                                                                column:column + tile])
            for row in range(0, height - tile + 1, tile)
            for column in range(0, width - tile + 1, tile)]


def subset_indices(n_samples: int, n_images: int | None, seed: int,
                   key: str | None = None) -> np.ndarray:
    """Sorted indices of ``n_images`` of the samples drawn at random with ``seed`` (None: all)."""
    if n_images is None:
        return np.arange(n_samples, dtype=np.int64)
    if not 2 <= n_images <= n_samples:
        raise InputError(f"{_option(key, 'n_images')} is {n_images}, but the folder gives "
                         f"{n_samples} images (after tiling); choose 2 to {n_samples}.")
    chosen = np.random.default_rng(seed).permutation(n_samples)[:n_images]
    return np.sort(chosen).astype(np.int64)


def _option(key: str | None, option: str) -> str:
    return f"{key}.{option}" if key else option


def matched_pairs(images_dir: Path, masks_dir: Path) -> list[tuple[Path, Path]]:
    """(image, mask) paths sharing a file stem, sorted by stem; every image needs a mask."""
    image_files, mask_files = image_files_by_stem(images_dir), image_files_by_stem(masks_dir)
    if not image_files:
        raise InputError(f"The folder {images_dir} holds no .tif, .tiff or .png images.")
    for stem, image_path in image_files.items():
        if stem not in mask_files:
            raise InputError(f"Image {image_path} has no mask named {stem}.* in {masks_dir}.")
    return [(image_files[stem], mask_files[stem]) for stem in sorted(image_files)]


def image_files_by_stem(folder: Path) -> dict[str, Path]:
    """TIFF/PNG files of ``folder`` keyed by stem; a stem present twice is an error."""
    if not folder.is_dir():
        raise InputError(f"The folder {folder} does not exist.")
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            if path.stem in files:
                raise InputError(f"{folder} holds both {files[path.stem].name} and "
                                 f"{path.name}: keep one file per stem.")
            files[path.stem] = path
    return files


def read_pixels(path: Path) -> np.ndarray:
    """The pixel array of a TIFF or PNG file, squeezed of leading unit dimensions."""
    # imported here so that synthetic data sets need neither package
    try:
        if path.suffix.lower() == ".png":
            from PIL import Image

            with Image.open(path) as picture:
                pixels = np.asarray(picture)
        else:
            import tifffile

            pixels = tifffile.imread(path)
    except Exception as error:  # each reader raises its own exception types
        raise InputError(f"Cannot read the image file {path} ({error}).") from None
    while pixels.ndim > 2 and pixels.shape[0] == 1:
        pixels = pixels[0]
    return pixels


def read_image(path: Path) -> np.ndarray:
    """H×W×C float32 raw intensities (C 1 for grey, 3 for RGB; alpha dropped)."""
    pixels = read_pixels(path)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3 or pixels.shape[-1] not in (1, 3, 4) or pixels.dtype.kind not in "uif":
        raise InputError(f"Image {path} has shape {pixels.shape} and dtype {pixels.dtype}, "
                         "expected a grey or RGB image.")
    pixels = pixels[..., :3] if pixels.shape[-1] == 4 else pixels
    image = pixels.astype(np.float32)
    if not np.isfinite(image).all() or (image < 0).any():
        raise InputError(f"Image {path} has negative or non-finite intensities.")
    return image


def read_mask(path: Path, n_classes: int) -> np.ndarray:
    """H×W int64 class indices; {0, 255} masks become {0, 1} for two classes."""
    pixels = read_pixels(path)
    pixels = pixels[..., 0] if pixels.ndim == 3 else pixels
    if pixels.ndim != 2 or pixels.dtype.kind not in "uib":
        raise InputError(f"Mask {path} has shape {pixels.shape} and dtype {pixels.dtype}, "
                         "expected a 2-D integer image.")
    mask = pixels.astype(np.int64)
    values = np.unique(mask)
    if n_classes == 2 and set(values.tolist()) <= {0, 255}:
        mask[mask == 255] = 1
        values = np.unique(mask)
    outside = values[(values < 0) | (values >= n_classes)]
    if outside.size:
        raise InputError(f"Mask {path} holds values {outside[:5].tolist()} outside the "
                         f"classes 0..{n_classes - 1}.")
    return mask


def resize_pair(image: np.ndarray, mask: np.ndarray,
                size: int) -> tuple[np.ndarray, np.ndarray]:
    """Image (bilinear) and mask (nearest) resized to size × size."""
    height, width = mask.shape
    factors = (size / height, size / width)
    resized_image = ndimage.zoom(image, (*factors, 1), order=1, grid_mode=True,
                                 mode="nearest")
    resized_mask = ndimage.zoom(mask, factors, order=0, grid_mode=True, mode="nearest")
    return np.maximum(resized_image, 0.0).astype(np.float32), resized_mask


def _check_same_layout(images: list[np.ndarray], paths: list[Path]) -> None:
    first = images[0].shape
    for image, path in zip(images, paths, strict=True):
        if image.shape != first:
            raise InputError(f"Image {path} is {_size(image)} with {image.shape[-1]} "
                             f"channel(s) but {paths[0]} is {_size(images[0])} with {first[-1]}: "
                             "give all images one size and channel count, or set resize_to.")


def _size(pixels: np.ndarray) -> str:
    return f"{pixels.shape[0]}x{pixels.shape[1]}"


# ---------------------------------------------------------------- paper data sets


def require_folder(path: str | Path, dataset_name: str, images: str = "images",
                   masks: str = "masks") -> Path:
    """``path`` when it holds the image and mask folders; otherwise a one-sentence error."""
    path = Path(path)
    if not ((path / images).is_dir() and (path / masks).is_dir()):
        raise InputError(f"Dataset {dataset_name} is not at {path}: put its {images}/ and "
                         f"{masks}/ folders there (see config/paper.yaml).")
    return path


def fetch_a10(destination_dir: str | Path, url: str | None, sha256: str | None) -> Path:
    """Download the A10 archive (zip or tar) and unpack it to destination_dir/{images,masks}.

    No archive address or checksum of the NIST A10 set could be verified (see
    :data:`A10_SOURCE`), so both come from the config. Inside the archive, the image and
    mask folders are the directories named ``images`` and ``masks``. A destination that
    already has both folders is returned untouched.
    """
    destination = Path(destination_dir)
    if (destination / "images").is_dir() and (destination / "masks").is_dir():
        return destination
    if not url:
        raise InputError(f"Dataset A10 is not at {destination} and no download url is "
                         "configured: set its url and sha256 or put its images/ and masks/ "
                         "folders there.")
    destination.mkdir(parents=True, exist_ok=True)
    file_name = Path(urllib.parse.urlparse(url).path).name or "a10_archive"
    archive = fetch(url, destination / "archive" / file_name, sha256)
    with tempfile.TemporaryDirectory(dir=destination) as scratch:
        unpack(archive, Path(scratch))
        for folder in ("images", "masks"):
            shutil.move(find_folder(Path(scratch), folder, archive), destination / folder)
    return destination


def unpack(archive: Path, target: Path) -> None:
    """Extract a zip or tar archive into ``target``; a member that would land outside it
    (an absolute path, ``..``, or a link out) is an InputError naming the member."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            for name in bundle.namelist():
                _check_member(archive, name, target)
            bundle.extractall(target)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as bundle:
            for name in bundle.getnames():
                _check_member(archive, name, target)
            try:
                bundle.extractall(target, filter="data")
            except tarfile.FilterError as error:
                member = error.tarinfo.name
                raise InputError(f"{archive}: member {member!r} is not safe to extract "
                                 f"({error}), so the archive is not unpacked.") from None
    else:
        raise InputError(f"{archive} is neither a zip nor a tar archive.")


def _check_member(archive: Path, name: str, target: Path) -> None:
    """InputError when the archive member ``name`` would land outside ``target``."""
    root = target.resolve()
    destination = (root / name).resolve()
    if name.startswith(("/", "\\")) or ".." in Path(name.replace("\\", "/")).parts \
            or not destination.is_relative_to(root):
        raise InputError(f"{archive}: member {name!r} would be extracted outside {target}, so "
                         "the archive is not unpacked.")


def find_folder(root: Path, folder_name: str, archive: Path) -> Path:
    """The single directory called ``folder_name`` (any case) under ``root``."""
    found = [path for path in root.rglob("*")
             if path.is_dir() and path.name.lower() == folder_name]
    if len(found) != 1:
        raise InputError(f"{archive} has {len(found)} folders named {folder_name}/, "
                         "expected exactly one.")
    return found[0]
