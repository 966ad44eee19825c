"""The NAS-Bench-201 cell space (Dong & Yang, 2020): `NB201`, and its instance `SPACE`.

A cell is a DAG of 4 nodes; each of the 6 edges j<-i (i<j) carries one of 5 operations, so the space
has 5^6 = 15,625 cells. Node j is the sum of its incoming edges; the cell's output is node 3.

String format (the benchmark's own): `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`, where group j lists the
edges into node j and `~i` names the source node. In code a cell is a tuple of 6 operation names in
that order (EDGES); the choices are the edges, keyed "j<-i" in the same order.

The network (`Network`, in nb201_nets.py with its cells) is the benchmark's: a 3x3 stem conv + BN; three stages of N cells with C, 2C
and 4C channels joined by residual reduction blocks; BN-ReLU, global average pooling and a linear
classifier. It is built for 1-D signals (MNIST-1D) or 2-D images from the same code, and with one
operation per edge (a stand-alone network) or every operation per edge (the weight-sharing super-net),
or, with op_on="node", one set of operations per node (`NodeCell`, mapped by `node_path` here).

The module-level functions (`parse`, `format`, `build`, ...) are `SPACE`'s bound methods, for code
that imports this module; the registry `nas.spaces.SPACES` holds `SPACE`.
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from typing import TYPE_CHECKING

from nas.io import UserError
from nas.settings import show
from nas.spaces.base import Choice, NetworkSettings, SearchSpace, arch_text, shown, single_path

if TYPE_CHECKING:
    from nas.spaces.nb201_nets import Network

NAME = "nb201"
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from), in string order
NUM_NODES = 4
CHOICES = tuple(Choice(f"{to}<-{source}", OPS) for to, source in EDGES)  # every edge chooses from OPS


# --- isomorphism ----------------------------------------------------------------------------------
# Two conventions (`space.isomorphism`): "function" (the default) puts two cells in one class only when
# they compute the same function under a one-to-one mapping of their weights; "benchmark" is
# NAS-Bench-201's own `Structure.to_unique_str(consider_zero=True)`, for comparing pools and sample
# sizes with published work.

ISOMORPHISMS = ("function", "benchmark")
_WEIGHTLESS = frozenset({"avg_pool_3x3"})  # operations other than none/skip that hold no weights
_X = -1  # the cell's input, among the operation instances' indices


def _instances(arch):
    """The cell as a DAG of operation instances: (instances, output). An instance is one edge's
    parametrised or pooling operation applied to its source node: (op, edge index, input), where an input
    or the output is a node's value, {instance index or _X: multiplicity} (a node is the sum of its
    incoming edges). `none` and an edge out of a zero node contribute nothing; `skip_connect` adds its
    source's value unchanged, so a sum reached through skips keeps the identity of each term: one
    module whose output reaches a node twice has multiplicity 2, two modules have one each (two
    poolings of one input are one term: they hold no weights)."""
    instances: list[tuple[str, int, dict]] = []
    value: dict[int, dict] = {0: {_X: 1}}
    k = 0
    for node in range(1, NUM_NODES):
        total: dict = {}
        for source in range(node):
            op, src = arch[k + source], value[source]
            if op == "none" or not src:
                continue
            if op == "skip_connect":
                for term, count in src.items():
                    total[term] = total.get(term, 0) + count
            else:
                # A pooling has no weights: two poolings of one input are one term, counted twice.
                same = [i for i, (o, _, s) in enumerate(instances) if o == op and s == src and o in _WEIGHTLESS]
                if not same:
                    instances.append((op, k + source, src))
                term = same[0] if same else len(instances) - 1
                total[term] = total.get(term, 0) + 1
        value[node] = total
        k += node
    return instances, value[NUM_NODES - 1]


@lru_cache(maxsize=None)  # 15,625 cells at most
def _function_graph(arch: tuple) -> tuple[str, tuple[int, ...]]:
    """(key, edges): `key` names the function the cell computes, up to a one-to-one mapping of its
    weights; `edges` are the cell's edges of its live operation instances in the key's order, so two
    cells with one key compute the same function once edge `a_edges[i]`'s weights are copied to
    `b_edges[i]` (tests/unit/test_nb201.py checks that on every class).

    What is treated as equal: a `none` edge, an edge out of a zero node (every operation maps zero to
    zero: exact for skip and pooling; for ReLU-Conv-BN it ignores BN's learnable shift, as the
    benchmark's own isomorphism does) and an instance that cannot reach the output contribute
    nothing; addition commutes; `skip_connect` is the identity. An instance is kept with its identity:
    two convolutions of one input are two terms, one convolution reaching the output by two paths is one
    term counted twice, and an instance that feeds two others is one vertex of the DAG, not two copies.
    The key is the DAG's canonical serialisation: the least over the orderings of its instances that
    sort them by their expression trees (any isomorphism preserves those trees, so only ties permute).
    """
    instances, output = _instances(arch)
    live, todo = set(), [t for t in output if t != _X]
    while todo:
        v = todo.pop()
        if v not in live:
            live.add(v)
            todo += [t for t in instances[v][2] if t != _X]

    @lru_cache(maxsize=None)
    def tree(v) -> str:
        op, _, src = instances[v]
        return f"{op}({terms(src)})"

    def terms(value: dict) -> str:
        return "+".join(sorted(f"{c}*{'x' if t == _X else tree(t)}" for t, c in value.items()))

    by_tree = sorted(live, key=tree)
    ties = [list(group) for _, group in itertools.groupby(by_tree, key=tree)]
    best = None
    for choice in itertools.product(*(itertools.permutations(g) for g in ties)):
        order = [v for group in choice for v in group]
        index = {v: i for i, v in enumerate(order)}
        index[_X] = _X

        def edges_of(value):
            return tuple(sorted((index[t], c) for t, c in value.items()))
        serial = (tuple((instances[v][0], edges_of(instances[v][2])) for v in order), edges_of(output))
        if best is None or serial < best[0]:
            best = (serial, tuple(instances[v][1] for v in order))
    if not output:
        return "0", ()
    (nodes, out), edges = best
    return repr((nodes, out)), edges


def _function_key(arch) -> str:
    return _function_graph(tuple(arch))[0]


def _benchmark_key(arch) -> str:
    """NAS-Bench-201's own convention, `Structure.to_unique_str(consider_zero=True)`: a node is the
    sorted '+'-join of its terms' strings, a zero term written '#' and kept; `none` or an edge out of a
    node whose string is '#' is a zero term; a skip inserts its source's string; any other operation
    is `(source)@op`. It merges some cells that compute different functions (it compares strings, so a
    sum through a skip and two separate terms can print alike); 6,466 classes."""
    nodes = {0: "0"}
    k = 0
    for node in range(1, NUM_NODES):
        parts = []
        for source in range(node):
            op = arch[k + source]
            if op == "none" or nodes[source] == "#":
                parts.append("#")
            elif op == "skip_connect":
                parts.append(nodes[source])
            else:
                parts.append(f"({nodes[source]})@{op}")
        nodes[node] = "+".join(sorted(parts))
        k += node
    return nodes[NUM_NODES - 1]


_KEYS = {"function": _function_key, "benchmark": _benchmark_key}


@lru_cache(maxsize=None)
def _classes(isomorphism: str = "function") -> dict[str, str]:
    """key -> canonical string: the first cell of the class in `enumerate_all` order."""
    key = _KEYS[isomorphism]
    canon: dict[str, str] = {}
    for arch in SPACE.enumerate_all():
        canon.setdefault(key(arch), SPACE.format(arch))
    return canon


# --- operation on node -------------------------------------------------------------------------------

# Operation on node: which operation a node takes when its incoming edges disagree. The more
# expressive operation wins; see node_path.
NODE_PRIORITY = ("nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3", "skip_connect")


def node_path(arch) -> list[tuple[object, tuple[int, ...]]]:
    """Map an edge-wise cell onto the node-wise super-net (operation on node, Yu et al.): for each
    node 1..3, (operation, inputs). The inputs are the source nodes whose edge is not `none`; the node
    applies one operation to their sum. The operation is the most frequent among those edges, ties
    going to the earlier entry of NODE_PRIORITY. A node with no input is zero (operation `none`).
    A one-shot entry (a tuple of ops on an edge) makes the node run the union of the ops, averaged.

    Example: |nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|skip_connect~1|avg_pool_3x3~2|
    -> node1 = conv3x3(x0); node2 = conv1x1(x0 + x1) (skip and 1x1 tie, 1x1 ranks first);
       node3 = avg_pool(x1 + x2) (x0's edge is none; skip and pool tie, pool ranks first).
    """
    path, k = [], 0
    for node in range(1, NUM_NODES):
        edges = arch[k:k + node]
        k += node
        if any(not isinstance(e, str) for e in edges):  # one-shot
            ops = tuple(sorted({o for e in edges for o in ((e,) if isinstance(e, str) else e) if o != "none"},
                               key=OPS.index))
            inputs = tuple(i for i, e in enumerate(edges) if (e != "none" if isinstance(e, str) else
                                                              any(o != "none" for o in e)))
            path.append((ops or "none", inputs))
            continue
        inputs = tuple(i for i, e in enumerate(edges) if e != "none")
        if not inputs:
            path.append(("none", ()))
            continue
        counts = {op: sum(e == op for e in edges) for op in NODE_PRIORITY}
        best = max(NODE_PRIORITY, key=lambda op: (counts[op], -NODE_PRIORITY.index(op)))
        path.append((best, inputs))
    return path


@lru_cache(maxsize=None)  # every cell maps the same path at every step; at most 15,625 + 1 paths
def cached_node_path(arch) -> tuple:
    return tuple(node_path(arch))


# --- the space --------------------------------------------------------------------------------------

class NB201(SearchSpace):
    """NAS-Bench-201: 6 edge choices over OPS, no groups; the architecture is the tuple of the 6 picks."""

    name = NAME
    parameter_free = frozenset({"none", "skip_connect", "avg_pool_3x3"})
    supernet_forms = ("edge", "node")
    kernel_pairs = (("nor_conv_1x1", "nor_conv_3x3"),)  # (smaller, larger): the smaller takes the centre
    isomorphisms = ISOMORPHISMS

    def choices(self) -> tuple[Choice, ...]:
        return CHOICES

    def parse(self, text: str) -> tuple[str, ...]:
        """`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|` -> tuple of 6 op names. Raises UserError if malformed."""
        arch_text(text, self.format(("nor_conv_3x3",) * 6))
        groups = text.strip().split("+")
        if len(groups) != NUM_NODES - 1:
            raise UserError(f"architecture {shown(text)}: expected {NUM_NODES - 1} '+'-separated node groups, "
                            f"got {len(groups)}")
        arch = []
        for node, group in enumerate(groups, start=1):
            if not (group.startswith("|") and group.endswith("|")):
                raise UserError(f"architecture {shown(text)}: node group {show(group)} must start and end with '|'")
            items = group[1:-1].split("|")
            if len(items) != node:
                raise UserError(f"architecture {shown(text)}: node {node} needs {node} input edge(s), got {len(items)}")
            for source, item in enumerate(items):
                op, sep, src = item.partition("~")
                if not sep or src != str(source):
                    raise UserError(f"architecture {shown(text)}: edge {show(item)} should read 'op~{source}'")
                if op not in OPS:
                    raise UserError(f"architecture {shown(text)}: unknown operation {show(op)}; "
                                    f"expected one of {', '.join(OPS)}")
                arch.append(op)
        return tuple(arch)

    def format(self, arch) -> str:
        """Tuple of 6 op names -> the benchmark's string."""
        arch = tuple(arch)
        if len(arch) != len(EDGES) or any(op not in OPS for op in arch):
            raise UserError(f"architecture {shown(arch)}: expected {len(EDGES)} operations from {', '.join(OPS)}")
        groups, k = [], 0
        for node in range(1, NUM_NODES):
            groups.append("|" + "|".join(f"{arch[k + i]}~{i}" for i in range(node)) + "|")
            k += node
        return "+".join(groups)

    def size(self) -> int:
        return len(OPS) ** len(EDGES)

    def enumerate_all(self) -> list[tuple[str, ...]]:
        """All 15,625 cells in a fixed order (itertools.product over OPS, edges in string order)."""
        return list(itertools.product(OPS, repeat=len(EDGES)))

    def canonical(self, arch) -> str:
        """The canonical string of `arch`'s isomorphism class under `self.isomorphism` (see
        `_function_graph` and `_benchmark_key`): the class's first member in `enumerate_all` order."""
        arch = self.parse(arch) if isinstance(arch, str) else tuple(arch)
        return _classes(self.isomorphism)[_KEYS[self.isomorphism](arch)]

    def num_unique(self) -> int:
        """Number of isomorphism classes (unique cells): 5,260 (function) or 6,466 (benchmark)."""
        return len(_classes(self.isomorphism))

    def distinct_cells(self) -> list[tuple[str, ...]]:
        """One cell per isomorphism class (its canonical member), in enumeration order."""
        return [self.parse(c) for c in _classes(self.isomorphism).values()]

    def build(self, arch, channels: int, cells: int, input_shape: tuple[int, ...], num_classes: int) -> Network:
        """The stand-alone network of `arch` for inputs of shape (C, L) or (C, H, W): on each edge only
        its operation (`none`: no module)."""
        from nas.spaces.nb201_nets import Cell, Network
        from nas.spaces.ops import PathChoice, candidate_modules

        arch = self.parse(arch) if isinstance(arch, str) else tuple(arch)
        dim = len(input_shape) - 1

        def make_cell(c):
            return Cell([PathChoice(candidate_modules((op,), c, dim, True, True)) for op in arch], NUM_NODES)
        return Network(channels, cells, input_shape[0], num_classes, dim, make_cell, arch=arch)

    def build_supernet(self, net: NetworkSettings, choice=single_path) -> Network:
        """The weight-sharing network: every operation on every edge (or, with op_on="node", on every
        node: `NodeCell`, which takes the default choice only), one set of weights each; with
        kernel_mapping the 1x1 convolutions borrow the centre of the 3x3 kernels on the same edge."""
        from nas.spaces.nb201_nets import Cell, Network, NodeCell
        from nas.spaces.ops import candidate_modules

        self.check_supernet_form(net.op_on, net.kernel_mapping)
        if net.op_on == "node" and choice is not single_path:
            raise ValueError("op_on='node' holds weights per node, not per choice: it takes the default choice only")
        dim = len(net.input_shape) - 1
        pairs = self.kernel_pairs if net.kernel_mapping else ()
        affine, track = net.affine, net.track

        def make_cell(c):
            if net.op_on == "node":
                return NodeCell(c, dim, affine, track, OPS, NUM_NODES, cached_node_path, pairs)
            return Cell([choice(ch, candidate_modules(ch.candidates, c, dim, affine, track, pairs))
                         for ch in self.choices()], NUM_NODES)
        return Network(net.channels, net.cells, net.input_shape[0], net.num_classes, dim, make_cell, affine=affine,
                       track=track, global_dropout=net.global_dropout)

    def count_params_flops(self, arch, channels: int, cells: int, input_shape: tuple[int, ...],
                           num_classes: int) -> tuple[int, int]:
        """Parameters and FLOPs of the stand-alone network, counted as NAS-Bench-201 counts them: all
        parameters; FLOPs are the multiply-adds of convolutions (plus bias adds) and of the classifier
        for one input. Pooling, batch norm and activations are not counted. With C=16, N=5, 3x32x32 input
        and 10 classes this gives the benchmark's 1,531,546 parameters and 220.11969 MFLOPs for the
        all-nor_conv_3x3 cell."""
        from nas.spaces import ops

        return ops.count_params_flops(self.build(arch, channels, cells, input_shape, num_classes), input_shape)


SPACE = NB201()

# Module-level shortcuts: SPACE's methods, for code that imports the module (nb201.parse(...)).
parse, format, canonical, sample = SPACE.parse, SPACE.format, SPACE.canonical, SPACE.sample  # noqa: A001
enumerate_all, num_unique, isomorphism_classes = SPACE.enumerate_all, SPACE.num_unique, SPACE.isomorphism_classes
distinct_cells, count_params_flops = SPACE.distinct_cells, SPACE.count_params_flops
build, build_supernet = SPACE.build, SPACE.build_supernet
