"""NAS-Bench-201's networks (nas/spaces/nb201.py is the space): the edge-wise cell, the node-wise
super-net cell (operation on node) and the network around them, for 1-D signals or 2-D images. The
space passes in its graph (nodes, operations, the node-wise mapping), so this module does not import it.
Imported when a network is built, so the space itself needs no torch."""

from __future__ import annotations

import torch
from torch import nn

from nas.spaces.ops import PathChoice, ResidualReduction, bn, candidate_modules, conv, drop_path


# --- network --------------------------------------------------------------------------------------

class Cell(nn.Module):
    """A cell holding, on each edge (in EDGES order), the module of that edge's choice: the candidate
    operations keyed by name (one per edge for a stand-alone network, all of OPS for the super-net).
    `forward` takes the architecture to run: per edge what that edge's module is given (an op name, or
    a tuple of names run together and averaged for the one-shot warm-up)."""

    def __init__(self, edges: list[nn.Module], num_nodes: int):
        super().__init__()
        self.edges = nn.ModuleList(edges)
        self.num_nodes = num_nodes

    def forward(self, x: torch.Tensor, arch, path_dropout: float = 0.0) -> torch.Tensor:
        nodes, k = [x], 0
        for node in range(1, self.num_nodes):
            total = None
            for source in range(node):
                out = self.edges[k + source](nodes[source], arch[k + source])
                if out is not None:
                    out = drop_path(out, path_dropout) if self.training else out
                    total = out if total is None else total + out
            nodes.append(torch.zeros_like(x) if total is None else total)
            k += node
        return nodes[-1]


class NodeCell(nn.Module):
    """The node-wise super-net cell (operation on node): node j = op_j(sum of its inputs), with one
    set of weights per (node, operation). Called with an edge-wise cell, mapped by `path_of` (the space's
    `node_path`): per node, (operation, input nodes)."""

    def __init__(self, channels: int, dim: int, affine: bool, track: bool, ops: tuple[str, ...], num_nodes: int,
                 path_of, kernel_pairs=()):
        super().__init__()
        self.nodes = nn.ModuleList(PathChoice(candidate_modules(ops, channels, dim, affine, track, kernel_pairs))
                                   for _ in range(1, num_nodes))
        self.path_of = path_of

    def forward(self, x: torch.Tensor, arch, path_dropout: float = 0.0) -> torch.Tensor:
        nodes = [x]
        for j, (op, inputs) in enumerate(self.path_of(arch)):
            out = None
            if inputs and op != "none":
                out = self.nodes[j](sum(nodes[i] for i in inputs), op)
            if out is not None and self.training:
                out = drop_path(out, path_dropout)
            nodes.append(torch.zeros_like(x) if out is None else out)
        return nodes[-1]


class Network(nn.Module):
    """Stem, three stages of `cells` cells (C, 2C, 4C channels) with reductions between, head.

    `make_cell(c)` builds one cell at c channels, in construction order. `arch` fixes the architecture
    of a stand-alone network; a super-net leaves it None and is called as `net(x, arch)`.
    """

    def __init__(self, channels: int, cells: int, in_channels: int, num_classes: int, dim: int, make_cell,
                 arch: tuple[str, ...] | None = None, affine: bool = True, track: bool = True,
                 global_dropout: float = 0.0):
        super().__init__()
        if dim not in (1, 2):
            raise ValueError(f"dim must be 1 or 2, got {dim}")
        self.arch = arch
        self.path_dropout = 0.0  # set by super-net training; applies in train mode only
        self.stem = nn.Sequential(conv(dim)(in_channels, channels, 3, padding=1, bias=False),
                                  bn(dim, channels, affine, track))
        self.blocks = nn.ModuleList()
        c = channels
        for stage in range(3):
            if stage > 0:
                self.blocks.append(ResidualReduction(c, 2 * c, dim, affine, track))
                c *= 2
            for _ in range(cells):
                self.blocks.append(make_cell(c))
        self.head_bn = bn(dim, c, affine, track)
        self.dropout = nn.Dropout(global_dropout)  # "global dropout": on the pooled features
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor, arch: tuple[str, ...] | None = None) -> torch.Tensor:
        arch = self.arch if arch is None else arch
        x = self.stem(x)
        for block in self.blocks:
            x = block(x, arch, self.path_dropout) if isinstance(block, (Cell, NodeCell)) else block(x)
        x = torch.relu(self.head_bn(x))
        return self.classifier(self.dropout(x.flatten(2).mean(-1)))
