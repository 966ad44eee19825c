"""The NAS-Bench-201 cell space (Dong & Yang, 2020).

A cell is a DAG of 4 nodes; each of the 6 edges j<-i (i<j) carries one of 5 operations, so the space
has 5^6 = 15,625 cells. Node j is the sum of its incoming edges; the cell's output is node 3.

String format (the benchmark's own): `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`, where group j lists the
edges into node j and `~i` names the source node. In code a cell is a tuple of 6 operation names in
that order (EDGES).

The network (`Network`) is the benchmark's: a 3x3 stem conv + BN; three stages of N cells with C, 2C
and 4C channels joined by residual reduction blocks; BN-ReLU, global average pooling and a linear
classifier. It is built for 1-D signals (MNIST-1D) or 2-D images from the same code, and with one
operation per edge (a stand-alone network) or every operation per edge (the weight-sharing super-net).
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nas.io import UserError

NAME = "nb201"
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from), in string order
NUM_NODES = 4
CANDIDATES = (OPS,) * len(EDGES)  # the operations each edge chooses from (FairNAS needs equal counts)

# Super-net forms this space supports beyond the edge-wise one (checked by nas.config).
OP_ON = ("edge", "node")
KERNEL_MAPPING = ("nor_conv_1x1", "nor_conv_3x3")  # (smaller, larger): the smaller takes the centre


# --- encoding -------------------------------------------------------------------------------------

def parse(text: str) -> tuple[str, ...]:
    """`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|` -> tuple of 6 op names. Raises UserError if malformed."""
    if not isinstance(text, str):
        raise UserError(f"architecture {text!r}: expected a string like {format(('nor_conv_3x3',) * 6)}")
    groups = text.strip().split("+")
    if len(groups) != NUM_NODES - 1:
        raise UserError(f"architecture {text!r}: expected {NUM_NODES - 1} '+'-separated node groups, "
                        f"got {len(groups)}")
    arch = []
    for node, group in enumerate(groups, start=1):
        if not (group.startswith("|") and group.endswith("|")):
            raise UserError(f"architecture {text!r}: node group {group!r} must start and end with '|'")
        items = group[1:-1].split("|")
        if len(items) != node:
            raise UserError(f"architecture {text!r}: node {node} needs {node} input edge(s), got {len(items)}")
        for source, item in enumerate(items):
            op, sep, src = item.partition("~")
            if not sep or src != str(source):
                raise UserError(f"architecture {text!r}: edge {item!r} should read 'op~{source}'")
            if op not in OPS:
                raise UserError(f"architecture {text!r}: unknown operation {op!r}; "
                                f"expected one of {', '.join(OPS)}")
            arch.append(op)
    return tuple(arch)


def format(arch) -> str:  # noqa: A001 - the benchmark's name for it
    """Tuple of 6 op names -> the benchmark's string."""
    arch = tuple(arch)
    if len(arch) != len(EDGES) or any(op not in OPS for op in arch):
        raise UserError(f"architecture {arch!r}: expected {len(EDGES)} operations from {', '.join(OPS)}")
    groups, k = [], 0
    for node in range(1, NUM_NODES):
        groups.append("|" + "|".join(f"{arch[k + i]}~{i}" for i in range(node)) + "|")
        k += node
    return "+".join(groups)


def enumerate_all() -> list[tuple[str, ...]]:
    """All 15,625 cells in a fixed order (itertools.product over OPS, edges in string order)."""
    return list(itertools.product(OPS, repeat=len(EDGES)))


# --- isomorphism ----------------------------------------------------------------------------------

def _function_key(arch) -> str:
    """A string that names the function the cell computes, up to the isomorphisms below.

    Two cells are treated as isomorphic (compute the same function) when their output nodes expand to
    the same expression under these rules, and only these:
      * a `none` edge contributes nothing, and a node with no contributing input is zero;
      * an edge whose source node is zero contributes nothing (every operation maps zero to zero:
        exact for skip and pooling; for ReLU-Conv-BN it ignores BN's learnable shift, as the
        benchmark's own isomorphism does);
      * `skip_connect` passes its source's expression through unchanged;
      * addition is commutative and associative: a node is the sorted multiset of its terms, and a
        skip from a node that is itself a sum merges that sum's terms;
      * any other operation applied to an expression is a distinct term `op(expr)`; two such terms on
        the same input are kept twice (they have separate weights).
    The input node is `x`; a zero output cell maps to "0". Nodes that cannot reach the output do not
    appear in the output expression, so edges into them are ignored too.
    """
    terms: dict[int, list[str] | None] = {0: ["x"]}  # None = zero node
    k = 0
    for node in range(1, NUM_NODES):
        collected: list[str] = []
        for source in range(node):
            op, src = arch[k + source], terms[source]
            if op == "none" or src is None:
                continue
            if op == "skip_connect":
                collected.extend(src)  # a skip of a sum is that sum's terms
            else:
                collected.append(f"{op}({'+'.join(src)})")
        k += node
        terms[node] = sorted(collected) if collected else None
    out = terms[NUM_NODES - 1]
    return "0" if out is None else "+".join(out)


@lru_cache(maxsize=1)
def _classes() -> dict[str, str]:
    """function key -> canonical string: the first cell of the class in `enumerate_all` order."""
    canon: dict[str, str] = {}
    for arch in enumerate_all():
        canon.setdefault(_function_key(arch), format(arch))
    return canon


def canonical(arch) -> str:
    """The canonical string of `arch`'s isomorphism class (see `_function_key` for what is treated as
    isomorphic): a member of the class, the same for all members, so it can be built and trained."""
    arch = parse(arch) if isinstance(arch, str) else tuple(arch)
    return _classes()[_function_key(arch)]


def num_unique() -> int:
    """Number of isomorphism classes (unique cells) in the space."""
    return len(_classes())


def sample(n: int, seed: int) -> list[tuple[str, ...]]:
    """`n` cells drawn uniformly from the 15,625 without replacement, skipping any cell isomorphic to
    one already drawn, so the pool holds `n` distinct functions. Deterministic for a seed."""
    if n < 1:
        raise UserError(f"sample.archs: {n} must be at least 1")
    if n > num_unique():
        raise UserError(f"sample.archs: {n} is more than the {num_unique()} unique cells of {NAME}")
    cells = enumerate_all()
    order = np.random.default_rng(seed).permutation(len(cells))
    pool, seen = [], set()
    for i in order:
        key = _function_key(cells[i])
        if key not in seen:
            seen.add(key)
            pool.append(cells[i])
            if len(pool) == n:
                break
    return pool


# --- network --------------------------------------------------------------------------------------

def _conv(dim: int):
    return nn.Conv1d if dim == 1 else nn.Conv2d


def _bn(dim: int, channels: int, affine: bool, track: bool):
    cls = nn.BatchNorm1d if dim == 1 else nn.BatchNorm2d
    return cls(channels, affine=affine, track_running_stats=track)


def _avg_pool(dim: int, kernel: int, stride: int, padding: int):
    cls = nn.AvgPool1d if dim == 1 else nn.AvgPool2d
    return cls(kernel, stride=stride, padding=padding, count_include_pad=False)


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in, c_out, kernel, stride, dim, affine=True, track=True):
        super().__init__(
            nn.ReLU(inplace=False),
            _conv(dim)(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            _bn(dim, c_out, affine, track),
        )


def make_op(name: str, channels: int, dim: int, affine: bool, track: bool) -> nn.Module | None:
    """The module of one operation inside a cell (stride 1, channels kept); None for `none`."""
    if name == "none":
        return None
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, dim, affine, track)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, dim, affine, track)
    if name == "avg_pool_3x3":
        return _avg_pool(dim, 3, 1, 1)
    raise UserError(f"unknown operation {name!r}; expected one of {', '.join(OPS)}")


def drop_path(x: torch.Tensor, rate: float) -> torch.Tensor:
    """Zero each sample's tensor with probability `rate` and scale the kept ones by 1/(1-rate), so
    the expected output is unchanged (DARTS' drop_path; Bender et al.'s path dropout)."""
    if rate <= 0.0:
        return x
    keep = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device) >= rate
    return x * keep / (1.0 - rate)


class CentreKernelConvBN(nn.Module):
    """ReLU-Conv-BN whose 1x1 kernel is the centre of another ReLU-Conv-BN's 3x3 kernel: the mapping
    function of Yu et al. (kernel sharing as in Once-for-All, without its transformation matrix).
    Only batch norm is its own; gradients of its path land on the centre of the 3x3 kernel."""

    def __init__(self, source: ReLUConvBN, channels: int, dim: int, affine: bool, track: bool):
        super().__init__()
        self._source = (source,)  # a tuple, not a submodule: the shared kernel is stored once
        self.bn = _bn(dim, channels, affine, track)
        self.dim = dim

    def forward(self, x):
        weight = self._source[0][1].weight
        centre = weight[..., 1:2] if self.dim == 1 else weight[..., 1:2, 1:2]
        conv = F.conv1d if self.dim == 1 else F.conv2d
        return self.bn(conv(torch.relu(x), centre))


def _op_modules(ops, channels, dim, affine, track, kernel_mapping=False) -> nn.ModuleDict:
    modules = {op: make_op(op, channels, dim, affine, track) for op in ops if op != "none"}
    if kernel_mapping and "nor_conv_1x1" in modules and "nor_conv_3x3" in modules:
        modules["nor_conv_1x1"] = CentreKernelConvBN(modules["nor_conv_3x3"], channels, dim, affine, track)
    return nn.ModuleDict(modules)


def _apply(ops: nn.ModuleDict, choice, x: torch.Tensor):
    """`choice` is one op name, or a tuple of names whose outputs are averaged (one-shot warm-up).
    Returns None for `none` (nothing flows)."""
    names = [choice] if isinstance(choice, str) else [c for c in choice]
    outs = [ops[n](x) for n in names if n != "none"]
    if not outs:
        return None
    return outs[0] if len(outs) == 1 else torch.stack(outs).mean(0)


class Cell(nn.Module):
    """A cell holding, on each edge, the modules of its candidate operations: one per edge for a
    stand-alone network, all of OPS for the super-net. `forward` takes the architecture to run: per
    edge an op name, or a tuple of names to run together (averaged, for the one-shot warm-up)."""

    def __init__(self, channels: int, candidates: list[tuple[str, ...]], dim: int, affine: bool, track: bool,
                 kernel_mapping: bool = False):
        super().__init__()
        self.edges = nn.ModuleList(_op_modules(ops, channels, dim, affine, track, kernel_mapping)
                                   for ops in candidates)

    def forward(self, x: torch.Tensor, arch, path_dropout: float = 0.0) -> torch.Tensor:
        nodes, k = [x], 0
        for node in range(1, NUM_NODES):
            total = None
            for source in range(node):
                out = _apply(self.edges[k + source], arch[k + source], nodes[source])
                if out is not None:
                    out = drop_path(out, path_dropout) if self.training else out
                    total = out if total is None else total + out
            nodes.append(torch.zeros_like(x) if total is None else total)
            k += node
        return nodes[-1]


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
def _cached_node_path(arch) -> tuple:
    return tuple(node_path(arch))


class NodeCell(nn.Module):
    """The node-wise super-net cell (operation on node): node j = op_j(sum of its inputs), with one
    set of weights per (node, operation). Called with an edge-wise cell, mapped by `node_path`."""

    def __init__(self, channels: int, dim: int, affine: bool, track: bool, kernel_mapping: bool = False):
        super().__init__()
        self.nodes = nn.ModuleList(_op_modules(OPS, channels, dim, affine, track, kernel_mapping)
                                   for _ in range(1, NUM_NODES))

    def forward(self, x: torch.Tensor, arch, path_dropout: float = 0.0) -> torch.Tensor:
        nodes = [x]
        for j, (op, inputs) in enumerate(_cached_node_path(arch)):
            out = None
            if inputs and op != "none":
                out = _apply(self.nodes[j], op, sum(nodes[i] for i in inputs))
            if out is not None and self.training:
                out = drop_path(out, path_dropout)
            nodes.append(torch.zeros_like(x) if out is None else out)
        return nodes[-1]


class ResidualReduction(nn.Module):
    """The benchmark's reduction block: a stride-2 ResNet basic block whose shortcut is
    average-pool + 1x1 conv."""

    def __init__(self, c_in, c_out, dim, affine=True, track=True):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, dim, affine, track)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, dim, affine, track)
        self.shortcut = nn.Sequential(_avg_pool(dim, 2, 2, 0), _conv(dim)(c_in, c_out, 1, bias=False))

    def forward(self, x):
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class Network(nn.Module):
    """Stem, three stages of `cells` cells (C, 2C, 4C channels) with reductions between, head.

    `candidates` gives each edge's candidate operations. `arch` fixes the architecture of a
    stand-alone network; a super-net leaves it None and is called as `net(x, arch)`.
    """

    def __init__(self, channels: int, cells: int, in_channels: int, num_classes: int, dim: int,
                 candidates: list[tuple[str, ...]], arch: tuple[str, ...] | None = None,
                 affine: bool = True, track: bool = True, op_on: str = "edge", kernel_mapping: bool = False,
                 global_dropout: float = 0.0):
        super().__init__()
        if dim not in (1, 2):
            raise ValueError(f"dim must be 1 or 2, got {dim}")
        self.arch = arch
        self.path_dropout = 0.0  # set by super-net training; applies in train mode only
        self.stem = nn.Sequential(_conv(dim)(in_channels, channels, 3, padding=1, bias=False),
                                  _bn(dim, channels, affine, track))
        self.blocks = nn.ModuleList()
        c = channels
        for stage in range(3):
            if stage > 0:
                self.blocks.append(ResidualReduction(c, 2 * c, dim, affine, track))
                c *= 2
            for _ in range(cells):
                self.blocks.append(NodeCell(c, dim, affine, track, kernel_mapping) if op_on == "node" else
                                   Cell(c, candidates, dim, affine, track, kernel_mapping))
        self.head_bn = _bn(dim, c, affine, track)
        self.dropout = nn.Dropout(global_dropout)  # "global dropout": on the pooled features
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor, arch: tuple[str, ...] | None = None) -> torch.Tensor:
        arch = self.arch if arch is None else arch
        x = self.stem(x)
        for block in self.blocks:
            x = block(x, arch, self.path_dropout) if isinstance(block, (Cell, NodeCell)) else block(x)
        x = torch.relu(self.head_bn(x))
        return self.classifier(self.dropout(x.flatten(2).mean(-1)))


def build(arch, channels: int, cells: int, input_shape: tuple[int, ...], num_classes: int) -> Network:
    """The stand-alone network of `arch` for inputs of shape (C, L) or (C, H, W)."""
    arch = parse(arch) if isinstance(arch, str) else tuple(arch)
    return Network(channels, cells, input_shape[0], num_classes, len(input_shape) - 1,
                   candidates=[(op,) for op in arch], arch=arch)


def build_supernet(channels: int, cells: int, input_shape: tuple[int, ...], num_classes: int,
                   affine: bool = True, track: bool = True, op_on: str = "edge", kernel_mapping: bool = False,
                   global_dropout: float = 0.0) -> Network:
    """The weight-sharing network: every operation on every edge (or, with op_on="node", on every
    node), one set of weights each; with kernel_mapping the 1x1 convolutions borrow the centre of
    the 3x3 kernels on the same edge."""
    return Network(channels, cells, input_shape[0], num_classes, len(input_shape) - 1,
                   candidates=list(CANDIDATES), affine=affine, track=track, op_on=op_on,
                   kernel_mapping=kernel_mapping, global_dropout=global_dropout)


def distinct_cells() -> list[tuple[str, ...]]:
    """One cell per isomorphism class (its canonical member), in enumeration order."""
    return [parse(c) for c in _classes().values()]


@lru_cache(maxsize=1)
def isomorphism_classes() -> tuple[tuple[tuple[str, ...], ...], ...]:
    """Every isomorphism class as the tuple of its member cells, classes in canonical order."""
    members: dict[str, list] = {}
    for arch in enumerate_all():
        members.setdefault(_function_key(arch), []).append(arch)
    return tuple(tuple(m) for m in members.values())


def count_params_flops(arch, channels: int, cells: int, input_shape: tuple[int, ...],
                       num_classes: int) -> tuple[int, int]:
    """Parameters and FLOPs of the stand-alone network, counted as NAS-Bench-201 counts them: all
    parameters; FLOPs are the multiply-adds of convolutions (plus bias adds) and of the classifier
    for one input. Pooling, batch norm and activations are not counted. With C=16, N=5, 3x32x32 input
    and 10 classes this gives the benchmark's 1,531,546 parameters and 220.11969 MFLOPs for the
    all-nor_conv_3x3 cell."""
    net = build(arch, channels, cells, input_shape, num_classes)
    flops = 0

    def conv_hook(module, inputs, output):
        nonlocal flops
        per_position = module.in_channels * module.out_channels // module.groups * int(np.prod(module.kernel_size))
        positions = int(np.prod(output.shape[2:]))
        flops += per_position * positions + (module.out_channels * positions if module.bias is not None else 0)

    def linear_hook(module, inputs, output):
        nonlocal flops
        flops += module.in_features * module.out_features + (module.out_features if module.bias is not None else 0)

    for m in net.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, nn.Linear):
            m.register_forward_hook(linear_hook)
    net.eval()
    with torch.no_grad():
        net(torch.zeros(1, *input_shape))
    return sum(p.numel() for p in net.parameters()), flops
