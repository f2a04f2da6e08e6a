"""The NAS-Bench-101 network of a cell in PyTorch (the [seg] extra).

The network: a 3x3 conv-bn-relu stem, then stacks of cells with a 2x2 max-pool and a
doubling of the channels between stacks, global average pooling and a dense layer. The
paper trains 3 stacks × 3 cells with 128 stem channels; the arguments scale it down.
The cells themselves (validity, pruning, channel counts) are in
:mod:`reusebench.data.nasbench.space`, which needs no PyTorch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reusebench.core.extras import require
from reusebench.data.nasbench.space import (
    BN_EPSILON,
    BN_MOMENTUM,
    CONV1X1,
    CONV3X3,
    MAXPOOL3X3,
    OPS,
    pruned_cell,
    vertex_channels,
)

torch = require("seg", "torch")
nn = torch.nn


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
