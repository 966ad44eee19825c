"""nas.spaces.nb101 (the NAS-Bench-101 cell space) against the benchmark's code (google-research/nasbench):
the hash against its vendored graph_util (tests/nasbench_graph_util.py) and graph_util_test's pairs,
validity as ModelSpec and NASBench.is_valid decide it, pruning as model_spec_test, the channel split
as model_builder_test, sampling, and the network's trainable parameters against the count the
benchmark publishes and counts derived by hand from model_builder.py."""

from __future__ import annotations

import itertools
import json
import random

import numpy as np
import pytest
import torch

import nasbench_graph_util as graph_util
from helpers import one_line_error
from nas.io import UserError
from nas.spaces import nb101
from nas.spaces import nb101_nets as nets
from nas.spaces.nb101 import CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT, Spec

error = one_line_error

# The README's Inception-like cell (5x5 conv replaced by two 3x3).
README = Spec(((0, 1, 1, 1, 0, 1, 0),
               (0, 0, 0, 0, 0, 0, 1),
               (0, 0, 0, 0, 0, 0, 1),
               (0, 0, 0, 0, 1, 0, 0),
               (0, 0, 0, 0, 0, 0, 1),
               (0, 0, 0, 0, 0, 0, 1),
               (0, 0, 0, 0, 0, 0, 0)),
              (INPUT, CONV1X1, CONV3X3, CONV3X3, CONV3X3, MAXPOOL3X3, OUTPUT))
README_HASH = "28cfc7874f6d200472e1a9dcd8650aa0"
# NASBench.ipynb's query of the README cell prints "trainable_parameters: 2694282" (the benchmark's
# configuration: 128 stem channels, 3 cells a stack, CIFAR-10 images, 10 labels).
README_PARAMS = 2_694_282

CHAIN = Spec(((0, 1, 0), (0, 0, 1), (0, 0, 0)), (INPUT, CONV3X3, OUTPUT))   # input -> conv3x3 -> output
DIRECT = Spec(((0, 1), (0, 0)), (INPUT, OUTPUT))                           # input -> output
# vertex 1 feeds vertices 2 and 3, which feed the output: a split with a remainder and a truncation
BRANCH = Spec(((0, 1, 0, 0, 0), (0, 0, 1, 1, 0), (0, 0, 0, 0, 1), (0, 0, 0, 0, 1), (0, 0, 0, 0, 0)),
              (INPUT, CONV1X1, CONV3X3, MAXPOOL3X3, OUTPUT))


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def reference_hash(spec: Spec) -> str:
    """The benchmark's key: graph_util.hash_module of the pruned matrix, labels as ModelSpec.hash_spec."""
    pruned = nb101.prune(spec)
    labels = [-1] + [list(nb101.OPS).index(op) for op in pruned.ops[1:-1]] + [-2]
    return graph_util.hash_module(np.array(pruned.matrix), labels)


def text(matrix, ops) -> str:
    return json.dumps({"matrix": matrix, "ops": ops})


# --- the hash ---------------------------------------------------------------------------------------

def test_readme_cell_hashes_as_the_benchmark():
    assert nb101.module_hash(README) == README_HASH == reference_hash(README)
    assert nb101.labelling(README.ops) == [-1, 1, 0, 0, 0, 2, -2]  # config.py's available_ops order


def test_hash_equals_the_vendored_hash_module_on_random_cells():
    rng = np.random.default_rng(0)
    specs = [nb101.random_spec(rng) for _ in range(1000)]
    assert all(nb101.module_hash(s) == reference_hash(s) for s in specs)
    assert len({len(s.ops) for s in specs}) > 2  # cells of several sizes were drawn


def test_hash_is_immune_to_numpy_integers():
    # numpy 2 prints np.int64(0) as 'np.int64(0)': the reference hashes a numpy label differently,
    # graph_hash converts to Python ints first
    labels = nb101.labelling(README.ops)
    as_numpy = [np.int64(x) for x in labels]
    assert graph_util.hash_module(np.array(README.matrix), as_numpy) != README_HASH
    assert nb101.graph_hash(np.array(README.matrix), as_numpy) == README_HASH


def test_graph_util_test_pairs():
    # nasbench/tests/graph_util_test.py, test_hash_module: its isomorphic and non-isomorphic pairs
    h = nb101.graph_hash
    diamond = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert h(diamond, [-1, 1, 2, -2]) == h(diamond, [-1, 2, 1, -2])  # label permutation

    m1 = [[0, 1, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    m2 = [[0, 1, 0, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    m3 = [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    l1, l2, l3 = [-1, 1, 2, 3, -2], [-1, 2, 3, 1, -2], [-1, 2, 1, 3, -2]
    assert h(m1, l1) == h(m2, l2) == h(m3, l3)  # edge permutation
    assert h(m1, l2) != h(m1, l1) and h(m1, l3) != h(m1, l1)

    regular1 = [[0, 1, 0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0, 1, 0], [0, 0, 0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1, 0, 0],
                [0, 0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 0, 1], [0] * 8]
    regular2 = [[0, 1, 0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 0, 1, 0, 0], [0, 0, 0, 0, 1, 0, 1, 0], [0, 0, 0, 0, 1, 1, 0, 0],
                [0, 0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 0, 1], [0] * 8]
    same = [-1, 1, 1, 1, 1, 1, 1, -2]
    assert h(regular1, same) != h(regular2, same)  # connected non-isomorphic regular graphs

    chain = [[0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0] * 5]
    assert h(chain, [-1, 1, 0, 0, -2]) != h(chain, [-1, 0, 0, 1, -2])  # breaks without the vertex itself
    skip = [[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert h(skip, [-1, 1, 0, -2]) != h(skip, [-1, 0, 1, -2])  # breaks without directed edges
    fan = [[0, 1, 1, 1, 1, 0, 0], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 1, 0],
           [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0] * 7]
    assert h(fan, [-1, 1, 0, 0, 0, 0, -2]) != h(fan, [-1, 0, 0, 0, 1, 0, -2])  # breaks with out-neighbours only


def test_random_isomorphic_graphs_hash_alike():
    # graph_util_test's test_random_isomorphism_hashing (any directed graph, any labels), fewer rounds
    rand = random.Random(0)
    rng = np.random.default_rng(0)
    for _ in range(100):
        size = rand.randint(3, 12)
        matrix = rng.integers(0, 2, (size, size))
        labels = [rand.randint(0, 10) for _ in range(size)]
        perm = rng.permutation(size).tolist()
        pmatrix, plabels = graph_util.permute_graph(matrix, labels, perm)
        assert nb101.graph_hash(matrix, labels) == nb101.graph_hash(pmatrix, plabels)


def test_isomorphic_cells_share_a_hash():
    # the README cell with its two single-vertex branches (1x1 conv, 3x3 conv) listed the other way round
    swapped = Spec(((0, 1, 1, 1, 0, 1, 0),) + README.matrix[1:],
                   (INPUT, CONV3X3, CONV1X1, CONV3X3, CONV3X3, MAXPOOL3X3, OUTPUT))
    assert swapped != README and nb101.module_hash(swapped) == README_HASH
    # a dangling vertex does not change the hash: it is pruned first
    dangling = Spec(((0, 1, 1, 0), (0, 0, 0, 1), (0, 0, 0, 0), (0, 0, 0, 0)), (INPUT, CONV3X3, CONV1X1, OUTPUT))
    assert nb101.module_hash(dangling) == nb101.module_hash(CHAIN)
    assert nb101.module_hash(CHAIN) != nb101.module_hash(Spec(CHAIN.matrix, (INPUT, CONV1X1, OUTPUT)))


# --- parse, format, validity -------------------------------------------------------------------------

def test_round_trip_and_compact_form():
    assert nb101.format(CHAIN) == '{"matrix":[[0,1,0],[0,0,1],[0,0,0]],"ops":["input","conv3x3-bn-relu","output"]}'
    assert nb101.format(CHAIN) == nb101.EXAMPLE
    for spec in [README, CHAIN, DIRECT, BRANCH] + nb101.sample(20, 1):
        assert nb101.parse(nb101.format(spec)) == spec
        assert nb101.format(nb101.format(spec)) == nb101.format(spec)  # a string is parsed first
    parsed = nb101.parse(text([list(r) for r in README.matrix], list(README.ops)))  # spaces, lists: the same value
    assert parsed == README and isinstance(parsed, Spec) and hash(parsed) == hash(README)
    assert nb101.make_spec(np.array(README.matrix), list(README.ops)) == README  # the benchmark's numpy form


LONG = "conv3x3-bn-relu" * 40
BAD = [
    ("[[0, 1]", "not JSON"),
    ("[" * 5000, "JSON nested too deep"),
    ('["matrix", "ops"]', "exactly the keys matrix and ops"),
    ('{"matrix": [[0, 1], [0, 0]]}', "exactly the keys matrix and ops"),
    ('{"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"], "hash": 1}', "exactly the keys matrix and ops"),
    (text([0, 1], [INPUT, OUTPUT]), "list of rows"),
    (text([[0, 2], [0, 0]], [INPUT, OUTPUT]), "integers 0 or 1; matrix[0][1] is 2"),
    (text([[0, True], [0, 0]], [INPUT, OUTPUT]), "integers 0 or 1"),
    (text([[0, 1.0], [0, 0]], [INPUT, OUTPUT]), "integers 0 or 1"),
    (text([[0, 1, 0], [0, 0]], [INPUT, OUTPUT]), "matrix must be square"),
    (text([], []), "matrix must be square"),
    (text([[0, 1], [0, 0]], "input,output"), "ops must be a list of operation names"),
    (text([[0, 1], [0, 0]], [INPUT, 3]), "ops must be a list of operation names"),
    (text([[0, 1], [0, 0]], [INPUT, CONV3X3, OUTPUT]), "length of ops must match matrix dimensions"),
    (text([[0, 1], [1, 0]], [INPUT, OUTPUT]), "upper triangular (ModelSpec): matrix[1][0]"),
    (text([[1, 1], [0, 0]], [INPUT, OUTPUT]), "upper triangular (ModelSpec): matrix[0][0]"),
    (text([[0, 0], [0, 0]], [INPUT, OUTPUT]), "no path from input"),
    (text([[0]], [INPUT]), "no path from input"),
    (text([[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]], [INPUT, CONV3X3, CONV3X3, OUTPUT]),
     "no path from input (vertex 0) to output (vertex 3)"),
    # 8 vertices on a chain: none pruned
    (text([[int(j == i + 1) for j in range(8)] for i in range(8)], [INPUT] + [CONV3X3] * 6 + [OUTPUT]),
     "too many vertices: 8, at most 7"),
    # input -> 5 inner vertices -> output, and input -> output: 11 edges
    (text([[0, 1, 1, 1, 1, 1, 1]] + [[0] * 6 + [1]] * 5 + [[0] * 7], [INPUT] + [CONV3X3] * 5 + [OUTPUT]),
     "too many edges: 11, at most 9"),
    (text([[0, 1], [0, 0]], ["in", OUTPUT]), "the first op must be 'input', got 'in'"),
    (text([[0, 1], [0, 0]], [INPUT, "out"]), "the last op must be 'output'"),
    (text(CHAIN.matrix, [INPUT, "conv5x5-bn-relu", OUTPUT]), "unknown op 'conv5x5-bn-relu' at vertex 1"),
    (text(CHAIN.matrix, [INPUT, INPUT, OUTPUT]), "unknown op 'input' at vertex 1"),
    (text(CHAIN.matrix, [INPUT, LONG, OUTPUT]), "unknown op"),
]


@pytest.mark.parametrize("given, rule", BAD, ids=[rule for _, rule in BAD])
def test_each_malformed_input_is_one_line_naming_its_rule(given, rule):
    msg = error(nb101.parse, given)
    assert rule in msg
    assert msg.startswith(f"architecture '{given[:20]}")  # the input, quoted (cut short when long)
    assert len(msg) < 600


def test_strings_that_are_no_architecture():
    assert "expected a string" in error(nb101.parse, 3)
    assert "characters" in error(nb101.parse, " " * 20_000)  # refused before JSON reads it
    assert "(matrix, ops) pair" in error(nb101.format, (1, 2, 3))
    assert "matrix must be square" in error(nb101.make_spec, np.zeros((2, 3), dtype=int), [INPUT, OUTPUT])


def test_validity_is_the_benchmarks_after_pruning():
    # NASBench._check_spec counts the vertices and edges of the pruned spec (ModelSpec.matrix), and
    # checks the ops the pruned spec keeps: these are valid in the benchmark, and here.
    eight = [[int(j == i + 1) for j in range(8)] for i in range(8)]  # a chain of 8 ...
    eight[0][1], eight[0][2] = 0, 1  # ... whose vertex 1 has no input: pruned
    spec = nb101.parse(text(eight, [INPUT, "anything"] + [CONV3X3] * 5 + [OUTPUT]))
    assert len(spec.ops) == 8 and nb101.prune(spec).ops == (INPUT,) + (CONV3X3,) * 5 + (OUTPUT,)
    ten = [[0, 1, 1, 1, 1, 1, 1]] + [[0] * 6 + [1]] * 4 + [[0] * 7] * 2  # vertex 5 feeds nothing: 10 edges, 9 kept
    spec = nb101.parse(text(ten, [INPUT] + [CONV1X1] * 5 + [OUTPUT]))
    assert sum(map(sum, spec.matrix)) == 10 and sum(map(sum, nb101.prune(spec).matrix)) == 9
    assert nb101.parse(text([[0, 1], [0, 0]], [INPUT, OUTPUT])) == DIRECT  # input -> output alone is valid


def test_prune():
    # model_spec_test.py: test_prune_dangling and test_prune_islands
    no_output_path = Spec(((0, 1, 1, 0), (0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 0, 0)), (INPUT, CONV1X1, CONV3X3, OUTPUT))
    assert nb101.prune(no_output_path) == Spec(((0, 1, 0), (0, 0, 1), (0, 0, 0)), (INPUT, CONV3X3, OUTPUT))
    no_input_path = Spec(((0, 0, 1, 0), (0, 0, 0, 1), (0, 0, 0, 1), (0, 0, 0, 0)), (INPUT, CONV1X1, CONV3X3, OUTPUT))
    assert nb101.prune(no_input_path) == Spec(((0, 1, 0), (0, 0, 1), (0, 0, 0)), (INPUT, CONV3X3, OUTPUT))
    island = Spec(((0, 1, 0, 0, 0), (0, 0, 0, 0, 1), (0, 0, 0, 1, 0), (0, 0, 0, 0, 0), (0, 0, 0, 0, 0)),
                  (INPUT, CONV1X1, CONV3X3, MAXPOOL3X3, OUTPUT))
    assert nb101.prune(island) == Spec(((0, 1, 0), (0, 0, 1), (0, 0, 0)), (INPUT, CONV1X1, OUTPUT))
    assert nb101.prune(README) == README and nb101.prune(DIRECT) == DIRECT  # nothing to prune
    assert "no path from input" in error(nb101.prune, (((0, 0), (0, 0)), (INPUT, OUTPUT)))


# --- sampling -------------------------------------------------------------------------------------------

def test_random_spec_gives_pruned_valid_cells():
    rng = np.random.default_rng(3)
    for _ in range(200):
        spec = nb101.random_spec(rng)
        assert nb101.prune(spec) == spec and nb101.make_spec(*spec) == spec
        assert len(spec.ops) <= nb101.MAX_VERTICES and sum(map(sum, spec.matrix)) <= nb101.MAX_EDGES


def test_sample_is_distinct_deterministic_and_a_prefix():
    pool = nb101.sample(60, seed=5)
    assert len({nb101.module_hash(s) for s in pool}) == 60
    assert nb101.sample(60, seed=5) == pool
    assert nb101.sample(25, seed=5) == pool[:25]
    assert nb101.sample(60, seed=6) != pool
    assert "at least 1" in error(nb101.sample, 0, 5)
    assert "423624 unique cells" in error(nb101.sample, nb101.NUM_UNIQUE + 1, 5)


# --- the network ------------------------------------------------------------------------------------------

def test_vertex_channels_as_compute_vertex_channels():
    vc = nets.vertex_channels
    # model_builder_test.py's cases. A chain: the one vertex feeding the output takes all of it, the
    # vertex before it the max of what it feeds.
    chain = [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert vc(8, 16, chain) == [8, 16, 16, 16] and vc(16, 8, chain) == [16, 8, 8, 8]
    assert vc(1, 5, [[0, 1], [0, 0]]) == [1, 5]  # input and output only: nothing to split
    # two vertices feed the output: 15 // 2 = 7 each, the remainder 1 to the first (vertex 1)
    assert vc(8, 15, [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]) == [8, 8, 7, 15]
    # three: 8 // 3 = 2 each, the remainder 2 to vertices 1 and 2
    assert vc(8, 8, [[0, 1, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0] * 5]) == [8, 3, 3, 2, 8]
    # BRANCH: vertices 2 and 3 feed the output, 9 // 2 = 4 and the remainder to vertex 2; vertex 1 feeds
    # both, so takes max(5, 4) = 5 and vertex 3 reads its first 4 channels (truncation by one)
    assert vc(8, 9, BRANCH.matrix) == [8, 5, 5, 4, 9]
    # vertex 1 feeds vertex 2 and the output; vertex 2 feeds vertex 3; 3 feeds the output: 15 -> 8, 7;
    # vertex 2 (not an output feeder) takes vertex 3's 7
    assert vc(8, 15, [[0, 1, 0, 1, 0], [0, 0, 1, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0] * 5]) == [8, 8, 7, 7, 15]
    # the README cell: 4 vertices feed the output, 128 // 4 = 32 each; vertex 3 feeds vertex 4 only: 32
    assert vc(128, 128, README.matrix) == [128, 32, 32, 32, 32, 32, 128]
    with pytest.raises(ValueError, match="prune the cell first"):
        vc(8, 8, [[0, 1, 0], [0, 0, 0], [0, 0, 0]])
    with pytest.raises(ValueError):  # 3 channels for 4 feeders: the benchmark would give vertex 5 none
        vc(8, 3, README.matrix)


def test_parameter_count_of_the_readme_cell_is_the_benchmarks():
    assert nets.count_params(README) == README_PARAMS
    assert nets.count_params(nb101.format(README), 128, 3, (3, 32, 32), 10) == README_PARAMS


def test_parameter_counts_derived_from_model_builder():
    # C=4, one cell a stack, 3x8x8 input, 10 classes. Stem conv3x3-bn-relu 3->4: 3*4*9 + 2*4 = 116.
    # Stacks at 4, 8, 16 channels (the first cell of stacks 1 and 2 goes 4->8 and 8->16). Dense 16*10 + 10 = 170.
    # CHAIN (input -> conv3x3 -> output; the vertex has all the cell's output channels): per cell a 1x1
    # projection of the input to the vertex, then its 3x3 conv:
    #   4->4: (4*4 + 8) + (4*4*9 + 8) = 176;  4->8: (4*8 + 16) + (8*8*9 + 16) = 640;
    #   8->16: (8*16 + 32) + (16*16*9 + 32) = 2496.   116 + 176 + 640 + 2496 + 170 = 3598
    assert nets.count_params(CHAIN, 4, 1, (3, 8, 8), 10) == 3598
    # DIRECT (input -> output): each cell is the output's 1x1 projection alone:
    #   (4*4 + 8) + (4*8 + 16) + (8*16 + 32) = 24 + 48 + 160.   116 + 232 + 170 = 518
    assert nets.count_params(DIRECT, 4, 1, (3, 8, 8), 10) == 518
    # BRANCH at C=5: stem 3*5*9 + 10 = 145; dense 20*10 + 10 = 210.
    #   cell 5->5: channels [5, 3, 3, 2, 5] (5 // 2 = 2, the remainder to vertex 2; vertex 1 = max(3, 2));
    #     projection 5->3: 15 + 6; conv1x1 3->3: 9 + 6; conv3x3 3->3: 81 + 6; maxpool (2 of vertex 1's 3
    #     channels): 0.  = 123
    #   cell 5->10: channels 5 each: projection 25 + 10, conv1x1 25 + 10, conv3x3 225 + 10 = 305
    #   cell 10->20: channels 10 each: 100 + 20, 100 + 20, 900 + 20 = 1160.   145 + 123 + 305 + 1160 + 210 = 1943
    assert nets.count_params(BRANCH, 5, 1, (3, 8, 8), 10) == 1943


@pytest.mark.parametrize("shape", [(1, 40), (1, 41), (3, 8, 8), (3, 9, 7)])
def test_forward_gives_logits(shape):
    torch.manual_seed(0)
    for spec in (README, BRANCH, DIRECT):
        net = nets.build(spec, 5, 2, shape, 7)
        out = net(torch.randn(2, *shape))
        assert out.shape == (2, 7) and torch.isfinite(out).all()


def test_network_follows_model_builder():
    net = nets.build(README, 8, 2, (3, 9, 9), 10)
    cells = [m for m in net.modules() if isinstance(m, nets.Cell)]
    pools = [m for m in net.layers if isinstance(m, torch.nn.MaxPool2d)]
    assert len(cells) == 6 and len(pools) == 2 and all(p.ceil_mode for p in pools)  # 9 -> 5 -> 3, as TF's 'same'
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    # PyTorch's momentum, not the benchmark's TF decay 0.997 (its ~40,000 steps; nb101_nets.ConvBnRelu)
    assert norms and all(m.momentum == 0.1 and m.eps == 1e-5 and m.affine for m in norms)
    assert all(m.bias is None for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    # the max-pool vertex holds no weights and keeps its channels; the output is the vertices' concatenation
    pool_vertex = cells[0].vertices[4]
    assert isinstance(pool_vertex.op, torch.nn.MaxPool2d) and pool_vertex.channels == 2  # 8 // 4 feeders
    x = net.stem(torch.randn(1, 3, 9, 9))
    assert cells[0](x).shape == (1, 8, 9, 9)
    assert net.classifier.in_features == 32  # 8, 16, 32 channels


# --- the SearchSpace: picks, the rule, canonical ---------------------------------------------------------

S = nb101.SPACE
# the README cell with its vertices written in another order (its 1x1 and first 3x3 swapped): isomorphic
SWAPPED = Spec(((0, 1, 1, 1, 0, 1, 0),) + README.matrix[1:],
               (INPUT, CONV3X3, CONV1X1, CONV3X3, CONV3X3, MAXPOOL3X3, OUTPUT))


def test_registered_with_its_choices():
    from nas.spaces import SPACES, get_space

    assert SPACES["nb101"] is S and get_space("nb101") is S and isinstance(S, nb101.NB101)
    keys = [c.key for c in S.choices()]
    assert keys[:5] == ["v1", "v2", "v3", "v4", "v5"] and all(c.candidates == nb101.OPS for c in S.choices()[:5])
    assert keys[5:] == [f"{i}->{j}" for i in range(7) for j in range(i + 1, 7)] and len(keys) == 26
    assert all(c.candidates == ("none", "edge") and c.group is None for c in S.choices()[5:])
    assert S.parameter_free == {MAXPOOL3X3, "none", "edge"} and S.supernet_forms == ("node",)
    assert S.kernel_pairs == () and S.constrained and not S.canonical_is_member and S.min_channels == 5


def test_picks_place_a_smaller_cell_at_v1_and_the_output_at_6():
    picks = S.to_picks(CHAIN)  # input -> conv3x3 -> output
    assert list(picks) == [c.key for c in S.choices()]
    assert picks["v1"] == CONV3X3 and all(picks[f"v{v}"] == nb101.OPS[0] for v in range(2, 6))
    assert {k for k, p in picks.items() if p == "edge"} == {"0->1", "1->6"}
    # BRANCH: vertices 1..3 at v1..v3, its output (vertex 4) at 6
    picks = S.to_picks(BRANCH)
    assert [picks[f"v{v}"] for v in (1, 2, 3)] == [CONV1X1, CONV3X3, MAXPOOL3X3]
    assert {k for k, p in picks.items() if p == "edge"} == {"0->1", "1->2", "1->3", "2->6", "3->6"}
    assert {k for k, p in S.to_picks(DIRECT).items() if p == "edge"} == {"0->6"}
    # the README cell uses every vertex: its picks are its matrix and ops as they are
    picks = S.to_picks(README)
    assert [picks[f"v{v}"] for v in range(1, 6)] == list(README.ops[1:-1])
    assert {k for k, p in picks.items() if p == "edge"} == {f"{i}->{j}" for i in range(7) for j in range(7)
                                                           if README.matrix[i][j]}


def test_picks_round_trip_on_pruned_cells_of_every_size():
    cells = [README, SWAPPED, CHAIN, DIRECT, BRANCH] + S.sample(40, 2)
    assert len({len(c.ops) for c in cells}) >= 5
    for arch in cells:
        picks = S.to_picks(arch)
        back = S.from_picks(picks)
        assert back == arch and isinstance(back, Spec)
        assert S.to_picks(S.format(arch)) == picks
        S.check_picks(picks)
    # a vertex off the cell: any op there is the same architecture
    assert S.from_picks(dict(S.to_picks(CHAIN), v2=MAXPOOL3X3, v5=CONV1X1)) == CHAIN
    # an unpruned spec gives the picks of its pruned cell (the benchmark prunes before anything)
    dangling = Spec(((0, 1, 1, 0), (0, 0, 0, 1), (0, 0, 0, 0), (0, 0, 0, 0)), (INPUT, CONV3X3, CONV1X1, OUTPUT))
    assert S.to_picks(dangling) == S.to_picks(CHAIN)
    # edges to or from an unused vertex are dangling: pruned away
    assert S.from_picks(dict(S.to_picks(CHAIN), **{"0->4": "edge", "5->6": "edge"})) == CHAIN


def test_check_picks_names_the_rule_broken():
    ten = dict(S.to_picks(README), **{"1->4": "edge"})  # README has 9 edges; one more between its vertices
    msg = error(S.check_picks, ten)
    assert msg.startswith("architecture {") and "too many edges: 10, at most 9 (NASBench._check_spec)" in msg
    assert S.violation(ten) == "too many edges: 10, at most 9 (NASBench._check_spec)"
    assert error(S.from_picks, ten) == msg  # from_picks returns architectures only
    cut = dict(S.to_picks(CHAIN), **{"1->6": "none"})
    msg = error(S.check_picks, cut)
    assert "no path from input (vertex 0) to output (vertex 6); the spec is disconnected (ModelSpec._prune)" in msg
    loose = dict(ten, **{"1->4": "none", "0->4": "edge"})
    assert S.violation(loose) == "too many edges: 10, at most 9 (NASBench._check_spec)"
    hanging = dict(S.to_picks(README), **{"v5": CONV1X1})
    assert S.violation(hanging) is None
    assert "choice v1: 'conv5x5' is not one of" in error(S.check_picks, dict(S.to_picks(CHAIN), v1="conv5x5"))
    on = dict(S.to_picks(CHAIN), **{"0->1": "on"})
    assert "choice 0->1: 'on' is not one of none, edge" in error(S.check_picks, on)
    assert "missing choices ['v5']" in error(S.from_picks, {k: v for k, v in S.to_picks(CHAIN).items() if k != "v5"})


def test_edges_beyond_nine_that_pruning_removes_are_valid_as_in_the_benchmark():
    # README's 9 edges plus one from vertex 1 to vertex 5, both on the cell: 10 live edges, refused
    assert "too many edges: 10" in S.violation(dict(S.to_picks(README), **{"1->5": "edge"}))
    # six vertices and 9 edges (v5 unused), plus two edges into v5, which feeds nothing: 11 written,
    # 9 after pruning: valid (NASBench._check_spec counts the pruned cell)
    six = Spec(((0, 1, 1, 1, 1, 0), (0, 0, 1, 0, 0, 1), (0, 0, 0, 0, 0, 1), (0, 0, 0, 0, 0, 1), (0, 0, 0, 0, 0, 1),
                (0, 0, 0, 0, 0, 0)), (INPUT, CONV1X1, CONV3X3, CONV3X3, MAXPOOL3X3, OUTPUT))
    picks = dict(S.to_picks(six), **{"0->5": "edge", "1->5": "edge"})
    assert sum(p == "edge" for p in picks.values()) == 11
    assert S.violation(picks) is None and S.from_picks(picks) == six


def test_canonical_is_the_benchmarks_hash():
    assert S.canonical(README) == README_HASH == S.canonical(S.format(README)) == S.canonical(SWAPPED)
    assert S.canonical(README_HASH) == README_HASH  # a key is returned as it is
    for arch in S.sample(30, 4):
        key = S.canonical(arch)
        assert key == nb101.module_hash(arch) == reference_hash(arch) and S.canonical(key) == key
    assert "not JSON" in error(S.canonical, "28cfc7874f6d200472e1a9dcd8650aa")  # 31 digits: not a key


def test_size_sampling_and_enumeration():
    assert S.num_unique() == S.size() == 423_624 and not S.enumerable
    assert S.isomorphism_classes() is None
    assert "423,624 unique cells are too many to enumerate" in error(S.enumerate_all)
    rng = np.random.default_rng(9)
    for _ in range(100):
        arch = S.random_arch(rng)
        assert nb101.make_spec(*arch) == arch == nb101.prune(arch)
        S.check_picks(S.to_picks(arch))
    assert S.sample(30, 7) == nb101.sample(30, 7)  # the generic sampler draws random_spec: the same pool


def test_operations_are_the_cells_vertices():
    assert S.operations(README) == list(README.ops[1:-1]) and S.operations(DIRECT) == []
    assert S.operations(CHAIN) == [CONV3X3] and S.parameter_free_count(BRANCH) == 1


def test_counts_params_and_flops():
    assert S.count_params_flops(README, 128, 3, (3, 32, 32), 10)[0] == README_PARAMS
    # DIRECT, C=4, one cell a stack, 3x8x8, 10 classes: stem 3*4*9 * 64 positions; the cells' 1x1
    # projections 4*4 * 64, 4*8 * 16, 8*16 * 4; the dense layer 16*10 + 10 bias adds
    assert S.count_params_flops(DIRECT, 4, 1, (3, 8, 8), 10) == (518, 6912 + 1024 + 512 + 512 + 170)


# --- the super-net -------------------------------------------------------------------------------------

from nas import supernet  # noqa: E402
from nas.spaces import nb201  # noqa: E402
from nas.spaces.base import NetworkSettings  # noqa: E402

RULES = ("fixed_chunck", "random_chunck", "expand")
THREE = Spec(((0, 1, 1), (0, 0, 1), (0, 0, 0)), (INPUT, CONV3X3, OUTPUT))  # conv3x3, and input -> output


def settings(rule=None, channels=6, cells=1, shape=(1, 16), classes=7, **kw) -> NetworkSettings:
    return NetworkSettings(channels, cells, shape, classes, op_on="node", dynamic_channels=rule, **kw)


def cell_of(net, index=0) -> nets.SuperCell:
    return [m for m in net.layers if isinstance(m, nets.SuperCell)][index]


@pytest.mark.parametrize("rule", (None,) + RULES)
@pytest.mark.parametrize("shape", [(1, 16), (3, 8, 8)], ids=["1d", "2d"])
def test_supernet_forward_gives_logits(rule, shape):
    torch.manual_seed(0)
    net = S.build_supernet(settings(rule, shape=shape, cells=2))
    for arch in (README, THREE, CHAIN, DIRECT, S.format(BRANCH)):
        for train in (True, False):
            net.train(train)
            out = net(torch.randn(3, *shape), arch)
            assert out.shape == (3, 7) and torch.isfinite(out).all()
    assert net(torch.randn(3, *shape), supernet.one_shot_path(S)).shape == (3, 7)


def test_width_blocks_hold_every_width_a_vertex_takes():
    assert nets.width_blocks(10) == (2, 3, 4, 5, 10) and nets.width_blocks(5) == (1, 2, 3, 5)
    rng = np.random.default_rng(0)
    specs = [nb101.random_spec(rng) for _ in range(300)] + [README, BRANCH]
    for k in range(5, 70, 3):
        blocks = set(nets.width_blocks(k))
        for spec in specs:
            assert set(nets.vertex_channels(k // 2 + 1, k, spec.matrix)[1:-1]) <= blocks


def copy_into_standalone(sup, spec: Spec, channels, cells, shape, classes) -> nets.Network:
    """The stand-alone network of `spec` holding the super-net's weights: each vertex's slices under
    fixed_chunck (first k of everything), the projections' first k rows."""
    alone = nets.build(spec, channels, cells, shape, classes)

    def conv_bn(dst: nets.ConvBnRelu, src: nets.DynamicConvBnRelu):
        out, inp = dst[0].weight.shape[:2]
        with torch.no_grad():
            dst[0].weight.copy_(src.conv.weight[:out, :inp])
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(dst[1], name).copy_(getattr(src.bn, name)[:out])

    with torch.no_grad():
        alone.stem[0].weight.copy_(sup.stem[0].weight)
        alone.stem[1].load_state_dict(sup.stem[1].state_dict())
        alone.classifier.load_state_dict(sup.classifier.state_dict())
    assert len(alone.layers) == len(sup.layers)
    for a, s in zip(alone.layers, sup.layers):
        if not isinstance(a, nets.Cell):
            continue
        for t, vertex in enumerate(a.vertices, start=1):
            if vertex.projection is not None:
                conv_bn(vertex.projection, s.projections[t - 1])
            if isinstance(vertex.op, nets.ConvBnRelu):
                conv_bn(vertex.op, s.vertices[t - 1][spec.ops[t]])
        if a.out_projection is not None:
            conv_bn(a.out_projection, s.out_projection)
    return alone


@pytest.mark.parametrize("shape", [(1, 16), (3, 8, 8)], ids=["1d", "2d"])
def test_fixed_chunck_is_the_benchmarks_network_with_sliced_weights(shape):
    torch.manual_seed(0)
    sup = S.build_supernet(settings("fixed_chunck", channels=6, cells=2, shape=shape))
    sup.train()
    rng = np.random.default_rng(0)
    for _ in range(6):  # move the running statistics, through many widths
        sup(torch.randn(8, *shape), nb101.random_spec(rng))
    sup.eval()
    x = torch.randn(5, *shape)
    for spec in (README, SWAPPED, BRANCH, CHAIN, THREE, DIRECT) + tuple(nb101.sample(5, 3)):
        alone = copy_into_standalone(sup, spec, 6, 2, shape, 7).eval()
        with torch.no_grad():
            assert torch.allclose(alone(x), sup(x, spec), atol=1e-5), spec
        # the slices used are exactly the stand-alone network's parameters
        used = sum(p.numel() for p in alone.parameters())
        assert used == nets.count_params(spec, 6, 2, shape, 7)


def test_random_chunck_draws_in_training_steps_only():
    torch.manual_seed(0)
    net = S.build_supernet(settings("random_chunck", channels=8))
    x = torch.randn(4, 1, 16)
    net.train()
    a, b = net(x, README), net(x, README)
    assert not torch.allclose(a, b)  # two chunks drawn (README at K=8: widths 2 of 8)
    torch.manual_seed(5)
    c = net(x, README)
    torch.manual_seed(5)
    assert torch.equal(c, net(x, README))  # drawn from torch's global generator: a resumed run repeats it
    fixed = S.build_supernet(settings("fixed_chunck", channels=8))
    fixed.load_state_dict(net.state_dict())
    state = torch.get_rng_state()
    with torch.no_grad():  # train mode without gradients (BN recalibration, batch statistics): the first chunk
        assert torch.equal(net(x, README), fixed(x, README))
    assert torch.equal(torch.get_rng_state(), state)  # nothing drawn
    net.eval()
    fixed.eval()
    e1, e2 = net(x, README), net(x, README)
    assert torch.equal(e1, e2) and torch.equal(e1, fixed(x, README))


def test_random_chunck_starts_are_uniform_and_never_the_last():
    torch.manual_seed(0)
    w = torch.arange(10.0)
    starts = [int(nets.chunk(w, 3, 0, "random_chunck", draw=True)[0]) for _ in range(2000)]
    assert set(starts) == set(range(7))  # np.random.randint(0, K - k): 0..6; start 7 (the last chunk) never
    assert torch.equal(nets.chunk(w, 10, 0, "random_chunck", draw=True), w)  # K == k: the whole
    assert torch.equal(nets.chunk(w, 3, 0, "random_chunck"), w[:3])


def test_expand_gives_each_width_its_block():
    torch.manual_seed(0)
    net = S.build_supernet(settings("expand", channels=10))
    cell = cell_of(net)
    assert nets.width_blocks(10) == (2, 3, 4, 5, 10)
    op = cell.vertices[0][CONV1X1]
    assert op.conv.weight.shape[:2] == (24, 24) and op.bn.num_features == 10
    assert cell.projections[0].conv.weight.shape[:2] == (24, 10)  # in: the cell's input (C), whole
    # README at K=10: four vertices feed the output, 10 // 4 = 2 with 2 left: v1 (1x1) and v2 have 3
    assert nets.vertex_channels(10, 10, README.matrix)[1:-1] == [3, 3, 2, 2, 2]
    net.train()
    net(torch.randn(4, 1, 16), README).square().sum().backward()
    for weight, rows, cols in ((op.conv.weight, slice(2, 5), slice(2, 5)),       # width 3: off 2
                               (cell.projections[0].conv.weight, slice(2, 5), slice(None)),
                               (cell.vertices[2][CONV3X3].conv.weight, slice(0, 2), slice(0, 2))):  # v3: width 2
        grad = weight.grad
        inside = torch.zeros_like(grad, dtype=torch.bool)
        inside[rows, cols] = True
        assert grad[inside].abs().sum() > 0 and grad[~inside].abs().sum() == 0
    assert op.bn.weight.grad[:3].abs().sum() > 0 and op.bn.weight.grad[3:].abs().sum() == 0  # BN: first k
    with pytest.raises(ValueError, match="width 7 is not among the expand blocks"):
        op(torch.randn(2, 7, 16))


def test_sliced_batch_norm_updates_its_first_entries_in_place():
    norm = torch.nn.BatchNorm1d(6)
    mean, var = norm.running_mean.clone(), norm.running_var.clone()
    x = torch.randn(8, 4, 5) * 3 + 2
    out = nets.sliced_batch_norm(norm, x)
    assert out.shape == x.shape and int(norm.num_batches_tracked) == 1
    assert not torch.allclose(norm.running_mean[:4], mean[:4]) and torch.equal(norm.running_mean[4:], mean[4:])
    assert not torch.allclose(norm.running_var[:4], var[:4]) and torch.equal(norm.running_var[4:], var[4:])
    reference = torch.nn.BatchNorm1d(4)
    assert torch.allclose(reference(x), out, atol=1e-6)
    assert torch.allclose(reference.running_mean, norm.running_mean[:4])
    bare = torch.nn.BatchNorm1d(6, affine=False, track_running_stats=False)
    assert torch.allclose(nets.sliced_batch_norm(bare.eval(), x), torch.nn.functional.batch_norm(
        x, None, None, training=True), atol=1e-6)


@pytest.mark.parametrize("rule", RULES)
def test_only_the_picked_operations_and_the_cells_vertices_get_gradients(rule):
    torch.manual_seed(0)
    net = S.build_supernet(settings(rule, channels=6))
    net.train()
    net(torch.randn(4, 1, 16), BRANCH).square().sum().backward()
    cell = cell_of(net)

    def trained(module):
        return any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())

    for v, choice in enumerate(cell.vertices, start=1):
        for op, module in choice.items():
            assert trained(module) == (v <= 3 and op == BRANCH.ops[v] and op != MAXPOOL3X3), (v, op)
    # only vertex 1 takes the cell input; BRANCH has no input -> output edge
    assert [trained(p) for p in cell.projections] == [True, False, False, False, False]
    assert not trained(cell.out_projection)
    net.zero_grad(set_to_none=True)
    net(torch.randn(4, 1, 16), THREE).square().sum().backward()
    assert trained(cell.out_projection) and trained(cell.projections[0])


def test_one_shot_path_averages_every_operation_on_every_edge():
    path = S.from_picks(S.to_picks(README) | {c.key: c.candidates for c in S.choices()})
    assert path == supernet.one_shot_path(S)
    assert sum(map(sum, path.matrix)) == 21 and all(op == nb101.OPS for op in path.ops[1:-1])
    assert S.to_picks(path)["v3"] == nb101.OPS
    torch.manual_seed(0)
    net = S.build_supernet(settings("expand", channels=10))
    net.train()
    net(torch.randn(4, 1, 16), path).square().sum().backward()
    assert all(m.conv.weight.grad is not None for c in cell_of(net).vertices for op, m in c.items()
               if op != MAXPOOL3X3)
    assert "choice v1 picks" in error(S.from_picks, S.to_picks(README) | {"v1": ("conv5x5",)})
    cut = {c.key: c.candidates for c in S.choices()} | {f"{i}->6": "none" for i in range(6)}
    assert "no path from input" in error(S.from_picks, cut)


def test_the_supernet_form_is_checked():
    with pytest.raises(UserError, match="supernet.op_on: 'edge' does not apply to space 'nb101'; it supports node"):
        S.build_supernet(NetworkSettings(6, 1, (1, 16), 7))
    assert "supernet.kernel_mapping: space 'nb101'" in error(S.build_supernet, settings(kernel_mapping=True))
    assert error(S.build_supernet, settings("chunky")) == ("supernet.dynamic_channels: 'chunky' does not apply to "
                                                          "space 'nb101'; it supports fixed_chunck, random_chunck, "
                                                          "expand")
    assert error(nb201.SPACE.check_supernet_form, "edge", False, "expand") == (
        "supernet.dynamic_channels: space 'nb201' has no vertices of variable width")
    nb201.SPACE.check_supernet_form("edge", False, None)


def test_spos_refuses_what_does_not_apply():
    from types import SimpleNamespace

    from nas.supernet.spos import SPOS

    def hp(**kw):
        return SimpleNamespace(**{"op_on": "node", "kernel_mapping": False, "dynamic_channels": None,
                                  "sampling": "uniform", "warmup_epochs": 0, "epochs": 2, "landmarks": 0} | kw)

    def where(key):
        return f"supernet.variants.v.{key}"

    SPOS.check(where, hp(dynamic_channels="expand"), S, 10, [1])
    assert error(SPOS.check, where, hp(op_on="edge", dynamic_channels="expand"), nb201.SPACE, 10, [1]) == (
        "supernet.variants.v.dynamic_channels: space 'nb201' has no vertices of variable width")
    msg = error(SPOS.check, where, hp(sampling="fairnas"), S, 10, [1])
    assert msg.startswith("supernet.variants.v.sampling: fairnas") and "obey a rule beyond their choices" in msg
    assert "too many to enumerate" in error(SPOS.check, where, hp(sampling="round_robin"), S, 10, [1])
    draw = supernet.uniform_sampler(S)
    generator = torch.Generator().manual_seed(0)
    paths = [draw(generator)[0] for _ in range(20)]
    assert all(nb101.prune(p) == p for p in paths) and len({nb101.module_hash(p) for p in paths}) > 10


def test_network_settings_meta_round_trip():
    plain = NetworkSettings(4, 1, (1, 16), 10)
    assert list(plain.to_meta()) == list(NetworkSettings.META_KEYS)  # NB201's checkpoints: unchanged keys
    assert NetworkSettings.from_meta(plain.to_meta()) == plain and plain.dynamic_channels is None
    for rule in RULES:
        net = settings(rule)
        meta = net.to_meta()
        assert list(meta) == list(NetworkSettings.META_KEYS) + ["dynamic_channels"]
        assert meta["dynamic_channels"] == rule and NetworkSettings.from_meta(meta) == net
    from types import SimpleNamespace

    hp = SimpleNamespace(channels=None, cells=None, bn_affine=True, bn_track=True, op_on="node",
                         kernel_mapping=False, global_dropout=0.0)
    data = SimpleNamespace(shape=(1, 16), num_classes=10)
    assert NetworkSettings.of(hp, 4, 1, data).dynamic_channels is None  # a config without the key
    hp.dynamic_channels = "expand"
    assert NetworkSettings.of(hp, 4, 1, data).dynamic_channels == "expand"


# --- the heuristics that apply train an NB101 super-net ---------------------------------------------

def _nb101_hp(**overrides):
    import copy

    from helpers import TINY_NB101
    from nas import config

    raw = copy.deepcopy(TINY_NB101)
    raw["supernet"].update(epochs=2, batch_size=32, variants={"v": overrides})
    return config.from_dict(raw).variant("v")


def _tiny_data():
    from nas.data import Tensors

    g = torch.Generator().manual_seed(0)
    return Tensors(torch.randn(96, 1, 16, generator=g), torch.randint(0, 10, (96,), generator=g), (1, 16), 10,
                   "mnist1d")


@pytest.mark.parametrize("overrides", [
    {}, {"dynamic_channels": "random_chunck"}, {"dynamic_channels": "expand"}, {"sampling": "random_nas"},
    {"warmup_epochs": 1}, {"path_dropout": 0.2, "global_dropout": 0.2}, {"bn_track": True, "bn_affine": True},
    {"wpl_weight": 1.0}, {"train_fraction": 0.5}, {"channels": 5}, {"lr_schedule": "constant"},
], ids=lambda o: ",".join(o) or "baseline")
def test_each_heuristic_that_applies_trains_an_nb101_supernet(overrides, tmp_path):
    from nas import supernet

    hp, data = _nb101_hp(**overrides), _tiny_data()
    torch.manual_seed(0)
    net = supernet.build(nb101.SPACE, hp, 6, 1, data)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    history = supernet.train(net, hp, nb101.SPACE, data, 0, torch.device("cpu"), tmp_path / "s.pt")
    assert len(history) == 2 and np.isfinite(history["train_loss"]).all()
    assert any(not torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_landmarks_train_an_nb101_supernet(tmp_path):
    from nas import supernet

    hp, data = _nb101_hp(landmarks=2), _tiny_data()
    marks = [(a, acc) for a, acc in zip(nb101.SPACE.sample(2, 0), (60.0, 70.0))]
    net = supernet.build(nb101.SPACE, hp, 6, 1, data)
    history = supernet.train(net, hp, nb101.SPACE, data, 0, torch.device("cpu"), tmp_path / "s.pt", landmarks=marks)
    assert np.isfinite(history["train_loss"]).all()


def test_a_random_chunck_run_resumes_to_the_bytes_of_one_uninterrupted_run(tmp_path):
    """random_chunck draws from torch's generator in every training step; the loop checkpoints it, so a run
    stopped after its first epoch and resumed ends with the weights of a run that never stopped."""
    from nas import supernet

    hp, data = _nb101_hp(dynamic_channels="random_chunck"), _tiny_data()

    def fresh():
        torch.manual_seed(0)
        return supernet.build(nb101.SPACE, hp, 6, 1, data)

    whole = fresh()
    supernet.train(whole, hp, nb101.SPACE, data, 0, torch.device("cpu"), tmp_path / "whole.pt")

    def killed(epoch, net):  # dies in epoch 2, before its state is kept: epoch 1's is on disk
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        supernet.train(fresh(), hp, nb101.SPACE, data, 0, torch.device("cpu"), tmp_path / "part.pt", on_epoch=killed)
    resumed = fresh()
    torch.manual_seed(123)  # a new process: the global generator elsewhere; the state restores it
    supernet.train(resumed, hp, nb101.SPACE, data, 0, torch.device("cpu"), tmp_path / "part.pt")
    assert all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()))


def test_heuristics_that_do_not_apply_to_nb101_are_one_line():
    from helpers import TINY_NB101
    from nas import config

    def error(**supernet_keys):
        raw = {**TINY_NB101, "supernet": {**TINY_NB101["supernet"], **supernet_keys}}
        return one_line_error(config.from_dict, raw)

    assert error(op_on="edge").startswith("supernet.op_on: 'edge' does not apply to space 'nb101'")
    assert error(kernel_mapping=True).startswith("supernet.kernel_mapping: space 'nb101' has no pair")
    assert error(sampling="fairnas").startswith("supernet.sampling: fairnas")
    assert error(sampling="round_robin").startswith("supernet.sampling: round_robin")
    assert error(method="darts", variants={"baseline": {}}).startswith("supernet.")
    assert one_line_error(config.from_dict, {**TINY_NB101, "space": {"name": "nb101", "channels": 4}}) == (
        "space.channels: 4 is not allowed; space 'nb101' needs at least 5 channels (NAS-Bench-101: one for each "
        "vertex that can feed a cell's output)")
    from helpers import TINY
    assert one_line_error(config.from_dict, {**TINY, "supernet": {**TINY["supernet"], "dynamic_channels": "expand"}}) \
        == "supernet.dynamic_channels: space 'nb201' has no vertices of variable width"
