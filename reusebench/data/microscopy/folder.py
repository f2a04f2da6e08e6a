"""Folders of real images: image/mask pairs matched by file stem, tiled, resized, subset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from reusebench.core.errors import InputError
from reusebench.data.microscopy.dataset import SegmentationData, split_indices

IMAGE_SUFFIXES = (".tif", ".tiff", ".png")


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


def require_folder(path: str | Path, dataset_name: str, images: str = "images",
                   masks: str = "masks") -> Path:
    """``path`` when it holds the image and mask folders; otherwise a one-sentence error."""
    path = Path(path)
    if not ((path / images).is_dir() and (path / masks).is_dir()):
        raise InputError(f"Dataset {dataset_name} is not at {path}: put its {images}/ and "
                         f"{masks}/ folders there (see config/paper.yaml).")
    return path
