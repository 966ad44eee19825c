"""The 64-child space of Zhang et al., "Deeper insights into weight sharing in neural architecture
search" (`space.name: zhang64`, after the paper and its size): `Zhang64Space` and its instance `SPACE`.

Small enough to train every child stand-alone, so the ground truth is exhaustive (`sample.archs: 64`
is the whole space). A network stacks `space.cells` identical cells (4 in the paper) with no
reduction; a cell preprocesses its input (node 0) with ReLU-1x1 conv-BN, then has 2 intermediate nodes
and 3 edges, each one of 4 operations:

    node 1 = op1(node 0)
    node 2 = op2(node 0) + op3(node 1)
    output = concat(node 1, node 2)           (2C channels; the next cell's 1x1 conv brings it to C)

The choices, in the paper's order, are the edges `1<-0`, `2<-0`, `2<-1`; the operations, in the
paper's PRIMITIVES order, `max_pool_3x3`, `sep_conv_3x3`, `sep_conv_5x5`, `dil_conv_5x5`. A child's
index is 16·op1 + 4·op2 + op3 (`child_index`; the first edge's choice most significant), so children
whose indices share a quotient by 64/g share a prefix of choices — the paper's "similar" grouping.
`enumerate_all` lists the children in index order.

String format, as NAS-Bench-201 writes a cell (each `|...|` group lists the edges into node 1, then
node 2, `~i` naming the source node): `|sep_conv_3x3~0|+|max_pool_3x3~0|dil_conv_5x5~1|`.

Every child computes a different function (the operations differ and nodes cannot be renumbered:
node 2 reads node 1), so the canonical form is the string itself and the 64 children are 64 classes.

The network, as the paper's code builds it: a stem of two 3x3 conv-BN layers with 3C channels; the
cells at C channels; global average pooling and a linear classifier. Max pooling is followed by a BN
without affine parameters, as in the paper's operations (PoolBN). 1-D or 2-D convolutions from the same code.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from nas.io import UserError
from nas.settings import show
from nas.spaces import ops
from nas.spaces.base import Choice, NetworkSettings, PathChoice, SearchSpace, arch_text, shown, single_path

NAME = "zhang64"
OPS = ("max_pool_3x3", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_5x5")
EDGES = ((1, 0), (2, 0), (2, 1))  # (to, from), in the paper's order of choices
CHOICES = tuple(Choice(f"{j}<-{i}", OPS) for j, i in EDGES)
EXAMPLE = "|sep_conv_3x3~0|+|max_pool_3x3~0|dil_conv_5x5~1|"
_GROUP = re.compile(r"\|([a-z0-9_]+)~(\d)")


class _PoolBN(nn.Sequential):
    """Max pooling followed by BN without affine parameters (the paper's PoolBN, as its networks build
    every operation: affine=False), so the operation stays parameter-free."""


def _edge_modules(choice: Choice, c: int, dim: int, affine: bool, track: bool) -> dict:
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


class Zhang64Space(SearchSpace):
    name = NAME
    parameter_free = frozenset({"max_pool_3x3"})

    def choices(self) -> tuple[Choice, ...]:
        return CHOICES

    def child_index(self, arch) -> int:
        """16·op1 + 4·op2 + op3, the paper's numbering (operations in OPS order)."""
        picks = self.to_picks(arch)
        index = 0
        for c in CHOICES:
            index = len(OPS) * index + OPS.index(picks[c.key])
        return index

    def from_index(self, index: int) -> tuple[str, ...]:
        """The child numbered `index` (0..63), inverse of `child_index`."""
        if not 0 <= index < len(OPS) ** len(CHOICES):
            raise UserError(f"child index {index}: expected 0..{len(OPS) ** len(CHOICES) - 1}")
        digits = []
        for _ in CHOICES:
            index, op = divmod(index, len(OPS))
            digits.append(OPS[op])
        return tuple(reversed(digits))

    def parse(self, text: str) -> tuple[str, ...]:
        arch_text(text, EXAMPLE)
        if text.count("+") != 1:
            raise UserError(f"architecture {shown(text)}: expected 2 groups joined by '+', like {EXAMPLE}")
        picks = {}
        for node, group in zip((1, 2), text.split("+")):
            edges = _GROUP.findall(group)
            if group != "".join(f"|{op}~{i}" for op, i in edges) + "|" or len(edges) != node:
                raise UserError(f"architecture {shown(text)}: group {node} {show(group)} should list the {node} edge(s) into "
                                f"node {node}, like {EXAMPLE}")
            for k, (op, source) in enumerate(edges):
                if int(source) != k:
                    raise UserError(f"architecture {shown(text)}: edge {k + 1} of node {node} comes from node {source}; "
                                    f"expected {k}")
                if op not in OPS:
                    raise UserError(f"architecture {shown(text)}: unknown operation {show(op)}; expected one of {', '.join(OPS)}")
                picks[f"{node}<-{k}"] = op
        return self.from_picks(picks)

    def format(self, arch) -> str:
        picks = self.to_picks(arch)
        self.check_picks(picks)
        return f"|{picks['1<-0']}~0|+|{picks['2<-0']}~0|{picks['2<-1']}~1|"

    def prefix_modules(self, k: int, cells: int) -> list[str] | None:
        return ["stem"] + [f"cells.{i}" for i in range(k)]

    def build(self, arch, channels: int, cells: int, input_shape: tuple[int, ...], num_classes: int) -> Network:
        arch = self.parse(arch) if isinstance(arch, str) else tuple(arch)
        self.check_picks(self.to_picks(arch))
        dim = len(input_shape) - 1

        def make_edges(c):
            return [PathChoice(_edge_modules(Choice(ch.key, (op,)), c, dim, True, True)) for ch, op in zip(CHOICES, arch)]
        return Network(channels, cells, input_shape[0], num_classes, dim, make_edges, arch=arch)

    def build_supernet(self, net: NetworkSettings, choice=single_path) -> Network:
        self.check_supernet_form(net.op_on, net.kernel_mapping)
        dim = len(net.input_shape) - 1

        def make_edges(c):
            return [choice(ch, _edge_modules(ch, c, dim, net.affine, net.track)) for ch in CHOICES]
        return Network(net.channels, net.cells, net.input_shape[0], net.num_classes, dim, make_edges,
                       affine=net.affine, track=net.track, global_dropout=net.global_dropout)


SPACE = Zhang64Space()
