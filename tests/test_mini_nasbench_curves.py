"""The mini NAS-Bench-101's per-epoch curves: one curve table beside the records, which it
leaves as they were, and long enough to forecast from its first 5 epochs."""

import time

import pytest

from reusebench.core.curves import read_curves
from reusebench.core.forecast.predict import forecast_table
from reusebench.core.forecast.targets import LOSS_TARGET, read_targets
from reusebench.data.datasets.cifar_like import make_cifar_like
from reusebench.data.nasbench.graph import cell_hash
from reusebench.data.nasbench.space import pruned_cell
from reusebench.training.nasbench import mini
from reusebench.training.nasbench.mini import MiniSettings, train_mini_nasbench, train_runs

TINY = MiniSettings(stem_channels=4, n_stacks=1, cells_per_stack=1, batch_size=16,
                    eval_batch_size=64)
BUDGETS = [2, 8]
REPEATS = 2
SEED = 3


@pytest.fixture(scope="module")
def tiny_data():
    return make_cifar_like(3, 60, 30, seed=0, image_size=8)


@pytest.fixture(scope="module")
def cells():
    return mini.sample_cells(2, seed=0)


@pytest.fixture(scope="module")
def epoch_curves_path(tiny_data, cells, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mini")
    train_mini_nasbench(cells, BUDGETS, REPEATS, tiny_data, TINY, folder / "records.tfrecord",
                        SEED, curves_path=folder / "epoch_curves.csv")
    return folder / "epoch_curves.csv"


def test_every_cell_and_repeat_has_a_valid_curve_over_the_longest_budget(epoch_curves_path,
                                                                         cells):
    curves = read_curves(epoch_curves_path)  # validates the table
    assert curves["run_id"].nunique() == len(cells) * REPEATS
    assert (curves.groupby("run_id")["epoch"].max() == max(BUDGETS)).all()
    assert set(curves["arch"]) == {cell_hash(*pruned_cell(*cell)) for cell in cells}
    assert set(curves["seed"]) == set(range(REPEATS))
    keys = curves[["study", "dataset", "init", "lr", "device"]].drop_duplicates()
    assert keys.to_dict("records") == [{"study": "nasbench", "dataset": "mini",
                                        "init": "random", "lr": TINY.learning_rate,
                                        "device": "cpu"}]
    for column in ("train_loss", "test_loss", "epoch_seconds", "eval_seconds"):
        assert (curves[column] > 0).all(), column
    assert curves["test_accuracy"].between(0, 1).all()


def test_the_curve_meets_the_records_at_halfway_and_at_the_end(tiny_data, cells):
    runs = list(train_runs(cells[:1], [4], 1, tiny_data, TINY, SEED, record_epochs=True))
    (run,) = runs
    curve_accuracy = {point["epoch"]: point["test_accuracy"] for point in run.epoch_curve}
    for evaluation in run.evaluation_data[1:]:
        assert curve_accuracy[evaluation["current_epoch"]] == evaluation["test_accuracy"]


def test_only_the_longest_budget_records_a_curve(tiny_data, cells):
    runs = list(train_runs(cells[:1], [8, 2, 8], 1, tiny_data, TINY, SEED, record_epochs=True))
    assert [len(run.epoch_curve) for run in runs] == [8, 0, 0]
    runs = list(train_runs(cells[:1], [2, 8], 1, tiny_data, TINY, SEED))
    assert [len(run.epoch_curve) for run in runs] == [0, 0]


def test_recording_curves_leaves_the_records_byte_for_byte(tiny_data, cells, tmp_path,
                                                           monkeypatch):
    monkeypatch.setattr(time, "perf_counter", lambda: 0.0)  # the records' times, made equal
    without, with_curves = tmp_path / "without.tfrecord", tmp_path / "with.tfrecord"
    train_mini_nasbench(cells, BUDGETS, 1, tiny_data, TINY, without, SEED)
    train_mini_nasbench(cells, BUDGETS, 1, tiny_data, TINY, with_curves, SEED,
                        curves_path=tmp_path / "curves.csv")
    assert with_curves.read_bytes() == without.read_bytes()


def test_a_failed_curve_write_leaves_neither_file(tiny_data, cells, tmp_path, monkeypatch):
    def fail(curves, path):
        raise OSError("disk full")

    monkeypatch.setattr(mini, "write_curves", fail)
    with pytest.raises(OSError, match="disk full"):
        train_mini_nasbench(cells[:1], [1], 1, tiny_data, TINY, tmp_path / "records.tfrecord",
                            SEED, curves_path=tmp_path / "curves.csv")
    assert list(tmp_path.iterdir()) == []


def test_five_epochs_of_eight_forecast_the_test_loss(epoch_curves_path):
    targets = read_targets([epoch_curves_path])
    table = forecast_table(targets, [5], ["pw", "exp"], 20, seed=0)
    assert set(table["target"]) == {LOSS_TARGET}
    assert (table["horizon"] == max(BUDGETS)).all()
    ok = table[table["status"] == "ok"]
    assert set(ok["run_id"]) == set(targets.runs["run_id"]), table[["run_id", "status"]]
    assert (ok["final"] > 0).all()
