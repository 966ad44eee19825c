"""NAS-Bench-101 (Ying et al., 2019) as a `SearchSpace` (`NB101`, instance `SPACE`, `space.name: nb101`),
with a super-net whose vertices share weights across widths (Yu et al.'s dynamic channels). The
benchmark's cell (spec, validity, hash, sampling, picks) is nb101_cell.py; the networks, the
stand-alone one and the super-net with its dynamic-channel rules, are nb101_nets.py.

The space (`NB101`). Choices: 5 vertex choices "v1".."v5" over OPS, then 21 edge choices "i->j"
(0 <= i < j <= 6, row order) over none/edge. Picks of a pruned cell of n vertices: its input at 0, its
inner vertices at v1..v(n-2) (vertex t at t), its output at 6 (`positions`), so an edge (s, t) of the
cell is the pick "s'->t'" of their positions (an edge into the output of a 4-vertex cell, "2->3" in its
matrix, is "2->6"); the unused vertices v(n-1)..v5 have no edges and pick OPS[0] (any pick there denotes
the same architecture: `from_picks` prunes them away). `from_picks` builds the 7x7 matrix and ops and
returns the pruned Spec; a super-net path of tuples (the one-shot warm-up: every op at a vertex,
every edge on) gives the pruned Spec whose vertices hold the tuples. The benchmark's validity is the
space's rule beyond its choices (`violation`: a path from input to output, at most 9 edges after
pruning), so the space is `constrained`: a uniform path is a `random_arch` (= `random_spec`), and
fairnas refuses it. `canonical` is the module hash (`canonical_is_member` False: a key, not a cell);
the 423,624 unique cells (`size`, `num_unique`) are not enumerated.
"""

from __future__ import annotations

import re

from typing import TYPE_CHECKING

import numpy as np

from nas.io import UserError
from nas.settings import show
from nas.spaces.base import Choice, ChoiceFactory, NetworkSettings, SearchSpace, shown, single_path
# The cell's own functions, also re-exported (nb101.parse, nb101.module_hash, ...: the space's module)
from nas.spaces.nb101_cell import (CHOICES, CONV1X1, CONV3X3, EDGE, EDGE_KEYS, EXAMPLE, INPUT,  # noqa: F401
                                   MAX_EDGES, MAX_VERTICES, MAXPOOL3X3, NAME, NONE, NUM_UNIQUE, OPS, OUT, OUTPUT,
                                   VERTEX_KEYS, Spec, _broken_rule, _full_spec, _live_vertices, _names, _restrict,
                                   format, graph_hash, labelling, make_spec, module_hash, parse, path, positions,
                                   prune, random_spec, RULES)

if TYPE_CHECKING:
    from torch import nn


# --- the space ----------------------------------------------------------------------------------------

_HASH = re.compile(r"[0-9a-f]{32}")


class NB101(SearchSpace):
    """NAS-Bench-101 as a `SearchSpace`: 5 vertex choices over OPS, then 21 edge choices none/edge; an
    architecture is a pruned `Spec` (see the module docstring for the picks, the rule and the super-net)."""

    name = NAME
    parameter_free = frozenset({MAXPOOL3X3, NONE, EDGE})  # the edge candidate is a weightless identity
    supernet_forms = ("node",)       # the operation sits on the vertex; no op on edge, no kernel mapping
    dynamic_channel_rules = RULES
    min_channels = MAX_VERTICES - 2  # 5 vertices feeding the output need a channel each
    canonical_is_member = False      # canonical is the benchmark's module hash

    def choices(self) -> tuple[Choice, ...]:
        return CHOICES

    def to_picks(self, arch) -> dict[str, object]:
        """{choice key: candidate} of `arch` (pruned first; a string is parsed): its inner vertices' ops
        at v1..v(n-2), every other vertex OPS[0] (any pick there denotes the same architecture), each
        edge of the pruned cell `edge` at its vertices' positions (the output at 6), the others `none`.
        A super-net path gives its vertices' tuples as they are."""
        spec = path(arch)
        n = len(spec.ops)
        picks: dict[str, object] = {k: OPS[0] for k in VERTEX_KEYS} | {k: NONE for k in EDGE_KEYS}
        for t in range(1, n - 1):
            picks[VERTEX_KEYS[t - 1]] = spec.ops[t]
        where = positions(n)
        for s in range(n):
            for t in range(s + 1, n):
                if spec.matrix[s][t]:
                    picks[f"{where[s]}->{where[t]}"] = EDGE
        return picks

    def from_picks(self, picks: dict[str, object]) -> Spec:
        """The pruned `Spec` of `picks` (the 7-vertex cell they write, pruned), inverse of `to_picks` on
        pruned specs. Picks of names are checked (`check_picks`: candidates and the benchmark's rule);
        a super-net path, whose picks may be tuples of names (the one-shot warm-up: every op at a
        vertex, every edge on), gives the pruned Spec whose vertices hold those tuples (`path`)."""
        keys = self._check_keys(picks)
        if all(isinstance(picks[k], str) for k in keys):
            self.check_picks(picks)
            spec = _full_spec(picks)
            return _restrict(spec, _live_vertices(spec.matrix))
        for c in CHOICES:
            names = _names(picks[c.key])
            if names is None or any(o not in c.candidates for o in names):
                raise UserError(f"super-net path: choice {c.key} picks {show(picks[c.key], 60)}; expected one of "
                                f"{', '.join(c.candidates)} or a tuple of them")
        spec = _full_spec({k: p if isinstance(p, str) else tuple(p) for k, p in picks.items()})
        keep = _live_vertices(spec.matrix)
        if keep is None:
            raise UserError(f"super-net path {shown(picks)}: no path from input (vertex 0) to output (vertex {OUT})")
        return _restrict(spec, keep)

    def violation(self, picks: dict[str, object]) -> str | None:
        """The benchmark's rule on the cell the picks write (`_broken_rule`, on the pruned cell): a path
        from input to output, at most 9 edges (7 vertices hold by construction)."""
        return _broken_rule(_full_spec(picks))

    def parse(self, text: str) -> Spec:
        """The benchmark's JSON spec -> Spec as written (`parse`; `path` and `to_picks` prune it)."""
        return parse(text)

    def format(self, arch) -> str:
        return format(arch)

    def size(self) -> int:
        """The cells the study tells apart: the benchmark's 423,624 unique cells (module hashes). The
        labelled (matrix, ops) pairs that write them are many more, and no pool counts them."""
        return NUM_UNIQUE

    @property
    def enumerable(self) -> bool:
        """False: the cells are drawn by `random_spec` or read from the benchmark's records, never enumerated."""
        return False

    def enumerate_all(self) -> list:
        raise UserError(f"space {self.name}: its {NUM_UNIQUE:,} unique cells are too many to enumerate here (the "
                        "pool is drawn by random_spec, or read from the benchmark: standalone.source benchmark)")

    def num_unique(self) -> int:
        return NUM_UNIQUE

    def random_arch(self, rng: np.random.Generator) -> Spec:
        """The benchmark's rejection sampler (`random_spec`): uniform over valid 7-vertex (matrix, ops)
        pairs, pruned; not uniform over the unique cells."""
        return random_spec(rng)

    def canonical(self, arch) -> str:
        """The benchmark's key of `arch`'s class: its module hash (`module_hash`, md5 hex of the pruned
        spec), which its records are stored under. A 32-hex-digit string is a key already and is
        returned as it is, so canonical(canonical(a)) == canonical(a)."""
        if isinstance(arch, str) and _HASH.fullmatch(arch):
            return arch
        return module_hash(arch)

    def operations(self, arch) -> list[str]:
        """The ops of the pruned cell's inner vertices, in vertex order (edges are no operations, and a
        vertex off the cell has none)."""
        return list(path(arch).ops[1:-1])

    def build(self, arch, channels: int, cells: int, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        from nas.spaces import nb101_nets

        return nb101_nets.build(arch, channels, cells, input_shape, num_classes)

    def count_params_flops(self, arch, channels: int, cells: int, input_shape: tuple[int, ...],
                           num_classes: int) -> tuple[int, int]:
        """(parameters, FLOPs) of the stand-alone network: every parameter (`count_params`: the benchmark's
        trainable_parameters, 2,694,282 for the README cell at its configuration) and the multiply-adds
        of its convolutions and dense layer for one input (`ops.count_params_flops`; pooling, batch norm
        and ReLU not counted). The benchmark publishes no FLOPs per cell to compare with."""
        from nas.spaces import nb101_nets, ops

        return ops.count_params_flops(nb101_nets.build(arch, channels, cells, input_shape, num_classes), input_shape)

    def build_supernet(self, net: NetworkSettings, choice: ChoiceFactory = single_path) -> nn.Module:
        """The weight-sharing network (`SuperNetwork` of `SuperCell`s) of `net`: op_on "node" only, no
        kernel mapping, `net.dynamic_channels` one of RULES (None: fixed_chunck)."""
        from nas.spaces import nb101_nets

        self.check_supernet_form(net.op_on, net.kernel_mapping, net.dynamic_channels)
        return nb101_nets.SuperNetwork(net, choice)


SPACE = NB101()
# Module-level shortcut, as nb201's: the pool drawn as the space draws it (the base class's `sample`:
# `random_arch` until n distinct module hashes).
sample = SPACE.sample
