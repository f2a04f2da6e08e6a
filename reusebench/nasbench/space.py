"""The NAS-Bench-101 search space (Ying et al. 2019) in PyTorch.

A cell is a DAG given by an upper-triangular 0/1 adjacency matrix over at most 7 vertices
and at most 9 edges; vertex 0 is 'input', the last vertex is 'output' and each interior
vertex applies one of three ops. Inside a cell, tensors flowing into an interior vertex
are summed (the input's after a 1x1 conv-bn-relu projection, other vertices' truncated to
the vertex's channel count); the vertices feeding 'output' are concatenated, and when the
input feeds 'output' directly its projection is added as a residual.

The network: a 3x3 conv-bn-relu stem, then stacks of cells with a 2x2 max-pool and a
doubling of the channels between stacks, global average pooling and a dense layer. The
paper trains 3 stacks × 3 cells with 128 stem channels; the arguments scale it down.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from reusebench.nasbench.graph import InvalidSpecError, prune

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


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """Convolution ('same' padding, no bias) → batch norm → ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels, eps=BN_EPSILON, momentum=BN_MOMENTUM),
        nn.ReLU(),
    )


def vertex_op(op: str, channels: int) -> nn.Module:
    """The module of one interior vertex; its input already has ``channels`` channels."""
    if op == CONV3X3:
        return conv_bn_relu(channels, channels, 3)
    if op == CONV1X1:
        return conv_bn_relu(channels, channels, 1)
    if op == MAXPOOL3X3:
        return nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
    raise ValueError(f"unknown op {op!r}; allowed: {list(OPS)}")


class Cell(nn.Module):
    """One NAS-Bench-101 cell (a pruned, valid spec) mapping in_ to out_channels."""

    def __init__(self, matrix: np.ndarray, ops: Sequence[str], in_channels: int,
                 out_channels: int) -> None:
        super().__init__()
        self.matrix = np.asarray(matrix, dtype=bool)
        self.channels = vertex_channels(in_channels, out_channels, self.matrix)
        interior = range(1, len(ops) - 1)
        self.ops = nn.ModuleList(vertex_op(ops[v], self.channels[v]) for v in interior)
        # Keyed by the vertex the projected input feeds ('output' for the residual).
        self.projections = nn.ModuleDict({
            str(v): conv_bn_relu(in_channels, self.channels[v], 1)
            for v in range(1, len(ops)) if self.matrix[0, v]})

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        last = len(self.matrix) - 1
        values = [inputs]
        for vertex in range(1, last):
            summed = [values[src][:, :self.channels[vertex]] for src in range(1, vertex)
                      if self.matrix[src, vertex]]
            if self.matrix[0, vertex]:
                summed.append(self.projections[str(vertex)](inputs))
            values.append(self.ops[vertex - 1](sum(summed[1:], summed[0])))
        concatenated = [values[v] for v in range(1, last) if self.matrix[v, last]]
        residual = self.projections[str(last)](inputs) if self.matrix[0, last] else None
        if not concatenated:
            return residual
        outputs = torch.cat(concatenated, dim=1) if len(concatenated) > 1 else concatenated[0]
        return outputs if residual is None else outputs + residual


class Network(nn.Module):
    """Stem → stacks of cells (max-pool and channel doubling between stacks) → GAP → dense."""

    def __init__(self, matrix: np.ndarray, ops: Sequence[str], n_classes: int,
                 stem_channels: int, n_stacks: int, cells_per_stack: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn_relu(3, stem_channels, 3)]
        channels = stem_channels
        for stack in range(n_stacks):
            in_channels = channels
            if stack > 0:
                # ceil_mode matches TF's 'same' padding on odd sizes.
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))
                channels *= 2
            for _ in range(cells_per_stack):
                layers.append(Cell(matrix, ops, in_channels, channels))
                in_channels = channels
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, n_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images).mean(dim=(2, 3)))


def build_network(matrix: np.ndarray | Sequence[Sequence[int]], ops: Sequence[str],
                  n_classes: int, stem_channels: int = 128, n_stacks: int = 3,
                  cells_per_stack: int = 3) -> nn.Module:
    """The NAS-Bench-101 network of a cell (pruned first); defaults are the paper's scale."""
    if min(n_classes, stem_channels, n_stacks, cells_per_stack) < 1:
        raise ValueError(f"sizes must be positive: {n_classes=}, {stem_channels=}, "
                         f"{n_stacks=}, {cells_per_stack=}")
    pruned_matrix, pruned_ops = pruned_cell(matrix, ops)
    return Network(pruned_matrix, pruned_ops, n_classes, stem_channels, n_stacks,
                   cells_per_stack)


def count_trainable_parameters(model: nn.Module) -> int:
    """The number of trainable weights (NAS-Bench-101's trainable_parameters)."""
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
