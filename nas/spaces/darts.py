"""The DARTS cell space (Liu et al., 2019): `DartsSpace`, and its instance `SPACE` (`space.name: darts`).

A network stacks two kinds of cell, *normal* and *reduce* (stride 2, twice the channels, at 1/3 and 2/3
of the depth). Each cell has two inputs — the outputs of the two previous cells, nodes 0 and 1 — and 4
intermediate nodes 2..5; node j may take any earlier node as input (14 candidate edges per cell) and
uses exactly 2 of them, each through one of 7 operations; the cell's output is the concatenation of
nodes 2..5. The choices are the 28 edges, keyed `normal:j<-i` and `reduce:j<-i`, in DARTS's alpha
order (j = 2..5, i = 0..j-1; normal first); the input edges of one node form a group with `keep` 2, an
unused edge picks `none`. That is (C(2,2) C(3,2) C(4,2) C(5,2) 7^8)^2 = 1.1e18 cells: too many to
enumerate, so the pool is drawn by `random_arch` (uniform over valid cells).

String format: the `Genotype(...)` that DARTS papers publish (DARTS's genotypes.py), so a published
cell can be pasted as it is:

    Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=[2, 3, 4, 5],
             reduce=[('max_pool_3x3', 0), ...], reduce_concat=[2, 3, 4, 5])

Each list holds 8 (operation, input) pairs, two per node 2..5 in order; `*_concat` must be [2, 3, 4, 5]
(this space concatenates every intermediate node; `range(2, 6)`, as some papers write it, is read too).
`format` writes a node's two inputs in increasing order. Parsing is `ast`-based: nothing is evaluated.

Isomorphism (`canonical`): two genotypes are one class when they differ only by the numbering of the
intermediate nodes — a renumbering that keeps every edge going from a lower to a higher node permutes
the channels of the cell's output, which the next cells' 1x1 preprocessing convolutions and the
classifier absorb exactly (a one-to-one mapping of weights). The canonical member is the least
genotype string over those renumberings, per cell kind. Nothing else is merged (e.g. two skip
connections that make a node equal to another are not detected), so `num_unique` is the size of the
space, an upper bound.

The network (darts_nets.py) is DARTS's: a 3x3 stem conv with 3C channels + BN; three stages of N normal cells joined
by a reduce cell each (`space.cells` = N, as for NAS-Bench-201: 3N + 2 cells; DARTS's search network of
8 cells is N=2, its evaluation network of 20 cells N=6, with the reduce cells where DARTS puts them, at
1/3 and 2/3 of the depth), each cell preprocessing its inputs with ReLU-1x1 conv-BN (a factorised
reduction after a reduce cell); global average pooling and a linear classifier. No auxiliary head. In the
super-net, pooling candidates are followed by a BN without affine parameters, as DARTS's search model
does; path dropout skips identity edges, as DARTS's evaluation network does. 1-D or 2-D convolutions
from the same code.
"""

from __future__ import annotations

import ast
import itertools
from typing import TYPE_CHECKING

from nas.io import UserError
from nas.settings import cut, show
from nas.spaces.base import Choice, NetworkSettings, SearchSpace, arch_text, shown, single_path

if TYPE_CHECKING:
    from nas.spaces.darts_nets import Network

NAME = "darts"
OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
       "dil_conv_3x3", "dil_conv_5x5")
KINDS = ("normal", "reduce")
NODES = (2, 3, 4, 5)
EDGES = tuple((j, i) for j in NODES for i in range(j))  # (to, from) in DARTS's alpha order: 14 per cell
CONCAT = list(NODES)
CHOICES = tuple(Choice(f"{kind}:{j}<-{i}", OPS, f"{kind}:{j}", 2) for kind in KINDS for j, i in EDGES)
EXAMPLE = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...8 pairs], normal_concat=[2, 3, 4, 5], "
           "reduce=[...8 pairs], reduce_concat=[2, 3, 4, 5])")
PARAMETER_FREE = frozenset({"none", "max_pool_3x3", "avg_pool_3x3", "skip_connect"})


# --- genotype strings ------------------------------------------------------------------------------

def _literal(node: ast.expr, what: str):
    """The value of a literal list, or of `range(a, b)` (as some papers write `*_concat`; its length is
    checked before it is expanded, so `range(10**12)` costs nothing)."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
            and not node.keywords):
        try:
            span = range(*[_literal(a, what) for a in node.args])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{what}: {exc}") from None
        if len(span) > len(NODES):
            raise ValueError(f"{what}: {show(span)} has {len(span):,} nodes; expected {CONCAT}")
        return list(span)
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ValueError(f"{what} is not a literal (a list of ('operation', input) pairs or of node numbers)") from None


def _genotype_fields(text: str) -> dict[str, object]:
    """{field: value} of `Genotype(normal=..., normal_concat=..., reduce=..., reduce_concat=...)`."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"not Python syntax ({exc.msg}); expected {EXAMPLE}") from None
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "Genotype"):
        raise ValueError(f"expected {EXAMPLE}")
    if tree.args:
        raise ValueError("write the fields by name (normal=..., normal_concat=..., reduce=..., reduce_concat=...)")
    fields = {kw.arg: _literal(kw.value, kw.arg) for kw in tree.keywords}
    expected = {"normal", "normal_concat", "reduce", "reduce_concat"}
    if set(fields) != expected:
        missing, extra = sorted(expected - set(fields)), sorted(set(fields) - expected)
        raise ValueError(f"fields {', '.join(missing) or '-'} missing, {', '.join(extra) or '-'} unknown; "
                         "expected normal, normal_concat, reduce, reduce_concat")
    return fields


def _cell_picks(kind: str, pairs) -> dict[str, str]:
    """{choice key: op} of one cell's 8 (operation, input) pairs."""
    if not isinstance(pairs, (list, tuple)) or len(pairs) != 2 * len(NODES):
        count = len(pairs) if isinstance(pairs, (list, tuple)) else "no"
        raise ValueError(f"{kind}: {count} (operation, input) pairs; expected {2 * len(NODES)}, "
                         f"two inputs for each node {NODES[0]}..{NODES[-1]}")
    picks = {f"{kind}:{j}<-{i}": "none" for j, i in EDGES}
    for k, pair in enumerate(pairs):
        node = NODES[k // 2]
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str)
                and isinstance(pair[1], int) and not isinstance(pair[1], bool)):
            raise ValueError(f"{kind}[{k}]: {show(pair)} should be an ('operation', input) pair")
        op, source = pair
        if op not in OPS[1:]:
            raise ValueError(f"{kind}[{k}]: unknown operation {show(op)}; expected one of {', '.join(OPS[1:])}")
        if not 0 <= source < node:
            raise ValueError(f"{kind}[{k}]: node {node} cannot take input {source}; expected 0..{node - 1}")
        key = f"{kind}:{node}<-{source}"
        if picks[key] != "none":
            raise ValueError(f"{kind}: node {node} takes input {source} twice; a node has 2 distinct inputs")
        picks[key] = op
    return picks


# --- isomorphism: renumbering the intermediate nodes ----------------------------------------------

def _renumberings(picks: dict[str, str], kind: str):
    """Every renumbering of nodes 2..5 (a dict old -> new, inputs 0 and 1 fixed) under which every used
    edge still goes from a lower to a higher node."""
    used = [(j, i) for j, i in EDGES if picks[f"{kind}:{j}<-{i}"] != "none"]
    for perm in itertools.permutations(NODES):
        number = {0: 0, 1: 1, **dict(zip(NODES, perm))}
        if all(number[i] < number[j] for j, i in used):
            yield number


def _renumbered(picks: dict[str, str], kind: str, number: dict[int, int]) -> dict[str, str]:
    out = {f"{kind}:{j}<-{i}": "none" for j, i in EDGES}
    for j, i in EDGES:
        op = picks[f"{kind}:{j}<-{i}"]
        if op != "none":
            out[f"{kind}:{number[j]}<-{number[i]}"] = op
    return out


class DartsSpace(SearchSpace):
    name = NAME
    parameter_free = PARAMETER_FREE  # skip_connect counts as parameter-free, as DARTS-PT counts it

    def choices(self) -> tuple[Choice, ...]:
        return CHOICES

    def parse(self, text: str) -> tuple[str, ...]:
        if not isinstance(text, str) or not text.strip():
            raise UserError(f"architecture {shown(text)}: expected a genotype string like {EXAMPLE}")
        arch_text(text, EXAMPLE)
        try:
            fields = _genotype_fields(text)
            picks = {}
            for kind in KINDS:
                concat = fields[f"{kind}_concat"]
                if list(concat) != CONCAT:
                    raise ValueError(f"{kind}_concat: {show(concat)} is not supported; this space "
                                     f"concatenates every intermediate node, {CONCAT}")
                picks.update(_cell_picks(kind, fields[kind]))
        except (ValueError, TypeError, MemoryError, RecursionError) as exc:
            raise UserError(f"architecture {shown(text)}: {cut(str(exc) or type(exc).__name__)}") from None
        return self.from_picks(picks)

    def format(self, arch) -> str:
        picks = self.to_picks(arch)
        self.check_picks(picks)
        cells = {}
        for kind in KINDS:
            pairs = [(picks[f"{kind}:{j}<-{i}"], i) for j, i in EDGES if picks[f"{kind}:{j}<-{i}"] != "none"]
            cells[kind] = "[" + ", ".join(f"({op!r}, {i})" for op, i in pairs) + "]"
        return (f"Genotype(normal={cells['normal']}, normal_concat={CONCAT}, "
                f"reduce={cells['reduce']}, reduce_concat={CONCAT})")

    def canonical(self, arch) -> str:
        picks = self.to_picks(arch)
        self.check_picks(picks)
        best = {}
        for kind in KINDS:
            best.update(min((_renumbered(picks, kind, n) for n in _renumberings(picks, kind)),
                            key=lambda p: [p[f"{kind}:{j}<-{i}"] for j, i in EDGES[::-1]]))
        return self.format(self.from_picks(best))

    def build(self, arch, channels: int, cells: int, input_shape: tuple[int, ...], num_classes: int) -> Network:
        from nas.spaces import ops
        from nas.spaces.darts_nets import Network

        arch = self.parse(arch) if isinstance(arch, str) else tuple(arch)
        self.check_picks(self.to_picks(arch))
        dim = len(input_shape) - 1

        def make_edges(c, kind):
            offset = 0 if kind == "normal" else len(EDGES)
            return [ops.PathChoice(ops.candidate_modules((arch[offset + k],), c, dim, True, True,
                                                     stride=2 if kind == "reduce" and i < 2 else 1))
                    for k, (j, i) in enumerate(EDGES)]
        return Network(channels, cells, input_shape[0], num_classes, dim, make_edges, NODES, arch=arch)

    def build_supernet(self, net: NetworkSettings, choice=single_path) -> Network:
        from nas.spaces.darts_nets import Network, search_candidates

        self.check_supernet_form(net.op_on, net.kernel_mapping)
        dim = len(net.input_shape) - 1
        affine, track = net.affine, net.track

        def make_edges(c, kind):
            members = [ch for ch in CHOICES if ch.key.startswith(kind + ":")]
            return [choice(ch, search_candidates(ch, c, dim, 2 if kind == "reduce" and i < 2 else 1, affine, track))
                    for ch, (j, i) in zip(members, EDGES)]
        return Network(net.channels, net.cells, net.input_shape[0], net.num_classes, dim, make_edges, NODES,
                       affine=affine, track=track, global_dropout=net.global_dropout)

    def count_params_flops(self, arch, channels: int, cells: int, input_shape: tuple[int, ...],
                           num_classes: int) -> tuple[int, int]:
        """Parameters and FLOPs (multiply-adds of convolutions and the classifier, NAS-Bench-201's way)
        of the stand-alone network. DARTS's published cell (DARTS_V2) at C=36, 20 cells, 3x32x32 and 10
        classes (N=6: 20 cells) has 3,349,342 parameters without the auxiliary head, as DARTS's training log reports."""
        from nas.spaces import ops

        return ops.count_params_flops(self.build(arch, channels, cells, input_shape, num_classes), input_shape)


SPACE = DartsSpace()
