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

The network (zhang64_nets.py), as the paper's code builds it: a stem of two 3x3 conv-BN layers with 3C channels; the
cells at C channels; global average pooling and a linear classifier. Max pooling is followed by a BN
without affine parameters, as in the paper's operations (PoolBN). 1-D or 2-D convolutions from the same code.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from nas.io import UserError
from nas.settings import show
from nas.spaces.base import Choice, NetworkSettings, SearchSpace, arch_text, shown, single_path

if TYPE_CHECKING:
    from nas.spaces.zhang64_nets import Network

NAME = "zhang64"
OPS = ("max_pool_3x3", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_5x5")
EDGES = ((1, 0), (2, 0), (2, 1))  # (to, from), in the paper's order of choices
CHOICES = tuple(Choice(f"{j}<-{i}", OPS) for j, i in EDGES)
EXAMPLE = "|sep_conv_3x3~0|+|max_pool_3x3~0|dil_conv_5x5~1|"
_GROUP = re.compile(r"\|([a-z0-9_]+)~(\d)")


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
        from nas.spaces.ops import PathChoice
        from nas.spaces.zhang64_nets import Network, edge_modules

        arch = self.parse(arch) if isinstance(arch, str) else tuple(arch)
        self.check_picks(self.to_picks(arch))
        dim = len(input_shape) - 1

        def make_edges(c):
            return [PathChoice(edge_modules(Choice(ch.key, (op,)), c, dim, True, True)) for ch, op in zip(CHOICES, arch)]
        return Network(channels, cells, input_shape[0], num_classes, dim, make_edges, arch=arch)

    def build_supernet(self, net: NetworkSettings, choice=single_path) -> Network:
        from nas.spaces.zhang64_nets import Network, edge_modules

        self.check_supernet_form(net.op_on, net.kernel_mapping)
        dim = len(net.input_shape) - 1

        def make_edges(c):
            return [choice(ch, edge_modules(ch, c, dim, net.affine, net.track)) for ch in CHOICES]
        return Network(net.channels, net.cells, net.input_shape[0], net.num_classes, dim, make_edges,
                       affine=net.affine, track=net.track, global_dropout=net.global_dropout)


SPACE = Zhang64Space()
