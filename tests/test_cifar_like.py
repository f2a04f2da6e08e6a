"""The synthetic CIFAR-like set: determinism, shapes, difficulty and stratified re-splits."""


import numpy as np
import pytest

from reusebench.core.evidence import above_chance
from reusebench.data.datasets.cifar_like import make_cifar_like, split

ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def nearest_class_mean_accuracy(data: dict) -> float:
    """Test accuracy of classifying by the nearest per-class mean training image."""
    x_train = data["x_train"].reshape(len(data["y_train"]), -1).astype(np.float32)
    x_test = data["x_test"].reshape(len(data["y_test"]), -1).astype(np.float32)
    n_classes = len(data["class_names"])
    means = np.stack([x_train[data["y_train"] == label].mean(axis=0)
                      for label in range(n_classes)])
    distances = (means ** 2).sum(axis=1)[None, :] - 2.0 * x_test @ means.T
    return float((distances.argmin(axis=1) == data["y_test"]).mean())


def test_same_seed_same_data_and_other_seed_other_data():
    first, again = make_cifar_like(10, 200, 50, seed=3), make_cifar_like(10, 200, 50, seed=3)
    other = make_cifar_like(10, 200, 50, seed=4)
    for name in ARRAYS:
        np.testing.assert_array_equal(first[name], again[name])
    assert not np.array_equal(first["x_train"], other["x_train"])


def test_shapes_dtypes_balanced_labels_and_names():
    data = make_cifar_like(7, 140, 35, seed=0, image_size=16)
    assert data["x_train"].shape == (140, 16, 16, 3) and data["x_train"].dtype == np.uint8
    assert data["x_test"].shape == (35, 16, 16, 3)
    assert data["y_train"].dtype == np.int64 and data["y_test"].dtype == np.int64
    assert np.bincount(data["y_train"]).tolist() == [20] * 7
    assert np.bincount(data["y_test"]).tolist() == [5] * 7
    assert data["class_names"] == [f"class_{index}" for index in range(7)]
    assert 60 < data["x_train"].mean() < 200 and data["x_train"].std() > 20


def test_test_set_does_not_depend_on_the_train_size():
    small, large = make_cifar_like(10, 100, 40, seed=1), make_cifar_like(10, 300, 40, seed=1)
    np.testing.assert_array_equal(small["x_test"], large["x_test"])


def test_a_hundred_classes_are_harder_than_ten():
    ten = nearest_class_mean_accuracy(make_cifar_like(10, 2000, 1000, seed=1, image_size=16))
    hundred = nearest_class_mean_accuracy(make_cifar_like(100, 2000, 1000, seed=1,
                                                          image_size=16))
    assert 0.5 < ten < 1.0  # learnable, yet not perfectly
    assert hundred < ten - 0.1
    assert hundred > 0.1  # still far above chance (0.01)


@pytest.mark.parametrize("n_classes", [10, 100])
def test_the_default_sets_are_learnable_far_above_chance(n_classes):
    # config/config.yaml: 800 training and 500 test images of 32×32
    data = make_cifar_like(n_classes, 800, 500, seed=0)
    accuracy = nearest_class_mean_accuracy(data)
    correct = round(accuracy * 500)
    assert above_chance(correct, 500, n_classes) < 1e-6
    assert accuracy < 1.0  # not perfectly separable either


@pytest.mark.parametrize("fraction", [0.5, 0.7, 0.9])
def test_split_is_stratified_disjoint_and_complete(fraction):
    labels = np.repeat(np.arange(10), 20)
    ids = np.arange(len(labels))
    ids_first, y_first, ids_second, y_second = split(ids, labels, fraction, seed=0)
    assert np.bincount(y_first).tolist() == [round(20 * fraction)] * 10
    assert np.bincount(y_second).tolist() == [20 - round(20 * fraction)] * 10
    assert sorted([*ids_first, *ids_second]) == ids.tolist()
    np.testing.assert_array_equal(labels[ids_first], y_first)
    np.testing.assert_array_equal(labels[ids_second], y_second)


def test_split_is_deterministic_by_seed_and_shuffled():
    labels = np.repeat(np.arange(4), 25)
    ids = np.arange(100)
    first = split(ids, labels, 0.7, seed=5)
    again = split(ids, labels, 0.7, seed=5)
    other = split(ids, labels, 0.7, seed=6)
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[0], other[0])
    assert not np.all(np.diff(first[1]) >= 0)  # classes are mixed, not sorted


@pytest.mark.parametrize("arguments", [(1, 10, 10, 0), (10, -1, 10, 0), (10, 10, 10, 0, 4)])
def test_bad_sizes_are_rejected(arguments):
    with pytest.raises(ValueError):
        make_cifar_like(*arguments)


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5])
def test_bad_split_fractions_are_rejected(fraction):
    with pytest.raises(ValueError, match="train_fraction"):
        split(np.arange(10), np.zeros(10, dtype=np.int64), fraction, seed=0)
