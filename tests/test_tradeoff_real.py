"""Study B on real images: a data set's file decides npz or archive; pretraining on a data set."""

import contextlib

import numpy as np
import pytest
from test_tradeoff_data import SUBSET, fake_archive  # noqa: F401 (a fixture)

from reusebench.core.errors import InputError
from reusebench.data.tradeoff_data import is_cifar_archive, prepare_dataset
from reusebench.training.keras.backend import configure
from reusebench.training.keras.experiment import (
    PretrainSettings,
    pretrain_backbone,
    pretrain_images,
)
from reusebench.training.keras.models import build_backbone

LIMITS = {"limits": {"n_train": None, "n_test": None}, "seed": 0}
TRAIN_VALUE, TEST_VALUE = 10, 250  # every pixel of a training / test image


def write_marked_npz(path, n_train=12, n_test=6, n_classes=3):
    """A data set whose training images are all 10 and test images all 250."""
    np.savez(path, x_train=np.full((n_train, 32, 32, 3), TRAIN_VALUE, np.uint8),
             y_train=np.arange(n_train) % n_classes,
             x_test=np.full((n_test, 32, 32, 3), TEST_VALUE, np.uint8),
             y_test=np.arange(n_test) % n_classes,
             class_names=np.array([f"c{index}" for index in range(n_classes)]))
    return path


def settings(**changes):
    base = {"n_classes": 20, "n_train": 8, "image_size": 32, "epochs": 1, "batch_size": 4,
            "lr": 1e-3, "seed": 1, "source": "tiny"}
    return PretrainSettings(**{**base, **changes})


def test_a_cifar_data_set_given_as_npz_is_read_as_npz(tmp_path):
    data = prepare_dataset("cifar10", LIMITS, write_marked_npz(tmp_path / "subset.npz"))
    assert data["x_train"].shape == (12, 32, 32, 3) and data["class_names"] == ["c0", "c1", "c2"]
    assert not is_cifar_archive("cifar10", tmp_path / "subset.npz")


def test_a_cifar_data_set_given_as_its_archive_is_read_as_the_archive(fake_archive):  # noqa: F811
    assert is_cifar_archive("cifar10", fake_archive)
    data = prepare_dataset("cifar10", LIMITS, fake_archive)
    assert len(data["y_train"]) == 20 and len(data["y_test"]) == 3


def test_an_archive_for_a_data_set_without_one_is_one_sentence(tmp_path):
    with pytest.raises(InputError, match="only as an official CIFAR archive") as caught:
        prepare_dataset("mine", LIMITS, tmp_path / "mine.tar.gz")
    assert "mine.tar.gz" in str(caught.value) and len(str(caught.value).splitlines()) == 1


def test_pretraining_on_a_data_set_draws_only_its_training_images(tmp_path):
    source = pretrain_images(settings(), write_marked_npz(tmp_path / "tiny.npz"))
    assert source.images.shape == (8, 32, 32, 3) and (source.images == TRAIN_VALUE).all()
    assert source.n_classes == 3 and set(source.labels) <= {0, 1, 2}
    assert "tiny" in source.description and "test images unused" in source.description


def test_pretraining_draws_are_seeded_and_capped_at_the_training_split(tmp_path):
    path = write_marked_npz(tmp_path / "tiny.npz")
    first, again = (pretrain_images(settings(n_train=5), path) for _ in range(2))
    np.testing.assert_array_equal(first.labels, again.labels)
    assert len(pretrain_images(settings(n_train=100), path).labels) == 12


def test_synthetic_pretraining_keeps_its_own_classes():
    source = pretrain_images(settings(source="synthetic", n_train=40, n_classes=4))
    assert source.images.shape == (40, 32, 32, 3) and source.n_classes == 4
    assert "synthetic" in source.description


def test_pretraining_on_a_data_set_without_its_file_is_one_sentence():
    with pytest.raises(InputError, match=r"study_b\.pretrain\.source is 'tiny'"):
        pretrain_images(settings())


def test_a_backbone_pretrained_on_a_data_set_records_it_and_loads(tmp_path):
    with contextlib.suppress(RuntimeError):  # TensorFlow already started in this process
        configure(1, "cpu")
    data_path = write_marked_npz(tmp_path / "tiny.npz")
    lines = []
    summary = pretrain_backbone("efficientnetb0", settings(), 1, tmp_path / "b0.h5",
                                log=lines.append, dataset_path=data_path)
    assert summary["source"] == "tiny" and summary["source_file"] == str(data_path)
    assert summary["images_used"] == 8 and summary["classes_used"] == 3
    assert lines[0].startswith("pretraining efficientnetb0 on 8 of the 12 training images of "
                               "tiny (3 classes")
    assert build_backbone("efficientnetb0", (32, 32, 3), tmp_path / "b0.h5").count_params() > 0


@pytest.mark.skipif(not SUBSET.is_file(), reason=f"real CIFAR-10 subset not found at {SUBSET}")
def test_the_real_cifar10_subset_is_prepared_as_cifar10_from_its_npz():
    data = prepare_dataset("cifar10", {"limits": {"n_train": 3000, "n_test": None}, "seed": 0},
                           SUBSET)
    assert data["x_train"].shape == (3000, 32, 32, 3) and data["x_test"].shape == \
        (1000, 32, 32, 3)
    assert len(data["class_names"]) == 10 and set(np.unique(data["y_test"])) == set(range(10))
