"""The DARTS space's networks (nas/spaces/darts.py is the space): its cell, the network of normal
and reduce cells, and the super-net's candidates. Imported when a network is built, so the space
itself needs no torch."""

from __future__ import annotations

import torch
from torch import nn

from nas.spaces import ops
from nas.spaces.base import Choice


# --- the network -----------------------------------------------------------------------------------

class Cell(nn.Module):
    """One DARTS cell: preprocess both inputs to C channels, then nodes 2..5, each the sum of its input
    edges (one choice module per candidate edge, in the space's EDGES order), concatenated."""

    def __init__(self, c_prev_prev: int, c_prev: int, c: int, reduction: bool, reduction_prev: bool,
                 edges: list[nn.Module], dim: int, affine: bool, track: bool, nodes: tuple[int, ...]):
        super().__init__()
        self.reduction, self.nodes = reduction, nodes
        self.preprocess0 = (ops.FactorizedReduce(c_prev_prev, c, dim, affine, track) if reduction_prev
                            else ops.ReLUConvBN(c_prev_prev, c, 1, 1, dim, affine, track))
        self.preprocess1 = ops.ReLUConvBN(c_prev, c, 1, 1, dim, affine, track)
        self.edges = nn.ModuleList(edges)

    def forward(self, s0, s1, picks, path_dropout: float = 0.0):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        k = 0
        for j in self.nodes:
            total = None
            for i in range(j):
                pick = picks[k]
                out = self.edges[k](states[i], pick)
                k += 1
                if out is None:
                    continue
                identity = pick == "skip_connect" and not (self.reduction and i < 2)
                if self.training and path_dropout > 0 and isinstance(pick, str) and not identity:
                    out = ops.drop_path(out, path_dropout)
                total = out if total is None else total + out
            if total is None:  # nothing flows into node j (only on a super-net path that leaves it unused)
                shape = list(states[1].shape)
                if self.reduction:
                    shape[2:] = [(n + 1) // 2 for n in shape[2:]]
                total = states[1].new_zeros(shape)
            states.append(total)
        return torch.cat(states[2:], dim=1)


class Network(nn.Module):
    """Stem, 3 `cells` + 2 cells (the reduce cells at positions cells and 2 cells + 1: DARTS's
    layers//3 and 2 layers//3 for its 8 and 20 layers), pooling and classifier. `forward(x, arch)` takes
    the picks of an architecture (normal then reduce: one per edge of each cell, the space's 28); a
    stand-alone network holds its own `arch`. `nodes`: the cell's intermediate nodes (the space's)."""

    def __init__(self, channels: int, cells: int, in_channels: int, num_classes: int, dim: int, make_edges,
                 nodes: tuple[int, ...], affine: bool = True, track: bool = True, global_dropout: float = 0.0,
                 arch=None, stem_multiplier: int = 3):
        super().__init__()
        self.arch = arch
        self.edges_per_cell = sum(nodes)  # node j has an edge from each of the j nodes before it
        self.path_dropout = 0.0
        c_curr = stem_multiplier * channels
        self.stem = nn.Sequential(ops.conv(dim)(in_channels, c_curr, 3, padding=1, bias=False),
                                  ops.bn(dim, c_curr, True, track))
        c_prev_prev, c_prev, c = c_curr, c_curr, channels
        reductions = {cells, 2 * cells + 1}
        self.cells = nn.ModuleList()
        reduction_prev = False
        for index in range(3 * cells + 2):
            reduction = index in reductions
            c = 2 * c if reduction else c
            self.cells.append(Cell(c_prev_prev, c_prev, c, reduction, reduction_prev,
                                   make_edges(c, "reduce" if reduction else "normal"), dim, affine, track, nodes))
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, len(nodes) * c
        self.dropout = nn.Dropout(global_dropout)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor, arch=None) -> torch.Tensor:
        arch = self.arch if arch is None else arch
        half = self.edges_per_cell
        normal, reduce = arch[:half], arch[half:]
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, reduce if cell.reduction else normal, self.path_dropout)
        return self.classifier(self.dropout(s1.flatten(2).mean(-1)))


class _PoolBN(nn.Sequential):
    """A pooling candidate of the super-net followed by BN without affine parameters (DARTS's MixedOp)."""


def search_candidates(choice: Choice, c: int, dim: int, stride: int, affine: bool, track: bool) -> dict:
    modules = ops.candidate_modules(choice.candidates, c, dim, affine, track, stride=stride)
    for name in ("max_pool_3x3", "avg_pool_3x3"):
        if modules.get(name) is not None:
            modules[name] = _PoolBN(modules[name], ops.bn(dim, c, False, track))
    return modules
