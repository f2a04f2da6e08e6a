"""A synthetic CIFAR-like image classification set, generated deterministically by seed.

Each class is a prototype image: a smooth random colour field, a few oriented colour
gratings (texture frequencies) and a few soft oriented ellipses (shapes). A sample is its
class prototype shifted, maybe mirrored, with random contrast, brightness and pixel noise.
More classes crowd the same prototype space, so 100 classes are harder than 10 for the
same budget. The sample variation (contrast, brightness, noise) is kept small enough that a
linear head on the pooled features of a frozen, barely trained backbone beats chance on
both 10 and 100 classes (the variation of an earlier version left such heads at chance).
Numpy only, so that code in any framework can reuse it.
"""

from __future__ import annotations

import numpy as np

COARSE_GRID = 4  # resolution of the random colour field before smooth upsampling
N_GRATINGS = 2
N_SHAPES = 2
CONTRAST_RANGE = (0.85, 1.15)
BRIGHTNESS_STD = 0.03  # in units of the full intensity range [0, 1]
NOISE_STD = 0.05
UNIFORM_BYTE_STD = 256.0 / np.sqrt(12.0)  # of integers uniform on 0..255
CHUNK = 4096  # samples rendered at once; bounds the float32 working memory


def make_cifar_like(n_classes: int, n_train: int, n_test: int, seed: int,
                    image_size: int = 32) -> dict:
    """Train and test images (uint8, N×H×W×3), int64 labels and class names.

    Labels are balanced (as in CIFAR) and shuffled. The prototypes depend only on
    ``seed``, ``n_classes`` and ``image_size``; the test set does not depend on ``n_train``.
    """
    if n_classes < 2 or n_train < 0 or n_test < 0 or image_size < 8:
        raise ValueError(f"need n_classes >= 2, n_train/n_test >= 0 and image_size >= 8; got "
                         f"{n_classes=}, {n_train=}, {n_test=}, {image_size=}")
    rng_prototypes, rng_train, rng_test = (
        np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(3))
    prototypes = class_prototypes(rng_prototypes, n_classes, image_size)
    y_train = balanced_labels(rng_train, n_classes, n_train)
    y_test = balanced_labels(rng_test, n_classes, n_test)
    width = len(str(n_classes - 1))
    return {
        "x_train": render_samples(rng_train, prototypes, y_train),
        "y_train": y_train,
        "x_test": render_samples(rng_test, prototypes, y_test),
        "y_test": y_test,
        "class_names": [f"class_{index:0{width}d}" for index in range(n_classes)],
    }


def split(x: np.ndarray, y: np.ndarray, train_fraction: float,
          seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified random re-split into ``(x_first, y_first, x_second, y_second)``.

    Each class puts ``round(train_fraction * its count)`` samples into the first part
    (e.g. 0.5, 0.7 or 0.9 for 50-50, 70-30 and 90-10 splits); both parts stay shuffled.
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must lie strictly between 0 and 1, got {train_fraction}")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)} labels")
    order = np.random.default_rng(seed).permutation(len(y))
    in_first = _first_part_mask(np.asarray(y)[order], train_fraction)
    first, second = order[in_first], order[~in_first]
    return x[first], y[first], x[second], y[second]


def _first_part_mask(labels: np.ndarray, fraction: float) -> np.ndarray:
    """True for the first ``round(fraction * count)`` occurrences of every label."""
    _, class_index, counts = np.unique(labels, return_inverse=True, return_counts=True)
    by_class = np.argsort(class_index, kind="stable")
    class_starts = np.cumsum(counts) - counts
    rank = np.empty(len(labels), dtype=np.int64)
    rank[by_class] = np.arange(len(labels)) - class_starts[class_index[by_class]]
    return rank < np.round(fraction * counts)[class_index]


def balanced_labels(rng: np.random.Generator, n_classes: int, n_samples: int) -> np.ndarray:
    """Shuffled int64 labels with class counts differing by at most one."""
    return rng.permutation(np.arange(n_samples, dtype=np.int64) % n_classes)


def class_prototypes(rng: np.random.Generator, n_classes: int, size: int) -> np.ndarray:
    """One float32 prototype image per class (K×H×W×3, values in [0, 1])."""
    images = 0.6 * smooth_colour_fields(rng, n_classes, size)
    images += 0.5 * oriented_gratings(rng, n_classes, size) + 0.2
    for colour, mask in zip(*soft_ellipses(rng, n_classes, size), strict=True):
        images += mask[..., None] * (colour[:, None, None, :] - images)
    return np.clip(images, 0.0, 1.0).astype(np.float32)


def smooth_colour_fields(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Random coarse colour grids, bilinearly upsampled to size×size (n×H×W×3)."""
    coarse = rng.uniform(0.0, 1.0, (n, COARSE_GRID, COARSE_GRID, 3))
    upsample = _linear_interpolation_matrix(COARSE_GRID, size)
    return np.einsum("hi,nijc,wj->nhwc", upsample, coarse, upsample)


def _linear_interpolation_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Matrix (n_out×n_in) that linearly interpolates n_in samples onto n_out points."""
    position = np.linspace(0.0, n_in - 1, n_out)
    left = np.minimum(position.astype(np.int64), n_in - 2)
    weight_right = position - left
    matrix = np.zeros((n_out, n_in))
    matrix[np.arange(n_out), left] = 1.0 - weight_right
    matrix[np.arange(n_out), left + 1] = weight_right
    return matrix


def _unit_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates in [0, 1), shaped for broadcasting to (..., H, W)."""
    coordinate = np.arange(size) / size
    return coordinate[:, None], coordinate[None, :]


def oriented_gratings(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Sums of coloured sinusoidal gratings, zero-mean, roughly in [-0.5, 0.5] (n×H×W×3)."""
    shape = (n, N_GRATINGS, 1, 1)
    angle = rng.uniform(0.0, np.pi, shape)
    cycles = rng.uniform(1.0, 5.0, shape)  # per image width
    phase = rng.uniform(0.0, 2.0 * np.pi, shape)
    colour = rng.uniform(-1.0, 1.0, (n, N_GRATINGS, 3)) / N_GRATINGS
    row, column = _unit_grid(size)
    along = column * np.cos(angle) + row * np.sin(angle)
    waves = np.sin(2.0 * np.pi * cycles * along + phase)
    return 0.5 * np.einsum("nkhw,nkc->nhwc", waves, colour)


def soft_ellipses(rng: np.random.Generator, n: int,
                  size: int) -> tuple[np.ndarray, np.ndarray]:
    """Colours (N_SHAPES×n×3) and soft masks (N_SHAPES×n×H×W) of randomly oriented ellipses."""
    shape = (N_SHAPES, n, 1, 1)
    centre_row, centre_column = rng.uniform(0.2, 0.8, shape), rng.uniform(0.2, 0.8, shape)
    long_axis, short_axis = rng.uniform(0.12, 0.3, shape), rng.uniform(0.04, 0.12, shape)
    angle = rng.uniform(0.0, np.pi, shape)
    colour = rng.uniform(0.0, 1.0, (N_SHAPES, n, 3))
    row, column = _unit_grid(size)
    d_row, d_column = row - centre_row, column - centre_column
    along = d_column * np.cos(angle) + d_row * np.sin(angle)
    across = d_row * np.cos(angle) - d_column * np.sin(angle)
    radius = (along / long_axis) ** 2 + (across / short_axis) ** 2
    return colour, np.clip(3.0 * (1.0 - radius), 0.0, 1.0)


def render_samples(rng: np.random.Generator, prototypes: np.ndarray,
                   labels: np.ndarray) -> np.ndarray:
    """uint8 images of the labelled prototypes under random shift/flip/contrast/noise."""
    n, size = len(labels), prototypes.shape[1]
    max_shift = max(1, size // 8)
    shifts = rng.integers(-max_shift, max_shift + 1, (n, 2))
    mirrored = rng.random(n) < 0.5
    # Work in units of the uint8 noise: full-range uint8 draws are several times cheaper
    # than floats or narrower integer ranges, and are rescaled in one pass at the end.
    noise_to_intensity = np.float32(255.0 * NOISE_STD / UNIFORM_BYTE_STD)
    scale, bias = _intensity_transforms(rng, prototypes, labels)
    scale /= noise_to_intensity
    bias /= noise_to_intensity
    bias -= 127.5  # the mean of the noise
    flat_pixels = prototypes.reshape(-1, 3)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    for start in range(0, n, CHUNK):
        part = slice(start, start + CHUNK)
        pixel_index = _source_pixels(size, labels[part], shifts[part], mirrored[part])
        moved = np.take(flat_pixels, pixel_index, axis=0)
        moved *= scale[part]
        moved += bias[part]
        moved += rng.integers(0, 256, moved.shape, dtype=np.uint8)
        moved *= noise_to_intensity
        images[part] = np.clip(moved, 0.0, 255.0, out=moved)
    return images


def _intensity_transforms(rng: np.random.Generator, prototypes: np.ndarray,
                          labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample ``scale`` and ``bias`` (float32, n×1×1×1) mapping [0, 1] to [0, 255].

    They apply contrast about the class mean and a brightness offset; they are scalars per
    sample so that numpy broadcasts them over whole images at full speed.
    """
    n = len(labels)
    contrast = rng.uniform(*CONTRAST_RANGE, n)
    offset = rng.normal(0.0, BRIGHTNESS_STD, n)
    class_mean = prototypes.mean(axis=(1, 2, 3))[labels]
    scale = 255.0 * contrast
    bias = 255.0 * ((1.0 - contrast) * class_mean + offset) + 0.5  # +0.5: round on the cast
    as_image = (n, 1, 1, 1)
    return scale.reshape(as_image).astype(np.float32), bias.reshape(as_image).astype(np.float32)


def _source_pixels(size: int, labels: np.ndarray, shifts: np.ndarray,
                   mirrored: np.ndarray) -> np.ndarray:
    """Flat prototype pixel index of every output pixel (n×H×W).

    Each sample is its label's prototype translated by ``shifts`` (edge-padded), then
    mirrored left-right where ``mirrored``.
    """
    pixel = np.arange(size)
    rows = np.clip(pixel[None, :] - shifts[:, :1], 0, size - 1)
    columns = np.clip(pixel[None, :] - shifts[:, 1:], 0, size - 1)
    columns = np.where(mirrored[:, None], size - 1 - columns, columns)
    return (labels[:, None, None] * size + rows[:, :, None]) * size + columns[:, None, :]
