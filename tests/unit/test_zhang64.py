"""nas.spaces.zhang64: the 64-child space of Zhang et al. — its order, numbering, strings, network."""

from __future__ import annotations

import pytest
import torch

from helpers import one_line_error
from nas.spaces import get_space, zhang64

S = zhang64.SPACE


def test_64_children_enumerated_in_the_papers_index_order():
    children = S.enumerate_all()
    assert S.size() == len(children) == S.num_unique() == 64
    assert [S.child_index(c) for c in children] == list(range(64))
    assert [S.from_index(i) for i in range(64)] == children
    # 16·op1 + 4·op2 + op3, operations in the paper's PRIMITIVES order
    assert S.child_index(("sep_conv_3x3", "max_pool_3x3", "dil_conv_5x5")) == 16 * 1 + 4 * 0 + 3
    assert get_space("zhang64") is S


@pytest.mark.parametrize("groups", [2, 4, 8, 16])
def test_index_groups_share_a_prefix_of_choices(groups):
    """The paper's 'similar' grouping (index // (64 / g)) puts together children with the same first choices."""
    size = 64 // groups
    by_group: dict[int, set] = {}
    for child in S.enumerate_all():
        by_group.setdefault(S.child_index(child) // size, set()).add(child)
    prefix = {2: 0, 4: 1, 8: 1, 16: 2}[groups]  # choices fixed within a group: 4 ** k groups fix k choices
    for members in by_group.values():
        assert len(members) == size
        assert len({m[:prefix] for m in members}) == 1


def test_string_round_trip_and_sampling_the_whole_space():
    for child in S.enumerate_all():
        assert S.parse(S.format(child)) == child
        assert S.canonical(child) == S.format(child)  # no two children are one function
    assert S.format(("sep_conv_3x3", "max_pool_3x3", "dil_conv_5x5")) == zhang64.EXAMPLE
    assert sorted(S.sample(64, seed=3)) == sorted(S.enumerate_all())


@pytest.mark.parametrize("text, match", [
    ("|sep_conv_3x3~0|", "expected 2 groups joined by '+'"),
    ("|sep_conv_3x3~0|+|max_pool_3x3~0|", "group 2 '|max_pool_3x3~0|' should list the 2 edge(s) into node 2"),
    ("|sep_conv_3x3~0|+|max_pool_3x3~1|dil_conv_5x5~0|", "edge 1 of node 2 comes from node 1; expected 0"),
    ("|conv_7x7~0|+|max_pool_3x3~0|dil_conv_5x5~1|", "unknown operation 'conv_7x7'"),
])
def test_malformed_strings_are_one_line_errors(text, match):
    assert match in one_line_error(S.parse, text)
    assert "expected 0..63" in one_line_error(S.from_index, 64)


@pytest.mark.parametrize("shape", [(1, 40), (3, 8, 8)])
def test_network_shape_and_paper_structure(shape):
    net = S.build(zhang64.EXAMPLE, 4, 4, shape, 10)
    assert len(net.cells) == 4  # identical stacked cells, no reduction
    out = net(torch.randn(2, *shape))
    assert out.shape == (2, 10)
    params, flops = S.count_params_flops(zhang64.EXAMPLE, 4, 4, shape, 10)
    assert params == sum(p.numel() for p in net.parameters()) and flops > 0
    pool = S.build("|max_pool_3x3~0|+|max_pool_3x3~0|max_pool_3x3~1|", 4, 4, shape, 10)
    conv = S.build("|sep_conv_5x5~0|+|sep_conv_5x5~0|sep_conv_5x5~1|", 4, 4, shape, 10)
    assert sum(p.numel() for p in pool.parameters()) < sum(p.numel() for p in conv.parameters())
    assert S.parameter_free_count("|max_pool_3x3~0|+|max_pool_3x3~0|sep_conv_3x3~1|") == 2
