"""Study B data: CIFAR archives (format, md5, offline), npz files, PNGs, splits, scores."""

import dataclasses
import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from test_cifar_like import nearest_class_mean_accuracy

from reusebench.core.errors import InputError
from reusebench.core.task_scores import classification_scores, random_baseline
from reusebench.data import tradeoff_data as tradeoff_data
from reusebench.data.tradeoff_data import (
    fetch_cifar,
    load_labelled_pngs,
    load_npz_dataset,
    prepare_dataset,
    read_cifar_archive,
    split_dataset,
    subsample,
    synthetic_dataset,
    write_dataset,
)

ROOT = Path(__file__).resolve().parents[1]
CIFAR_DIR = ROOT.parent / "shared" / "data" / "cifar"
SUBSET = CIFAR_DIR / "cifar10_subset_train5000_test1000_from_jpeg.npz"
PNGS = CIFAR_DIR / "foolbox_samples"
needs_cifar = pytest.mark.skipif(not SUBSET.is_file() or not PNGS.is_dir(),
                                 reason=f"real CIFAR test data not found at {CIFAR_DIR}")


def _batch(rng, n, label_key):
    return {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            label_key: rng.integers(0, 10, n).tolist()}


def write_fake_cifar10(path: Path) -> None:
    """An archive laid out like cifar-10-python.tar.gz: 5 train batches, test, meta."""
    rng = np.random.default_rng(0)
    members = {f"cifar-10-batches-py/data_batch_{i}": _batch(rng, 4, b"labels")
               for i in range(1, 6)}
    members["cifar-10-batches-py/test_batch"] = _batch(rng, 3, b"labels")
    members["cifar-10-batches-py/batches.meta"] = {
        b"label_names": [f"name{i}".encode() for i in range(10)]}
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            payload = pickle.dumps(content)
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


@pytest.fixture
def fake_archive(tmp_path, monkeypatch):
    """A fake CIFAR-10 archive whose md5 the loader is told to expect."""
    path = tmp_path / "cifar-10-python.tar.gz"
    write_fake_cifar10(path)
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    monkeypatch.setitem(tradeoff_data.CIFAR, "cifar10",
                        dataclasses.replace(tradeoff_data.CIFAR["cifar10"], md5=md5))
    return path


def test_official_archives_and_checksums_are_the_published_ones():
    assert tradeoff_data.CIFAR["cifar10"].url == \
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert tradeoff_data.CIFAR["cifar10"].md5 == "c58f30108f718f92721af3b95e74349a"
    assert tradeoff_data.CIFAR["cifar100"].url == \
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    assert tradeoff_data.CIFAR["cifar100"].md5 == "eb9058c3a382ffc7106e4002c42a8d85"


def test_archive_batches_become_channel_last_images_with_labels(fake_archive):
    data = read_cifar_archive(fake_archive, "cifar10")
    assert data["x_train"].shape == (20, 32, 32, 3) and data["x_train"].dtype == np.uint8
    assert data["x_test"].shape == (3, 32, 32, 3)
    assert data["y_train"].dtype == np.int64 and len(data["y_train"]) == 20
    assert data["class_names"] == [f"name{i}" for i in range(10)]
    with tarfile.open(fake_archive) as tar:
        test = pickle.load(tar.extractfile("cifar-10-batches-py/test_batch"), encoding="bytes")
    row = test[b"data"][1]  # 1024 red, then 1024 green, then 1024 blue values
    np.testing.assert_array_equal(data["x_test"][1, :, :, 0].ravel(), row[:1024])
    np.testing.assert_array_equal(data["x_test"][1, :, :, 2].ravel(), row[2048:])


def test_corrupt_archive_is_rejected_with_one_sentence(tmp_path):
    corrupt = tmp_path / "cifar-10-python.tar.gz"
    corrupt.write_bytes(b"not an archive at all")
    with pytest.raises(InputError) as caught:
        read_cifar_archive(corrupt, "cifar10")
    message = str(caught.value)
    assert str(corrupt) in message and "MD5" in message and "corrupt" in message
    assert len(message.splitlines()) == 1


def test_archive_with_right_checksum_but_wrong_content_is_rejected(tmp_path, monkeypatch):
    path = tmp_path / "cifar-10-python.tar.gz"
    path.write_bytes(b"\x1f\x8b garbage")
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    monkeypatch.setitem(tradeoff_data.CIFAR, "cifar10",
                        dataclasses.replace(tradeoff_data.CIFAR["cifar10"], md5=md5))
    with pytest.raises(InputError, match="is not a readable cifar10 archive"):
        read_cifar_archive(path, "cifar10")


def test_offline_download_says_where_to_put_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    unreachable = dataclasses.replace(tradeoff_data.CIFAR["cifar10"],
                                      url="http://127.0.0.1:9/cifar-10-python.tar.gz")
    monkeypatch.setitem(tradeoff_data.CIFAR, "cifar10", unreachable)
    destination = tmp_path / "resources" / "cifar-10-python.tar.gz"
    with pytest.raises(InputError) as caught:
        fetch_cifar("cifar10", destination)
    assert f"put it at {destination}" in str(caught.value)
    assert not destination.exists()
    assert not [path for path in destination.parent.iterdir()]


def test_a_cached_archive_is_verified_not_downloaded(fake_archive):
    assert fetch_cifar("cifar10", fake_archive) == fake_archive


def test_prepared_real_dataset_is_capped_at_the_limits(fake_archive, tmp_path):
    settings = {"limits": {"n_train": 8, "n_test": None}, "seed": 0}
    data = prepare_dataset("cifar10", settings, fake_archive)
    assert len(data["y_train"]) == 8 and len(data["y_test"]) == 3
    write_dataset(data, tmp_path / "cifar10.npz")
    again = load_npz_dataset(tmp_path / "cifar10.npz")
    np.testing.assert_array_equal(again["x_train"], data["x_train"])
    assert again["class_names"] == data["class_names"]


@pytest.mark.parametrize(("arrays", "fragment"), [
    ({"x_train": np.zeros((4, 8, 8, 3), np.uint8), "y_train": np.zeros(4, int),
      "x_test": np.zeros((2, 8, 8, 3), np.uint8)}, "missing array 'y_test'"),
    ({"x_train": np.zeros((4, 8, 8), np.uint8), "y_train": np.zeros(4, int),
      "x_test": np.zeros((2, 8, 8, 3), np.uint8), "y_test": np.zeros(2, int)},
     "'x_train' must be uint8 images"),
    ({"x_train": np.zeros((4, 8, 8, 3), np.uint8), "y_train": np.zeros(3, int),
      "x_test": np.zeros((2, 8, 8, 3), np.uint8), "y_test": np.zeros(2, int)},
     "'y_train' has 3 labels for 4 images"),
])
def test_bad_npz_datasets_name_the_array(tmp_path, arrays, fragment):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(InputError, match=fragment):
        load_npz_dataset(path)


def test_own_split_is_kept_and_ratios_pool_and_restratify():
    data = synthetic_dataset("synth10", 60, 40, seed=0, image_size=32)
    x_train, y_train, x_test, y_test = split_dataset(data, "own", seed=0)
    assert x_train is data["x_train"] and y_test is data["y_test"]
    x_train, y_train, x_test, y_test = split_dataset(data, "70-30", seed=0)
    assert (len(y_train), len(y_test)) == (70, 30)
    assert np.bincount(y_train).tolist() == [7] * 10
    assert len(x_train) == 70 and len(x_test) == 30


def test_a_split_that_leaves_a_part_empty_is_an_input_error():
    images = np.zeros((5, 32, 32, 3), np.uint8)
    data = {"x_train": images[:3], "y_train": np.array([0, 1, 2]), "x_test": images[3:],
            "y_test": np.array([3, 4])}  # one image per class: all of them go to training
    with pytest.raises(InputError, match="split 70-30 leaves no test images"):
        split_dataset(data, "70-30", seed=0)


def test_synthetic_hundred_classes_are_harder_than_ten_at_cifar_size():
    ten = nearest_class_mean_accuracy(synthetic_dataset("synth10", 256, 256, 0, 32))
    hundred = nearest_class_mean_accuracy(synthetic_dataset("synth100", 256, 256, 0, 32))
    assert ten > hundred + 0.3 and hundred > 0.05


def test_subsample_draws_without_replacement_and_keeps_pairs():
    data = synthetic_dataset("synth10", 50, 20, seed=0, image_size=32)
    small = subsample(data, 10, 5, seed=1)
    assert len(small["y_train"]) == 10 and len(small["y_test"]) == 5
    matches = [np.flatnonzero((data["x_train"] == image).all(axis=(1, 2, 3)))
               for image in small["x_train"]]
    assert len({int(match[0]) for match in matches}) == 10
    assert all(data["y_train"][match[0]] == label
               for match, label in zip(matches, small["y_train"], strict=True))


def test_scores_on_a_known_confusion():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 0])
    scores = classification_scores(y_true, y_pred, 3)
    assert scores["accuracy"] == pytest.approx(3 / 6)
    # precision per class: 1/3, 2/3, 0 (class 2 never predicted); recall: 1/2, 1, 0
    assert scores["precision"] == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)
    assert scores["recall"] == pytest.approx((0.5 + 1 + 0) / 3)
    assert scores["f1"] == pytest.approx((0.4 + 0.8 + 0) / 3)


def test_random_baseline_scores_about_one_over_the_classes():
    labels = np.repeat(np.arange(100), 100)
    data = {"y_test": labels, "class_names": [str(i) for i in range(100)]}
    row = random_baseline(data, "cifar100", seed=0)
    assert row["arch"] == "random" and row["n_classes"] == 100
    for name in ("accuracy", "precision", "recall", "f1"):
        assert row[name] == pytest.approx(0.01, abs=0.004)


@needs_cifar
def test_real_cifar10_subset_loads_balanced_and_resplits():
    data = load_npz_dataset(SUBSET)
    assert data["x_train"].shape == (5000, 32, 32, 3) and data["x_test"].shape == (1000, 32, 32, 3)
    assert np.bincount(data["y_train"]).tolist() == [500] * 10
    assert len(data["class_names"]) == 10
    x_train, y_train, _, y_test = split_dataset(data, "90-10", seed=0)
    assert (len(y_train), len(y_test)) == (5400, 600)
    assert np.bincount(y_test).tolist() == [60] * 10
    assert 60 < x_train.mean() < 200  # natural images, not blank


@needs_cifar
@pytest.mark.parametrize(("prefix", "n_classes"), [("cifar10", 10), ("cifar100", 100)])
def test_real_cifar_pngs_load_with_their_labels(prefix, n_classes):
    images, labels = load_labelled_pngs(PNGS, prefix)
    assert images.shape == (20, 32, 32, 3) and images.dtype == np.uint8
    assert labels.min() >= 0 and labels.max() < n_classes
    if prefix == "cifar10":  # the first CIFAR-10 test labels: cat, ship, ship, airplane
        assert labels[:4].tolist() == [3, 8, 8, 0]
