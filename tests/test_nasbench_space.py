"""The NAS-Bench-101 search space in PyTorch: cells, channel arithmetic, networks, families."""

import numpy as np
import pytest
import torch

from reusebench.data.nasbench.graph import cell_hash
from reusebench.data.nasbench.space import (
    CONV1X1,
    CONV3X3,
    INCEPTION_LIKE,
    INPUT,
    MAXPOOL3X3,
    OPS,
    OUTPUT,
    RESNET_LIKE,
    cell_family,
    pruned_cell,
    random_valid_cell,
    vertex_channels,
)
from reusebench.training.nasbench.network import (
    Cell,
    build_network,
    count_trainable_parameters,
)

# v1 feeds v2 and v3; v2, v3 and v4 feed the output; the input feeds v1, v4 and the output.
SPLIT_MATRIX = np.array([
    [0, 1, 0, 0, 1, 1],
    [0, 0, 1, 1, 0, 0],
    [0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 0],
])
SPLIT_OPS = [INPUT, CONV3X3, CONV1X1, MAXPOOL3X3, CONV3X3, OUTPUT]

# A cell as stored in nasbench_full.tfrecord (hash 00005c14...), which lists 8,555,530
# trainable parameters for the paper-scale network (3 stacks × 3 cells, 128 stem channels).
KNOWN_MATRIX = [[0, 1, 0, 0, 1, 1, 0], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 1],
                [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1],
                [0, 0, 0, 0, 0, 0, 0]]
KNOWN_OPS = [INPUT, CONV3X3, MAXPOOL3X3, CONV3X3, CONV3X3, CONV1X1, OUTPUT]


def chain(op: str) -> tuple[np.ndarray, list[str]]:
    return np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]]), [INPUT, op, OUTPUT]


def test_output_channels_are_split_among_the_vertices_feeding_the_output():
    # 16 = 6 + 5 + 5 (the first gets the remainder); v1 takes the max of what it feeds.
    assert vertex_channels(8, 16, SPLIT_MATRIX) == [8, 6, 6, 5, 5, 16]


def test_cell_modules_follow_the_channel_arithmetic():
    cell = Cell(SPLIT_MATRIX, SPLIT_OPS, in_channels=8, out_channels=16)
    assert cell.ops[0][0].weight.shape == (6, 6, 3, 3)  # v1: conv3x3, 6 channels
    assert cell.ops[1][0].weight.shape == (6, 6, 1, 1)  # v2: conv1x1, 6 channels
    assert cell.ops[3][0].weight.shape == (5, 5, 3, 3)  # v4: conv3x3, 5 channels
    projections = {vertex: module[0].weight.shape for vertex, module in cell.projections.items()}
    assert projections == {"1": (6, 8, 1, 1), "4": (5, 8, 1, 1), "5": (16, 8, 1, 1)}
    # v3 (max-pool) reads v1's 6 channels truncated to its 5.
    assert cell(torch.randn(2, 8, 5, 5)).shape == (2, 16, 5, 5)


def test_paper_scale_parameter_count_matches_nasbench101():
    network = build_network(KNOWN_MATRIX, KNOWN_OPS, n_classes=10)
    assert count_trainable_parameters(network) == 8_555_530
    assert cell_hash(np.array(KNOWN_MATRIX), KNOWN_OPS) == "00005c142e6f48ac74fdcf73e3439874"


@pytest.mark.parametrize("op", OPS)
def test_every_op_builds_forwards_and_backpropagates(op):
    network = build_network(*chain(op), n_classes=4, stem_channels=4, n_stacks=2,
                            cells_per_stack=1)
    logits = network(torch.randn(3, 3, 9, 9))  # odd size: max-pool rounds up, as TF 'same'
    assert logits.shape == (3, 4)
    logits.sum().backward()
    assert all(parameter.grad is not None for parameter in network.parameters())


def test_a_cell_of_input_and_output_only_is_a_projection():
    network = build_network(np.array([[0, 1], [0, 0]]), [INPUT, OUTPUT], n_classes=3,
                            stem_channels=4, n_stacks=1, cells_per_stack=2)
    assert network(torch.randn(2, 3, 8, 8)).shape == (2, 3)


def test_channels_double_between_stacks():
    network = build_network(*chain(CONV3X3), n_classes=5, stem_channels=4, n_stacks=3,
                            cells_per_stack=2)
    assert network.classifier.in_features == 16
    assert network.features(torch.randn(1, 3, 16, 16)).shape == (1, 16, 4, 4)


def test_building_prunes_vertices_off_the_input_output_paths():
    # vertex 2 is fed by the input but feeds nothing: pruned, so no parameters of its own
    dangling = np.array([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]])
    ops = [INPUT, CONV3X3, CONV3X3, OUTPUT]
    sizes = {"n_classes": 3, "stem_channels": 4, "n_stacks": 1, "cells_per_stack": 1}
    pruned = build_network(*chain(CONV3X3), **sizes)
    assert count_trainable_parameters(build_network(dangling, ops, **sizes)) == \
        count_trainable_parameters(pruned)
    matrix, pruned_ops = pruned_cell(dangling, ops)
    assert matrix.tolist() == chain(CONV3X3)[0].tolist() and pruned_ops == chain(CONV3X3)[1]


@pytest.mark.parametrize(("matrix", "ops", "fragment"), [
    ([[0, 0, 0], [0, 0, 1], [0, 0, 0]], [INPUT, CONV3X3, OUTPUT], "not connected"),
    ([[0, 1, 0], [1, 0, 1], [0, 0, 0]], [INPUT, CONV3X3, OUTPUT], "upper-triangular"),
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, "conv5x5", OUTPUT], "unknown ops"),
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [CONV3X3, CONV3X3, OUTPUT], "must start with"),
    (np.triu(np.ones((7, 7), dtype=int), 1), [INPUT, *[CONV1X1] * 5, OUTPUT], "edges"),
    (np.triu(np.ones((8, 8), dtype=int), 1) * np.eye(8, k=1, dtype=int),
     [INPUT, *[CONV1X1] * 6, OUTPUT], "vertices"),
])
def test_invalid_cells_are_rejected(matrix, ops, fragment):
    with pytest.raises(ValueError, match=fragment):
        build_network(matrix, ops, n_classes=2, stem_channels=2, n_stacks=1, cells_per_stack=1)


@pytest.mark.parametrize(("matrix", "family"), [
    ([[0, 1], [0, 0]], RESNET_LIKE),
    ([[0, 1, 1], [0, 0, 1], [0, 0, 0]], RESNET_LIKE),
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], INCEPTION_LIKE),
    (SPLIT_MATRIX, RESNET_LIKE),
    (KNOWN_MATRIX, INCEPTION_LIKE),
])
def test_family_is_set_by_the_input_to_output_edge(matrix, family):
    assert cell_family(matrix) == family


def test_random_cells_are_valid_pruned_and_reproducible():
    cells = [random_valid_cell(np.random.default_rng(seed)) for seed in range(20)]
    again = [random_valid_cell(np.random.default_rng(seed)) for seed in range(20)]
    for (matrix, ops), (matrix_again, ops_again) in zip(cells, again, strict=True):
        assert np.array_equal(matrix, matrix_again) and ops == ops_again
        assert len(ops) <= 7 and matrix.sum() <= 9
        assert ops[0] == INPUT and ops[-1] == OUTPUT and set(ops[1:-1]) <= set(OPS)
        assert pruned_cell(matrix, ops)[0].shape == matrix.shape  # already pruned
    assert len({cell_hash(matrix, ops) for matrix, ops in cells}) > 15
