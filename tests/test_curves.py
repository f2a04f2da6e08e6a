import numpy as np
import pandas as pd
import pytest

from reusebench.core.curves import (
    COLUMNS,
    curve_matrix,
    read_curves,
    read_many,
    validate_curves,
    write_curves,
)
from reusebench.core.errors import InputError


@pytest.fixture
def two_runs(make_run, make_curves):
    return make_curves(
        make_run([1.0, 0.5, 0.4], [0.9, 0.6, 0.5], seconds=[1.0, 2.0, 3.0]),
        make_run([0.8, 0.3], [0.7, 0.4], arch="fcn", init="coco", lr=0.01, seed=3),
    )


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_write_then_read_round_trips_the_validated_table(two_runs, tmp_path, suffix):
    path = tmp_path / f"curves.{suffix}"
    write_curves(two_runs, path)
    pd.testing.assert_frame_equal(read_curves(path), validate_curves(two_runs, "memory"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temp file left


def test_validated_table_has_contract_columns_in_order_and_unmeasured_columns_as_nan(two_runs):
    table = validate_curves(two_runs, "memory")
    assert tuple(table.columns) == COLUMNS
    assert table["gpu_mem_max_mb"].isna().all()
    first = table[table["arch"] == "unet"]
    assert first["epoch_seconds"].tolist() == [1.0, 2.0, 3.0]


def test_run_id_is_derived_from_the_keys_when_absent(two_runs):
    table = validate_curves(two_runs, "memory")
    assert sorted(set(table["run_id"])) == ["A/a10/fcn/coco/lr0.01/s3/cpu",
                                            "A/a10/unet/random/lr0.001/s0/cpu"]


def test_run_id_given_in_the_file_is_kept(two_runs):
    given = two_runs.assign(run_id=["r1"] * 3 + ["r2"] * 2)
    assert sorted(set(validate_curves(given, "memory")["run_id"])) == ["r1", "r2"]


def test_run_id_shared_by_runs_with_different_keys_is_rejected(two_runs):
    with pytest.raises(InputError, match=r"mem: run same has more than one value .*'arch'"):
        validate_curves(two_runs.assign(run_id="same"), "mem")


def test_interleaved_runs_are_sorted_by_run_and_epoch(make_run):
    unet = make_run([1.0, 0.5, 0.4], [0.9, 0.6, 0.5])
    other = make_run([0.2, 0.1], [0.3, 0.2], arch="aaa")
    interleaved = pd.concat([unet, other]).iloc[[0, 3, 1, 4, 2]]
    table = validate_curves(interleaved, "memory")
    assert table["arch"].tolist() == ["aaa", "aaa", "unet", "unet", "unet"]
    assert table["epoch"].tolist() == [1, 2, 1, 2, 3]


def test_bad_input_raises_input_error_naming_file_run_and_column(bad_csv):
    path, fragments = bad_csv
    with pytest.raises(InputError) as caught:
        read_curves(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message
    assert "np.float64" not in message  # numbers are shown as the user wrote them


def test_missing_file_and_unknown_suffix_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="no such curve file"):
        read_curves(tmp_path / "absent.csv")
    other = tmp_path / "curves.txt"
    other.write_text("x")
    with pytest.raises(InputError, match=r"curves\.txt: .*\.csv or \.parquet"):
        read_curves(other)


def test_seed_must_be_a_whole_number(make_run):
    with pytest.raises(InputError, match=r"'seed'.*whole number"):
        validate_curves(make_run([1.0], [1.0], seed=0.5), "memory")


def test_nan_and_inf_losses_are_accepted_as_a_diverged_run(write_csv):
    path = write_csv(
        "study,dataset,arch,init,lr,seed,device,epoch,train_loss,test_loss\n"
        "A,a10,unet,random,0.001,0,cpu,1,0.9,0.8\n"
        "A,a10,unet,random,0.001,0,cpu,2,inf,nan\n"
        "A,a10,unet,random,0.001,0,cpu,3,,-inf\n")
    table = read_curves(path)
    assert table["train_loss"].tolist()[:2] == [0.9, np.inf]
    assert np.isnan(table["train_loss"].iloc[2])
    assert np.isnan(table["test_loss"].iloc[1])
    assert table["test_loss"].iloc[2] == -np.inf


def test_nan_and_inf_spelled_as_text_are_numbers_not_errors(make_run):
    raw = make_run([1.0] * 5, [0.5] * 5)
    raw["test_loss"] = pd.Series(["0.5", "inf", "NaN", "-Infinity", ""], dtype=object)
    losses = validate_curves(raw, "memory")["test_loss"]
    assert losses.iloc[0] == 0.5 and losses.iloc[1] == np.inf and losses.iloc[3] == -np.inf
    assert losses.iloc[[2, 4]].isna().all()


def test_a_run_may_live_in_one_file_only(two_runs, tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.parquet"
    write_curves(two_runs, first)
    write_curves(two_runs.iloc[:3], second)
    with pytest.raises(InputError, match=r"A/a10/unet/random/lr0\.001/s0/cpu .*more than one"):
        read_many([first, second])
    assert len(read_many([first])) == 5


def test_curve_matrix_pads_shorter_runs_with_invalid_nan(two_runs):
    matrix = curve_matrix(validate_curves(two_runs, "memory"), ["test_loss"])
    # run order follows run_id: the fcn run (2 epochs) sorts before the unet run (3 epochs)
    assert matrix.valid.tolist() == [[True, True, False], [True, True, True]]
    assert matrix.n_epochs.tolist() == [2.0, 3.0]
    np.testing.assert_array_equal(matrix.values["test_loss"],
                                  [[0.7, 0.4, np.nan], [0.9, 0.6, 0.5]])
