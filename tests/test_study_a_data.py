"""Study A data sets from config entries (synthetic, folder) and Table 4."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reusebench.core.errors import InputError
from reusebench.data.datasets.build import build_dataset, check_dataset_names
from reusebench.reporting.study_a.tables import table4
from reusebench.training.seg.train import train_run

SHARED_MICROSCOPY = Path(__file__).resolve().parents[2] / "shared" / "data" / "microscopy"
needs_shared = pytest.mark.skipif(not SHARED_MICROSCOPY.is_dir(),
                                  reason="../shared/data/microscopy is not beside this clone")
EASY = {"kind": "synthetic", "preset": "high_contrast", "n_images": 6, "image_size": 32}
HARD = {"kind": "synthetic", "preset": "low_contrast", "n_images": 6, "image_size": 32}


def test_synthetic_entries_build_the_named_presets():
    easy, hard = build_dataset("easy", EASY), build_dataset("hard", HARD)
    assert (easy.name, hard.name) == ("easy", "hard")
    assert easy.images.shape == (6, 32, 32, 1)
    rows = table4([easy, hard]).set_index("dataset")
    assert rows.loc["easy", "cv"] > 10 * rows.loc["hard", "cv"]
    assert rows.loc["easy", "n_train"] + rows.loc["easy", "n_test"] == 6


def test_table4_has_one_row_per_data_set_with_the_paper_columns():
    table = table4([build_dataset("easy", EASY)])
    assert list(table.columns) == ["dataset", "modality", "n_classes", "mpix", "cv",
                                   "n_images", "n_train", "n_test", "image_size"]
    assert table.loc[0, "mpix"] == pytest.approx(6 * 32 * 32 / 1e6)


def test_unknown_kind_is_named():
    with pytest.raises(InputError, match=r"study_a\.datasets\.x\.kind is 'zarr'"):
        build_dataset("x", {"kind": "zarr"})


def test_missing_folder_says_where_to_put_the_files(tmp_path):
    with pytest.raises(InputError, match=r"Dataset cryoem is not at .*cryoem: put its images/"):
        build_dataset("cryoem", {"kind": "folder", "path": str(tmp_path / "cryoem")})


@pytest.mark.parametrize(("targets", "source", "eq11", "key"), [
    (["easy", "nope"], "source", {"easy": "easy", "hard": "hard"}, "study_a.targets[1]"),
    (["easy", "hard"], "gone", {"easy": "easy", "hard": "hard"}, "study_a.pretrain.source"),
    (["easy", "hard"], "source", {"easy": "easy", "hard": "x"}, "study_a.eq11.hard"),
])
def test_grid_names_must_be_configured_data_sets(targets, source, eq11, key):
    datasets = {"easy": EASY, "hard": HARD, "source": EASY}
    with pytest.raises(InputError, match=key.replace("[", r"\[").replace(".", r"\.")):
        check_dataset_names(datasets, targets, source, eq11, ["random", "pretrained"])


def test_eq11_data_sets_must_be_trained():
    datasets = {"easy": EASY, "hard": HARD}
    with pytest.raises(InputError, match=r"study_a\.eq11\.hard names 'hard', which is not one"):
        check_dataset_names(datasets, ["easy"], "easy", {"easy": "easy", "hard": "hard"},
                            ["random"])


def test_pretrain_source_is_only_needed_with_the_pretrained_init():
    check_dataset_names({"easy": EASY, "hard": HARD}, ["easy", "hard"], "absent",
                        {"easy": "easy", "hard": "hard"}, ["random"])


@needs_shared
def test_two_epochs_on_the_nist_cells_through_the_folder_loader(tmp_path):
    spec = {"kind": "folder", "path": str(SHARED_MICROSCOPY / "nist_cells"), "n_classes": 2,
            "modality": "phase contrast", "resize_to": 64}
    data = build_dataset("nist_cells", spec)
    assert data.images.shape == (100, 64, 64, 1) and set(np.unique(data.masks)) == {0, 1}
    curves = train_run(data, "lraspp", 1e-3, "random", 0, "cpu", 2, 16, tmp_path,
                       log=lambda line: None)
    assert curves["epoch"].tolist() == [1, 2]
    assert np.isfinite(curves["test_loss"]).all()
    assert (tmp_path / "checkpoint.pt").is_file()


@needs_shared
def test_folder_entries_name_their_image_and_mask_folders():
    spec = {"kind": "folder", "path": str(SHARED_MICROSCOPY / "isbi2012_em" / "train"),
            "images": "image", "masks": "label", "resize_to": 32}
    data = build_dataset("isbi", spec)
    assert data.images.shape == (30, 32, 32, 1)
    assert set(np.unique(data.masks)) == {0, 1}
