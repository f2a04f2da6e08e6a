"""The NAS-Bench-101 search space (Ying et al. 2019): cells, without PyTorch.

A cell is a DAG given by an upper-triangular 0/1 adjacency matrix over at most 7 vertices
and at most 9 edges; vertex 0 is 'input', the last vertex is 'output' and each interior
vertex applies one of three ops. Inside a cell, tensors flowing into an interior vertex
are summed (the input's after a 1x1 conv-bn-relu projection, other vertices' truncated to
the vertex's channel count); the vertices feeding 'output' are concatenated, and when the
input feeds 'output' directly its projection is added as a residual.

The network built from a cell is PyTorch and lives in
:mod:`reusebench.training.nasbench.network` (the [seg] extra), so the cell arithmetic and the
NAS-Bench-101 reader never import torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reusebench.data.nasbench.graph import InvalidSpecError, prune

INPUT, OUTPUT = "input", "output"
CONV3X3, CONV1X1, MAXPOOL3X3 = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
OPS = (CONV3X3, CONV1X1, MAXPOOL3X3)
MAX_VERTICES, MAX_EDGES = 7, 9
RESNET_LIKE, INCEPTION_LIKE = "resnet-like", "inception-like"
# PyTorch's default. NAS-Bench-101's TF decay of 0.997 (momentum 0.003 here) suits its
# ~17k steps per run; the few hundred steps of a scaled-down run need faster statistics.
BN_MOMENTUM = 0.1
BN_EPSILON = 1e-5


def cell_family(matrix: np.ndarray | Sequence[Sequence[int]]) -> str:
    """'resnet-like' if the input feeds the output directly (a residual), else 'inception-like'."""
    return RESNET_LIKE if np.asarray(matrix)[0, -1] else INCEPTION_LIKE


def spec_problem(matrix: np.ndarray, ops: Sequence[str], max_vertices: int = MAX_VERTICES,
                 max_edges: int = MAX_EDGES) -> str | None:
    """Why ``(matrix, ops)`` is not a NAS-Bench-101 cell as given, or None when it is one."""
    matrix = np.asarray(matrix)
    n_vertices = len(ops)
    if matrix.shape != (n_vertices, n_vertices):
        return f"the matrix is {matrix.shape} but there are {n_vertices} ops"
    if not 2 <= n_vertices <= max_vertices:
        return f"{n_vertices} vertices; a cell has 2 to {max_vertices}"
    if not np.isin(matrix, (0, 1)).all() or np.tril(matrix).any():
        return "the matrix is not a strictly upper-triangular 0/1 matrix"
    if matrix.sum() > max_edges:
        return f"{int(matrix.sum())} edges; a cell has at most {max_edges}"
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        return f"ops must start with '{INPUT}' and end with '{OUTPUT}', got {list(ops)}"
    unknown = sorted(set(ops[1:-1]) - set(OPS))
    return f"unknown ops {unknown}; allowed: {list(OPS)}" if unknown else None


def pruned_cell(matrix: np.ndarray | Sequence[Sequence[int]], ops: Sequence[str],
                max_vertices: int = MAX_VERTICES,
                max_edges: int = MAX_EDGES) -> tuple[np.ndarray, list[str]]:
    """The cell without vertices off every input→output path; ValueError if it is invalid.

    As in NAS-Bench-101, the vertex and edge limits apply to the pruned cell.
    """
    matrix = np.asarray(matrix)
    problem = spec_problem(matrix, ops, max_vertices=len(ops), max_edges=matrix.size)
    if problem is not None:
        raise ValueError(f"invalid NAS-Bench-101 cell: {problem}")
    try:
        pruned_matrix, pruned_ops = prune(matrix, list(ops))
    except InvalidSpecError as error:
        raise ValueError(f"invalid NAS-Bench-101 cell: {error}") from None
    pruned_matrix = np.asarray(pruned_matrix, dtype=np.int64)
    problem = spec_problem(pruned_matrix, pruned_ops, max_vertices, max_edges)
    if problem is not None:
        raise ValueError(f"invalid NAS-Bench-101 cell: {problem}")
    return pruned_matrix, list(pruned_ops)


def random_valid_cell(rng: np.random.Generator, max_vertices: int = MAX_VERTICES,
                      max_edges: int = MAX_EDGES) -> tuple[np.ndarray, list[str]]:
    """A randomly drawn valid cell, pruned: each edge with probability 1/2, ops uniform.

    Draws again until the pruned cell connects input to output within ``max_edges``, as
    NAS-Bench-101's random search does.
    """
    while True:
        matrix = np.triu(rng.integers(0, 2, (max_vertices, max_vertices)), k=1)
        ops = [INPUT, *rng.choice(OPS, max_vertices - 2).tolist(), OUTPUT]
        try:
            return pruned_cell(matrix, ops, max_vertices, max_edges)
        except ValueError:
            continue


def vertex_channels(input_channels: int, output_channels: int, matrix: np.ndarray) -> list[int]:
    """Output channels of every vertex of a pruned cell, as NAS-Bench-101 assigns them.

    The output channels are split as evenly as possible among the vertices feeding
    'output' (the first ones get the remainder); every other interior vertex gets the
    largest channel count among the interior vertices it feeds.
    """
    n_vertices = len(matrix)
    channels = [0] * n_vertices
    channels[0], channels[-1] = input_channels, output_channels
    feeds_output = [bool(matrix[v, -1]) for v in range(n_vertices - 1)]
    n_concatenated = sum(feeds_output[1:])
    if n_concatenated == 0:
        return channels
    share, remainder = divmod(output_channels, n_concatenated)
    for vertex in [v for v in range(1, n_vertices - 1) if feeds_output[v]]:
        channels[vertex] = share + (1 if remainder > 0 else 0)
        remainder -= 1
    for vertex in range(n_vertices - 3, 0, -1):
        if not feeds_output[vertex]:
            channels[vertex] = max(channels[dst] for dst in range(vertex + 1, n_vertices - 1)
                                   if matrix[vertex, dst])
    return channels
