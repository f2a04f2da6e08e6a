"""The mini NAS-Bench-101: cell sampling, training runs and the NAS-Bench-101 record round trip."""

import numpy as np
import pytest
import torch

from reusebench.data.datasets.cifar_like import make_cifar_like
from reusebench.data.nasbench.graph import cell_hash
from reusebench.data.nasbench.records import read_nasbench
from reusebench.data.nasbench.space import (
    CONV1X1,
    CONV3X3,
    INCEPTION_LIKE,
    INPUT,
    MAXPOOL3X3,
    OUTPUT,
    RESNET_LIKE,
    cell_family,
)
from reusebench.training.nasbench.mini import (
    MiniSettings,
    sample_cells,
    train_mini_nasbench,
    train_runs,
    write_runs,
)
from reusebench.training.nasbench.network import (
    build_network,
    count_trainable_parameters,
)

TINY = MiniSettings(stem_channels=4, n_stacks=1, cells_per_stack=1, batch_size=16,
                    eval_batch_size=64)
RESNET_CELL = (np.array([[0, 1, 1, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]),
               [INPUT, CONV3X3, MAXPOOL3X3, OUTPUT])
INCEPTION_CELL = (np.array([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]),
                  [INPUT, CONV1X1, CONV3X3, OUTPUT])
ACCURACIES = ("train_accuracy", "validation_accuracy", "test_accuracy")


@pytest.fixture(scope="module")
def tiny_data():
    return make_cifar_like(3, 60, 30, seed=0, image_size=8)


def accuracies(run):
    return [[evaluation[name] for name in ACCURACIES] for evaluation in run.evaluation_data]


def test_sampled_cells_hold_both_families_with_distinct_hashes():
    cells = sample_cells(6, seed=0)
    families = [cell_family(matrix) for matrix, _ in cells]
    assert families.count(RESNET_LIKE) == 3 and families.count(INCEPTION_LIKE) == 3
    assert len({cell_hash(matrix, ops) for matrix, ops in cells}) == 6
    again = sample_cells(6, seed=0)
    assert all(np.array_equal(a[0], b[0]) and a[1] == b[1]
               for a, b in zip(cells, again, strict=True))
    families = [cell_family(matrix) for matrix, _ in sample_cells(4, seed=1)]
    assert families.count(RESNET_LIKE) == 2 and families.count(INCEPTION_LIKE) == 2


def test_fewer_than_two_cells_are_rejected():
    with pytest.raises(ValueError, match="at least 2"):
        sample_cells(1, seed=0)


def test_a_run_evaluates_at_init_halfway_and_end(tiny_data):
    (run,) = train_runs([RESNET_CELL], [4], 1, tiny_data, TINY, seed=0)
    epochs = [evaluation["current_epoch"] for evaluation in run.evaluation_data]
    times = [evaluation["training_time"] for evaluation in run.evaluation_data]
    assert epochs == [0.0, 2.0, 4.0]
    assert times[0] == 0.0 and 0.0 < times[1] < times[2] <= run.total_time
    assert all(0.0 <= value <= 1.0 for row in accuracies(run) for value in row)
    network = build_network(*RESNET_CELL, n_classes=3, stem_channels=4, n_stacks=1,
                            cells_per_stack=1)
    assert run.trainable_parameters == count_trainable_parameters(network)
    assert run.module_hash == cell_hash(*RESNET_CELL)


def test_a_one_epoch_budget_repeats_the_final_evaluation_as_halfway(tiny_data):
    (run,) = train_runs([INCEPTION_CELL], [1], 1, tiny_data, TINY, seed=0)
    assert run.evaluation_data[1] == run.evaluation_data[2]
    assert run.evaluation_data[2]["current_epoch"] == 1.0


def test_runs_are_deterministic_and_restore_torch_settings(tiny_data):
    threads = torch.get_num_threads()
    rng_state = torch.get_rng_state()
    first = list(train_runs([INCEPTION_CELL], [2], 2, tiny_data, TINY, seed=7))
    again = list(train_runs([INCEPTION_CELL], [2], 2, tiny_data, TINY, seed=7))
    assert [accuracies(run) for run in first] == [accuracies(run) for run in again]
    assert [run.repeat for run in first] == [0, 1]
    assert torch.get_num_threads() == threads
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.equal(torch.get_rng_state(), rng_state)


def test_bad_budgets_are_rejected_before_training(tiny_data):
    with pytest.raises(ValueError, match="budgets"):
        train_runs([RESNET_CELL], [0], 1, tiny_data, TINY, seed=0)


def test_records_round_trip_through_the_nasbench_reader(tiny_data, tmp_path):
    runs = list(train_runs([RESNET_CELL], [2], 1, tiny_data, TINY, seed=0))
    path = tmp_path / "mini.tfrecord"
    assert write_runs(runs, path) == 1
    (row,) = read_nasbench([path]).to_dict("records")
    run = runs[0]
    assert row["hash_verified"]
    assert row["module_hash"] == cell_hash(*RESNET_CELL) == run.module_hash
    assert row["epochs"] == 2
    assert row["trainable_parameters"] == run.trainable_parameters
    for stage, evaluation in (("halfway", run.evaluation_data[1]),
                              ("final", run.evaluation_data[2])):
        for name in ("training_time", *ACCURACIES):
            assert row[f"{stage}_{name}"] == evaluation[name], (stage, name)


def test_train_mini_nasbench_writes_one_record_per_cell_budget_and_repeat(tiny_data, tmp_path):
    path = tmp_path / "records.tfrecord"
    cells = [RESNET_CELL, INCEPTION_CELL]
    count = train_mini_nasbench(cells, [1, 2], 2, tiny_data, TINY, path, seed=3)
    table = read_nasbench([path])
    assert count == len(table) == 2 * 2 * 2
    assert table["hash_verified"].all()
    assert sorted(table["module_hash"].unique()) == sorted(cell_hash(*cell) for cell in cells)
    runs = list(train_runs(cells, [1, 2], 2, tiny_data, TINY, seed=3))
    expected = sorted((run.module_hash, run.epochs, run.evaluation_data[2]["test_accuracy"])
                      for run in runs)
    written = sorted(zip(table["module_hash"], table["epochs"], table["final_test_accuracy"],
                         strict=True))
    assert written == expected
