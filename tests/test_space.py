"""nas.spaces.nb201: the string format, isomorphism classes, sampling, counts and the networks."""

from __future__ import annotations

import pytest
import torch

from conftest import one_line_error
from nas.spaces import SPACES, get_space, nb201
from nas.spaces.nb201 import OPS, canonical, enumerate_all, num_unique, parse, sample

ALL = enumerate_all()
NONE_CELL = ("none",) * 6
NONE_STRING = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
VALID = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"

# Short names; a cell is (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2), the order of nb201.EDGES.
N, S, C1, C3, P = "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"


def key(arch) -> str:
    return nb201._function_key(tuple(arch))


error = one_line_error


# --- encoding ---------------------------------------------------------------------------------------

def test_space_registry():
    assert get_space("nb201") is nb201 and SPACES == {"nb201": nb201}
    msg = error(get_space, "nb999")
    assert "space.name" in msg and "'nb999'" in msg and "nb201" in msg


def test_parse_known_string_in_edge_order():
    # The best CIFAR-10 cell of NAS-Bench-201; the tuple follows nb201.EDGES.
    assert nb201.EDGES == ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
    assert parse(VALID) == (C3, C3, P, S, C3, S)
    assert nb201.format((C3, C3, P, S, C3, S)) == VALID
    assert parse("  " + VALID + "\n") == parse(VALID)  # surrounding whitespace is tolerated


def test_round_trip_all_cells():
    assert len(ALL) == 5 ** 6 == 15_625
    assert len(set(ALL)) == 15_625
    strings = [nb201.format(a) for a in ALL]
    assert len(set(strings)) == 15_625
    for arch, text in zip(ALL, strings):
        assert parse(text) == arch
        assert nb201.format(parse(text)) == text


@pytest.mark.parametrize("text, expected", [
    ("|none~0|+|none~0|none~1|", "expected 3 '+'-separated node groups, got 2"),
    (NONE_STRING + "+|none~0|", "expected 3 '+'-separated node groups, got 4"),
    ("", "expected 3 '+'-separated node groups, got 1"),
    ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "node group 'none~0|' must start and end with '|'"),
    ("|none~0|+|none~0|none~1+|none~0|none~1|none~2|", "node group '|none~0|none~1' must start and end"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2 input edge(s), got 1"),
    ("|none~0|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 needs 1 input edge(s), got 2"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|", "node 3 needs 3 input edge(s), got 2"),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "edge 'none~1' should read 'op~0'"),
    ("|none~0|+|none~0|none~0|+|none~0|none~1|none~2|", "edge 'none~0' should read 'op~1'"),
    ("|none|+|none~0|none~1|+|none~0|none~1|none~2|", "edge 'none' should read 'op~0'"),
])
def test_parse_malformed(text, expected):
    msg = error(parse, text)
    assert msg.startswith(f"architecture {text!r}:")
    assert expected in msg


def test_parse_unknown_operation_lists_valid_ones():
    msg = error(parse, "|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert "unknown operation 'conv_5x5'" in msg
    assert "expected one of none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3" in msg


@pytest.mark.parametrize("value", [None, 3, NONE_CELL, b"|none~0|"])
def test_parse_non_string(value):
    msg = error(parse, value)
    assert f"architecture {value!r}: expected a string like |nor_conv_3x3~0|+" in msg


@pytest.mark.parametrize("arch", [("none",) * 5, ("none",) * 7, ("none",) * 5 + ("conv",)])
def test_format_rejects_bad_tuples(arch):
    msg = error(nb201.format, arch)
    assert "expected 6 operations from none, skip_connect" in msg


def test_canonical_and_build_reject_malformed():
    assert "unknown operation 'conv'" in error(canonical, "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert "unknown operation 'conv'" in error(nb201.build, ("conv",) + NONE_CELL[1:], 2, 1, (1, 16), 3)


# --- isomorphism ------------------------------------------------------------------------------------

def same_class(a, b):
    assert key(a) == key(b), (key(a), key(b))
    assert canonical(a) == canonical(b)
    assert canonical(nb201.format(a)) == canonical(a)  # strings and tuples agree


def distinct(a, b):
    assert key(a) != key(b)
    assert canonical(a) != canonical(b)


def test_rule_a_edges_into_dead_node_are_ignored():
    # 3<-2 is none, so node 2 cannot reach the output: whatever enters it does not matter.
    base = (C3, N, N, C1, S, N)
    for e20 in OPS:
        for e21 in OPS:
            same_class(base, (C3, e20, e21, C1, S, N))
    # ... but once node 2 feeds the output, its inputs matter.
    distinct((C3, C1, N, C1, S, S), (C3, C3, N, C1, S, S))


def test_rule_b_none_and_edges_from_zero_node():
    # Node 1 is zero (1<-0 none): every edge out of it contributes nothing, like a none edge.
    base = (N, C3, N, C1, N, S)
    for e21 in OPS:
        for e31 in OPS:
            same_class(base, (N, C3, e21, C1, e31, S))
    # A node that only receives edges from zero nodes is itself zero: the whole cell is the zero cell.
    assert key((N, N, C3, N, P, C1)) == "0"
    assert canonical((N, N, C3, N, P, C1)) == NONE_STRING
    # A zero output with live inner nodes: node 2 = conv(x) but nothing live reaches node 3.
    assert key((N, C3, S, N, C3, N)) == "0"
    # But an edge from the (non-zero) input is not dropped.
    distinct((N, C3, N, C1, N, S), (N, C3, N, N, N, S))


def test_rule_c_commutativity():
    # Node 1 = x (skip), so 3<-0 and 3<-1 both see x: swapping their ops is an isomorphism.
    same_class((S, N, N, C3, C1, N), (S, N, N, C1, C3, N))
    same_class((S, N, N, P, C3, N), (S, N, N, C3, P, N))
    # The same through node 2: 2<-0 and 2<-1 both see x.
    same_class((S, C1, C3, N, N, C3), (S, C3, C1, N, N, C3))
    # Not an isomorphism when node 1 = conv(x): the two edges see different inputs.
    distinct((C3, N, N, C3, C1, N), (C3, N, N, C1, C3, N))


def test_rule_d_skip_of_a_sum_merges_terms():
    # node 2 = conv3(x) + conv1(x); node 3 = skip(node 2)  ==  node 3 = conv3(x) + conv1(x) directly.
    same_class((S, C3, C1, N, N, S), (S, N, N, C3, C1, N))
    assert key((S, C3, C1, N, N, S)) == "nor_conv_1x1(x)+nor_conv_3x3(x)"
    # Associativity: conv1(x) + (x + conv3(x)) is conv1(x) + x + conv3(x), wherever the sum is formed.
    same_class((C3, S, S, C1, N, S), (C3, S, N, C1, S, S))
    assert key((C3, S, S, C1, N, S)) == "nor_conv_1x1(x)+nor_conv_3x3(x)+x"
    # A skip of a single term passes it through: conv3(conv3(x)) via node 2 or directly into node 3.
    same_class((C3, N, C3, N, N, S), (C3, N, N, N, C3, N))
    # A skip chain is the identity.
    assert key((S, N, S, N, N, S)) == key((N, N, N, S, N, N)) == "x"


def test_non_isomorphic_cells_stay_distinct():
    distinct((N, N, N, C1, N, N), (N, N, N, C3, N, N))      # conv1x1 vs conv3x3 on the same edge
    distinct((S, N, N, C3, C3, N), (N, N, N, C3, N, N))      # two parallel convs vs one
    assert key((S, N, N, C3, C3, N)) == "nor_conv_3x3(x)+nor_conv_3x3(x)"  # kept twice: separate weights
    distinct((S, N, N, C3, C3, N), (S, S, S, N, N, C3))      # conv(x) + conv(x) vs conv(x + x)
    distinct((C3, N, N, N, C3, N), (S, N, N, C3, C3, N))     # conv(conv(x)) vs conv(x) + conv(x)
    distinct((N, N, N, P, N, N), (N, N, N, S, N, N))         # pooling is not identity
    distinct(NONE_CELL, (N, N, N, S, N, N))                  # zero vs identity


def test_canonical_is_idempotent_and_in_its_class():
    canon = {}
    for arch in ALL:
        c = canonical(arch)
        assert canonical(c) == c
        assert key(parse(c)) == key(arch)
        canon.setdefault(key(arch), set()).add(c)
    assert all(len(v) == 1 for v in canon.values())  # one canonical string per class
    # Deterministic representative: the first member in enumerate_all order.
    assert canonical((N, N, C3, N, P, C1)) == nb201.format(NONE_CELL)


def test_num_unique():
    # 4,930 classes under the rules of `_function_key`. NAS-Bench-201 itself reports 6,466 unique cells:
    # its isomorphism keeps terms coming from zero nodes (BN shift) and does not flatten sums through
    # skip connections, so it merges fewer cells.
    distinct_canon = {canonical(a) for a in ALL}
    assert num_unique() == len(distinct_canon) == len({key(a) for a in ALL}) == 4930


# --- numerics: isomorphic cells compute the same function --------------------------------------------

def standalone(arch, seed):
    torch.manual_seed(seed)
    return nb201.build(arch, channels=4, cells=1, input_shape=(1, 16), num_classes=3)


def copy_weights(src, dst, edge_map):
    """Give `dst` the weights of `src`: the same stem/reductions/head, and on each cell edge e of dst the
    weights of edge edge_map[e] of src (same operation). Edges of dst not in edge_map keep their own."""
    cell_prefix = {f"blocks.{i}.edges." for i, b in enumerate(dst.blocks) if isinstance(b, nb201.Cell)}
    state = {k: v for k, v in src.state_dict().items() if not any(k.startswith(p) for p in cell_prefix)}
    missing = dst.load_state_dict(state, strict=False).missing_keys
    assert all(any(k.startswith(p) for p in cell_prefix) for k in missing)
    for s_block, d_block in zip(src.blocks, dst.blocks):
        if isinstance(d_block, nb201.Cell):
            for e_dst, e_src in edge_map.items():
                (op,) = d_block.edges[e_dst].keys()
                d_block.edges[e_dst][op].load_state_dict(s_block.edges[e_src][op].state_dict())


# Pairs (a, b, edge map b-edge -> a-edge). The nets run in training mode, so batch norm normalises with
# batch statistics: an operation applied to a zero node then gives exactly BN's shift, which is 0 at
# initialisation; that is the assumption rule (b) states (it ignores the learnable shift).
PAIRS = {
    "commutativity": ((S, N, N, C3, C1, N), (S, N, N, C1, C3, N), {0: 0, 3: 4, 4: 3}),
    "dead node": ((C3, C1, P, C3, S, N), (C3, N, N, C3, S, N), {0: 0, 3: 3, 4: 4}),
    "zero node": ((N, C3, C1, S, C3, C1), (N, C3, N, S, N, C1), {1: 1, 3: 3, 5: 5}),
    "skip of a sum": ((S, C3, C1, N, N, S), (S, N, N, C3, C1, N), {0: 0, 3: 1, 4: 2}),
}


@pytest.mark.parametrize("name", list(PAIRS))
def test_isomorphic_pairs_compute_the_same_function(name):
    a, b, edge_map = PAIRS[name]
    assert canonical(a) == canonical(b)
    x = torch.randn(8, 1, 16, generator=torch.Generator().manual_seed(1))
    net_a, net_b = standalone(a, 0), standalone(b, 1)
    with torch.no_grad():
        unrelated = net_b(x)
        copy_weights(net_a, net_b, edge_map)
        out_a, out_b = net_a(x), net_b(x)
    assert not torch.allclose(out_a, unrelated, atol=1e-4)  # the check can fail: weights matter
    torch.testing.assert_close(out_b, out_a, atol=1e-5, rtol=1e-5)


def test_tied_supernet_agrees_with_canonical_on_sampled_cells():
    # A stronger, broad check: a super-net (the project's default: no BN affine, no running stats, so
    # an operation on a zero node is exactly zero) whose weights for each operation are the same on all
    # six edges. Then each term op(expr) of the function key is one tensor whichever edge makes it, so
    # every cell and its canonical representative must give the same logits.
    torch.manual_seed(0)
    net = nb201.build_supernet(4, 1, (1, 16), 3, affine=False, track=False)
    for block in net.blocks:
        if isinstance(block, nb201.Cell):
            for edge in block.edges[1:]:
                edge.load_state_dict(block.edges[0].state_dict())
    x = torch.randn(8, 1, 16, generator=torch.Generator().manual_seed(2))
    cells = [ALL[i] for i in torch.randperm(len(ALL), generator=torch.Generator().manual_seed(3))[:150]]
    with torch.no_grad():
        for arch in cells:
            torch.testing.assert_close(net(x, arch), net(x, parse(canonical(arch))), atol=1e-5, rtol=1e-5,
                                       msg=lambda m, a=arch: f"{nb201.format(a)}: {m}")
        # and non-isomorphic cells do differ
        for a, b in [((N, N, N, C1, N, N), (N, N, N, C3, N, N)),
                     ((S, N, N, C3, C3, N), (N, N, N, C3, N, N)),
                     ((S, N, N, C3, C3, N), (S, S, S, N, N, C3))]:
            assert not torch.allclose(net(x, a), net(x, b), atol=1e-4)


@pytest.mark.parametrize("arch", [NONE_CELL, (N, N, C3, N, P, C1), (N, C3, S, N, C3, N)])
def test_zero_cells_give_an_input_independent_output(arch):
    # Rule (b) numerically, without any weight copying: a cell whose output is zero makes the whole
    # network constant in eval mode, even with non-trivial batch-norm statistics and shifts.
    net = standalone(arch, 0)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.bias.uniform_(-1, 1)
    net.eval()
    x = torch.randn(6, 1, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = net(x)
        assert torch.equal(out, out[:1].expand_as(out))
        torch.testing.assert_close(net(torch.zeros(1, 1, 16)), out[:1])
        live = standalone((N, C3, N, C3, N, S), 0).eval()(x)
    assert not torch.allclose(live, live[:1].expand_as(live))  # a live cell does depend on the input


# --- sampling -----------------------------------------------------------------------------------------

def test_sample_distinct_classes_and_deterministic():
    pool = sample(40, seed=7)
    assert len(pool) == 40
    assert all(isinstance(a, tuple) and len(a) == 6 and set(a) <= set(OPS) for a in pool)
    assert len({canonical(a) for a in pool}) == 40
    assert sample(40, seed=7) == pool
    assert sample(40, seed=8) != pool
    assert sample(10, seed=7) == pool[:10]  # a prefix: more archs extend, never reshuffle, the pool


def test_sample_whole_space():
    pool = sample(num_unique(), seed=0)
    assert len({canonical(a) for a in pool}) == 4930


@pytest.mark.parametrize("n, expected", [
    (4931, "sample.archs: 4931 is more than the 4930 unique cells of nb201"),
    (0, "sample.archs: 0 must be at least 1"),
    (-3, "sample.archs: -3 must be at least 1"),
])
def test_sample_bad_count(n, expected):
    assert error(sample, n, 0) == expected


# --- counts -------------------------------------------------------------------------------------------

def test_counts_match_nas_bench_201():
    # NAS-Bench-201's CIFAR-10 network with the all-3x3-conv cell: 1.531546 MB params, 220.11969 MFLOPs.
    assert nb201.count_params_flops((C3,) * 6, 16, 5, (3, 32, 32), 10) == (1_531_546, 220_119_690)


def test_counts_relations():
    conv = nb201.count_params_flops((C3,) * 6, 4, 1, (1, 16), 3)
    none = nb201.count_params_flops(NONE_CELL, 4, 1, (1, 16), 3)
    pool = nb201.count_params_flops((P,) * 6, 4, 1, (1, 16), 3)
    skip = nb201.count_params_flops((S,) * 6, 4, 1, (1, 16), 3)
    one_conv = nb201.count_params_flops((N, N, N, C3, N, N), 4, 1, (1, 16), 3)
    assert none[0] < one_conv[0] < conv[0] and none[1] < one_conv[1] < conv[1]
    assert pool == skip == none  # pooling and skips have no parameters (and no counted FLOPs)
    # one 1-D 3-conv edge per cell: C*C*3 weights + 2C BN params, at C, 2C, 4C
    assert one_conv[0] - none[0] == sum(c * c * 3 + 2 * c for c in (4, 8, 16))
    assert nb201.count_params_flops(VALID, 4, 1, (1, 16), 3) == nb201.count_params_flops(parse(VALID), 4, 1, (1, 16), 3)


# --- networks -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 16), (3, 8, 8)])
def test_build_output_shape(shape):
    net = nb201.build(VALID, channels=4, cells=1, input_shape=shape, num_classes=3)
    assert net.arch == parse(VALID)
    out = net(torch.randn(5, *shape))
    assert out.shape == (5, 3)
    assert torch.isfinite(out).all()
    sn = nb201.build_supernet(4, 1, shape, 3)
    assert sn(torch.randn(2, *shape), parse(VALID)).shape == (2, 3)


def test_build_only_has_the_cell_operations():
    net = nb201.build((N, S, C1, C3, P, C3), channels=2, cells=2, input_shape=(1, 16), num_classes=3)
    cells = [b for b in net.blocks if isinstance(b, nb201.Cell)]
    assert len(cells) == 6  # 3 stages x 2 cells
    # none has no module, skip/pool have no parameters
    assert [list(e.keys()) for e in cells[0].edges] == [[], [S], [C1], [C3], [P], [C3]]


def test_supernet_paths_and_gradients():
    torch.manual_seed(0)
    net = nb201.build_supernet(4, 1, (1, 16), 3)
    x = torch.randn(8, 1, 16)
    a, b = (C3,) * 6, (C1, S, P, C1, N, C1)
    with torch.no_grad():
        assert not torch.allclose(net(x, a), net(x, b), atol=1e-4)
    net(x, a).square().sum().backward()
    cells = [blk for blk in net.blocks if isinstance(blk, nb201.Cell)]
    assert len(cells) == 3
    for cell in cells:
        for edge in cell.edges:
            assert set(edge.keys()) == {S, C1, C3, P}  # every parametric/identity op, none has no module
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in edge[C3].parameters())
            assert all(p.grad is None for p in edge[C1].parameters())
    net.zero_grad(set_to_none=True)
    net(x, b).square().sum().backward()
    for cell in cells:
        assert all(p.grad is None for e in cell.edges for p in e[C3].parameters())
        assert all(p.grad is not None for p in cell.edges[0][C1].parameters())   # 1<-0: on the path
        assert all(p.grad is None for p in cell.edges[4][C1].parameters())       # 3<-1 is none in b
