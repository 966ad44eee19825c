"""Zhang et al.'s 64-child space's networks (nas/spaces/zhang64.py is the space): the cell and the
network of identical cells. Imported when a network is built, so the space itself needs no torch."""

from __future__ import annotations

import torch
from torch import nn

from nas.spaces import ops
from nas.spaces.base import Choice


class _PoolBN(nn.Sequential):
    """Max pooling followed by BN without affine parameters (the paper's PoolBN, as its networks build
    every operation: affine=False), so the operation stays parameter-free."""


def edge_modules(choice: Choice, c: int, dim: int, affine: bool, track: bool) -> dict:
    modules = ops.candidate_modules(choice.candidates, c, dim, affine, track)
    if modules.get("max_pool_3x3") is not None:
        modules["max_pool_3x3"] = _PoolBN(modules["max_pool_3x3"], ops.bn(dim, c, False, track))
    return modules


class Cell(nn.Module):
    """One cell: ReLU-1x1 conv-BN from `c_in` to `c`, the 3 edges (one choice module each), the
    concatenation of nodes 1 and 2."""

    def __init__(self, c_in: int, c: int, edges: list[nn.Module], dim: int, affine: bool, track: bool):
        super().__init__()
        self.preprocess = ops.ReLUConvBN(c_in, c, 1, 1, dim, affine, track)
        self.edges = nn.ModuleList(edges)

    def forward(self, x: torch.Tensor, picks) -> torch.Tensor:
        s0 = self.preprocess(x)
        s1 = self.edges[0](s0, picks[0])
        s2 = self.edges[1](s0, picks[1]) + self.edges[2](s1, picks[2])
        return torch.cat([s1, s2], dim=1)


class Network(nn.Module):
    """Stem, `cells` cells, pooling and classifier; `forward(x, arch)` takes the 3 picks of a child (a
    stand-alone network holds its own `arch`)."""

    def __init__(self, channels: int, cells: int, in_channels: int, num_classes: int, dim: int, make_edges,
                 affine: bool = True, track: bool = True, global_dropout: float = 0.0, arch=None,
                 stem_multiplier: int = 3):
        super().__init__()
        self.arch = arch
        self.path_dropout = 0.0  # no drop-path in this space's networks (the paper uses none)
        stem = stem_multiplier * channels
        self.stem = nn.Sequential(ops.conv(dim)(in_channels, stem, 3, padding=1, bias=False), ops.bn(dim, stem, True, track),
                                  ops.conv(dim)(stem, stem, 3, padding=1, bias=False), ops.bn(dim, stem, True, track))
        c_in = stem
        self.cells = nn.ModuleList()
        for _ in range(cells):
            self.cells.append(Cell(c_in, channels, make_edges(channels), dim, affine, track))
            c_in = 2 * channels
        self.dropout = nn.Dropout(global_dropout)
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor, arch=None) -> torch.Tensor:
        arch = self.arch if arch is None else arch
        s = self.stem(x)
        for cell in self.cells:
            s = cell(s, arch)
        return self.classifier(self.dropout(s.flatten(2).mean(-1)))
