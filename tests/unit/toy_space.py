"""A toy search space with grouped choices, defined in the tests to show (and check, in
test_space_conformance.py) that the SearchSpace interface is not shaped after NAS-Bench-201 only.

A cell has an input node 0 and nodes 1, 2, 3 (the output). Node 1 takes node 0 through one of two
operations (a choice without a group); node 2 uses 1 of its 2 candidate input edges and node 3 uses 2
of its 3 (a group per node, `keep` 1 and 2): an unused edge picks `none`. 2 * (2 * 2) * (3 * 2 * 2)
= 96 cells. The string lists each node's used inputs, nodes joined by '+':
`nor_conv_1x1~0+skip_connect~1+nor_conv_1x1~0,skip_connect~2`. Isomorphism as in NB201: skips pass
their input's terms through, sums are sorted, so node 2 does not matter when node 3 does not use it.
The network: a stem conv + BN, `cells` cells at C channels, BN-ReLU, average pooling, a classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.io import UserError
from nas.spaces.base import Choice, NetworkSettings, SearchSpace, arch_text, shown, single_path
from nas.spaces.ops import PathChoice, bn, candidate_modules, conv, drop_path

OPS = ("none", "skip_connect", "nor_conv_1x1")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from), in choice order
CHOICES = (Choice("1<-0", OPS[1:]),
           Choice("2<-0", OPS, "node2", 1), Choice("2<-1", OPS, "node2", 1),
           Choice("3<-0", OPS, "node3", 2), Choice("3<-1", OPS, "node3", 2), Choice("3<-2", OPS, "node3", 2))
USES = {1: 1, 2: 1, 3: 2}  # node -> how many inputs it uses
EXAMPLE = "nor_conv_1x1~0+skip_connect~1+nor_conv_1x1~0,skip_connect~2"


class ToyCell(nn.Module):
    def __init__(self, edges: list[nn.Module]):
        super().__init__()
        self.edges = nn.ModuleList(edges)

    def forward(self, x, arch, path_dropout: float = 0.0):
        nodes = [x]
        for node in (1, 2, 3):
            total = None
            for k, (to, source) in enumerate(EDGES):
                if to != node:
                    continue
                out = self.edges[k](nodes[source], arch[k])
                if out is not None:
                    out = drop_path(out, path_dropout) if self.training else out
                    total = out if total is None else total + out
            nodes.append(torch.zeros_like(x) if total is None else total)
        return nodes[-1]


class ToyNetwork(nn.Module):
    def __init__(self, channels, cells, input_shape, num_classes, make_cell, arch=None, affine=True, track=True,
                 global_dropout=0.0):
        super().__init__()
        dim = len(input_shape) - 1
        self.arch = arch
        self.path_dropout = 0.0
        self.stem = nn.Sequential(conv(dim)(input_shape[0], channels, 3, padding=1, bias=False),
                                  bn(dim, channels, affine, track))
        self.cells = nn.ModuleList(make_cell(channels) for _ in range(cells))
        self.head_bn = bn(dim, channels, affine, track)
        self.dropout = nn.Dropout(global_dropout)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x, arch=None):
        arch = self.arch if arch is None else arch
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x, arch, self.path_dropout)
        return self.classifier(self.dropout(torch.relu(self.head_bn(x)).flatten(2).mean(-1)))


class ToySpace(SearchSpace):
    name = "toy"
    parameter_free = frozenset({"none", "skip_connect"})

    def choices(self):
        return CHOICES

    def parse(self, text):
        arch_text(text, EXAMPLE)
        groups = text.strip().split("+")
        if len(groups) != 3:
            raise UserError(f"architecture {shown(text)}: expected 3 '+'-separated nodes, got {len(groups)}")
        picks = {c.key: "none" for c in CHOICES}
        for node, group in enumerate(groups, start=1):
            items = group.split(",")
            if len(items) != USES[node]:
                raise UserError(f"architecture {shown(text)}: node {node} uses {USES[node]} input(s), got {len(items)}")
            sources = []
            for item in items:
                op, sep, src = item.partition("~")
                if not sep or src not in [str(i) for i in range(node)]:
                    raise UserError(f"architecture {shown(text)}: input {item!r} should read 'op~i' with i < {node}")
                if op not in OPS[1:]:
                    raise UserError(f"architecture {shown(text)}: unknown operation {op!r}; "
                                    f"expected one of {', '.join(OPS[1:])}")
                sources.append(int(src))
                picks[f"{node}<-{src}"] = op
            if sources != sorted(set(sources)):
                raise UserError(f"architecture {shown(text)}: node {node} must list distinct inputs in increasing order")
        return self.from_picks(picks)

    def format(self, arch):
        picks = self.to_picks(arch)
        self.check_picks(picks)
        return "+".join(",".join(f"{picks[f'{node}<-{i}']}~{i}" for i in range(node) if picks[f"{node}<-{i}"] != "none")
                        for node in (1, 2, 3))

    def _key(self, arch) -> str:
        terms = {0: ["x"]}
        for node in (1, 2, 3):
            collected = []
            for k, (to, source) in enumerate(EDGES):
                if to == node and arch[k] != "none":
                    if arch[k] == "skip_connect":
                        collected.extend(terms[source])
                    else:
                        collected.append(f"{arch[k]}({'+'.join(terms[source])})")
            terms[node] = sorted(collected)
        return "+".join(terms[3])

    def canonical(self, arch):
        arch = self.parse(arch) if isinstance(arch, str) else tuple(arch)
        first = self.__dict__.setdefault("_first", {})
        if not first:
            for a in self.enumerate_all():
                first.setdefault(self._key(a), self.format(a))
        return first[self._key(arch)]

    def build(self, arch, channels, cells, input_shape, num_classes):
        arch = self.parse(arch) if isinstance(arch, str) else tuple(arch)
        dim = len(input_shape) - 1
        return ToyNetwork(channels, cells, input_shape, num_classes, lambda c: ToyCell(
            [PathChoice(candidate_modules((op,), c, dim, True, True)) for op in arch]), arch=arch)

    def build_supernet(self, net: NetworkSettings, choice=single_path):
        self.check_supernet_form(net.op_on, net.kernel_mapping)
        dim = len(net.input_shape) - 1
        return ToyNetwork(net.channels, net.cells, net.input_shape, net.num_classes, lambda c: ToyCell(
            [choice(ch, candidate_modules(ch.candidates, c, dim, net.affine, net.track)) for ch in CHOICES]),
            affine=net.affine, track=net.track, global_dropout=net.global_dropout)

    def count_params_flops(self, arch, channels, cells, input_shape, num_classes):
        net = self.build(arch, channels, cells, input_shape, num_classes)
        flops = 0

        def hook(module, inputs, output):
            nonlocal flops
            weight = module.weight
            flops += weight.numel() * (output[0, 0].numel() if isinstance(module, (nn.Conv1d, nn.Conv2d)) else 1)

        for m in net.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                m.register_forward_hook(hook)
        net.eval()
        with torch.no_grad():
            net(torch.zeros(1, *input_shape))
        return sum(p.numel() for p in net.parameters()), flops


class ToyLargeSpace(ToySpace):
    """The toy space treated as too large to enumerate (and without isomorphisms): sampling draws
    uniformly over the picks, and there are no isomorphism classes."""

    name = "toy_large"
    max_enumerable = 10

    def canonical(self, arch):
        return SearchSpace.canonical(self, arch)


class ToyRuleSpace(ToySpace):
    """The toy space with a rule of its own beyond its candidates and groups (`violation`): a cell uses
    at most 2 convolutions. 66 of the 96 cells keep it; its picks are not free, so the space is
    `constrained` by its rule as well as by its groups."""

    name = "toy_rule"
    MAX_CONVS = 2

    def violation(self, picks):
        convs = sum(p == "nor_conv_1x1" for p in picks.values())
        if convs > self.MAX_CONVS:
            return f"{convs} nor_conv_1x1 operations; a cell uses at most {self.MAX_CONVS}"
        return None

    def size(self):
        return sum(1 for _ in self._all_picks())

    def parse(self, text):
        arch = super().parse(text)
        reason = self.violation(self.to_picks(arch))
        if reason is not None:
            raise UserError(f"architecture {shown(text)}: {reason}")
        return arch
