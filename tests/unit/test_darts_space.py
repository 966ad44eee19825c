"""The DARTS cell space (nas/spaces/darts.py): published genotypes, counts, isomorphism, bad strings."""

from __future__ import annotations

import pytest
import torch

from helpers import one_line_error
from nas.spaces import darts

S = darts.SPACE
# DARTS (second order) and DARTS (first order), as the DARTS paper's genotypes.py publishes them.
DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")
DARTS_V1 = ("Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), "
            "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('avg_pool_3x3', 0)], reduce_concat=range(2, 6))")


def pairs(text: str, kind: str) -> list[set]:
    """A genotype's (op, input) pairs per node, as sets (a node's two inputs have no order)."""
    import ast
    call = ast.parse(text, mode="eval").body
    value = ast.literal_eval(next(k.value for k in call.keywords if k.arg == kind))
    return [set(value[i:i + 2]) for i in range(0, 8, 2)]


@pytest.mark.parametrize("text", [DARTS_V2, DARTS_V1], ids=["DARTS_V2", "DARTS_V1"])
def test_published_genotype_round_trips(text):
    arch = S.parse(text)
    out = S.format(arch)
    assert S.parse(out) == arch and S.format(S.parse(out)) == out
    for kind in ("normal", "reduce"):  # the same pairs per node; only the order inside a node may change
        assert pairs(out, kind) == pairs(text, kind)
    assert out.startswith("Genotype(normal=[") and out.endswith("reduce_concat=[2, 3, 4, 5])")


def test_size_and_published_parameter_count():
    assert S.size() == (1 * 3 * 6 * 10 * 7 ** 8) ** 2
    assert not S.enumerable
    params, flops = S.count_params_flops(DARTS_V2, 36, 6, (3, 32, 32), 10)  # 20 cells, as DARTS evaluates it
    assert params == 3_349_342  # DARTS's training log: "param size = 3.349342MB" (auxiliary head excluded)
    assert flops > 0
    assert len(S.build(DARTS_V2, 4, 1, (1, 12), 3).cells) == 5  # 3N + 2 cells, reduce cells at N and 2N + 1
    assert [c.reduction for c in S.build(DARTS_V2, 4, 2, (1, 12), 3).cells] == [0, 0, 1, 0, 0, 1, 0, 0]


def renumber(text: str, number: dict[int, int]) -> str:
    """`text` with the normal cell's intermediate nodes renumbered by `number`."""
    picks = S.to_picks(S.parse(text))
    out = dict(picks)
    for key in [k for k in picks if k.startswith("normal:")]:
        out[key] = "none"
    for key, op in picks.items():
        if key.startswith("normal:") and op != "none":
            j, i = map(int, key[len("normal:"):].split("<-"))
            out[f"normal:{number.get(j, j)}<-{number.get(i, i)}"] = op
    return S.format(S.from_picks(out))


# nodes 2 and 3 both read only the cell inputs, so swapping them keeps every edge going upwards
SWAPPABLE = ("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('dil_conv_3x3', 0), ('max_pool_3x3', 1), "
             "('sep_conv_5x5', 2), ('avg_pool_3x3', 3), ('dil_conv_5x5', 3), ('sep_conv_3x3', 4)], "
             "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
             "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
             "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


def test_renumbered_nodes_are_one_class_and_compute_the_same_function():
    swapped = renumber(SWAPPABLE, {2: 3, 3: 2})
    assert swapped != SWAPPABLE and S.canonical(swapped) == S.canonical(SWAPPABLE)
    assert S.canonical(S.canonical(SWAPPABLE)) == S.canonical(SWAPPABLE)
    assert S.canonical(DARTS_V2) != S.canonical(SWAPPABLE)
    # the weights mapping: edge j<-i of one is edge number(j)<-number(i) of the other, and the channels a
    # normal cell outputs (nodes 2..5 concatenated) are permuted for the convolutions that read them
    torch.manual_seed(0)
    a, b = S.build(SWAPPABLE, 4, 1, (1, 16), 3), S.build(swapped, 4, 1, (1, 16), 3)
    number = {0: 0, 1: 1, 2: 3, 3: 2, 4: 4, 5: 5}
    edge_of = {(j, i): k for k, (j, i) in enumerate(darts.EDGES)}
    state = {}
    for name, tensor in a.state_dict().items():
        parts = name.split(".")
        if parts[0] == "cells" and parts[2] == "edges" and not a.cells[int(parts[1])].reduction:
            j, i = darts.EDGES[int(parts[3])]
            parts[3] = str(edge_of[(number[j], number[i])])
        state[".".join(parts)] = tensor
    order = [node - 2 for node in sorted(darts.NODES, key=lambda n: number[n])]

    def permute_inputs(key):  # a weight reading a normal cell's output: its input channels follow the nodes
        c = state[key].shape[1] // len(darts.NODES)
        state[key] = state[key][:, torch.cat([torch.arange(c) + c * n for n in order])]

    for index in range(len(a.cells)):
        for pre, back in (("preprocess1", 1), ("preprocess0", 2)):
            source = index - back
            if source >= 0 and not a.cells[source].reduction:
                weights = [k for k in state if k.startswith(f"cells.{index}.{pre}.") and k.endswith("weight")
                           and state[k].dim() == 3]  # the 1x1 convs (ReLUConvBN or FactorizedReduce)
                for key in weights:
                    permute_inputs(key)
    if not a.cells[-1].reduction:
        permute_inputs("classifier.weight")
    b.load_state_dict(state)
    a.eval(), b.eval()
    x = torch.randn(5, 1, 16)
    assert torch.allclose(a(x), b(x), atol=1e-5)


@pytest.mark.parametrize("text, expected", [
    ("Genotype(normal=[('sep_conv_3x3', 0)", "not Python syntax"),
    ("Network(normal=[])", "expected Genotype("),
    (DARTS_V2.replace("'dil_conv_3x3'", "'conv_7x1_1x7'"), "normal[7]: unknown operation 'conv_7x1_1x7'"),
    (DARTS_V2.replace("('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0)",
                      "('sep_conv_3x3', 0), ('sep_conv_3x3', 0)"), "normal: 7 (operation, input) pairs; expected 8"),
    (DARTS_V2.replace("('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0)",
                      "('sep_conv_3x3', 0), ('sep_conv_3x3', 0), ('sep_conv_3x3', 0)"),
     "normal: node 2 takes input 0 twice"),
    (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"), "normal[7]: node 5 cannot take input 5"),
    (DARTS_V2.replace("('dil_conv_3x3', 2)", "('none', 2)"), "normal[7]: unknown operation 'none'"),
    (DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3, 4]"), "normal_concat: [2, 3, 4] is not"),
    (DARTS_V2.replace(", reduce_concat=[2, 3, 4, 5]", ""), "fields reduce_concat missing"),
    (DARTS_V2.replace("('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip", "('max_pool_3x3', 0), 'x', ('skip"),
     "reduce[1]: 'x' should be an ('operation', input) pair"),
    (DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=__import__('os')"), "normal_concat is not a literal"),
])
def test_bad_genotypes_name_the_part(text, expected):
    message = one_line_error(S.parse, text)
    assert message.startswith("architecture ") and expected in message, message


def test_parameter_free_count_counts_the_genotypes_operations_not_its_unused_edges():
    import re

    ops = re.findall(r"\('(\w+)', \d\)", DARTS_V2)
    assert len(S.operations(DARTS_V2)) == len(ops) == 16  # 2 inputs x 4 nodes x 2 cells; `none` edges are not ops
    assert S.parameter_free_count(DARTS_V2) == sum(op in ("skip_connect", "max_pool_3x3", "avg_pool_3x3") for op in ops)
    assert S.parameter_free_count(DARTS_V2) > 0


# --- hostile strings: refused before any work, in bounded time and memory (issue 30) --------------------

@pytest.mark.parametrize("concat", ["range(1000000000000)", "range(2, 1000000000000)", "range(-10**3, 10**3)",
                                    "range(0, 10, 0)"])
def test_a_huge_range_is_refused_before_it_is_expanded(concat):
    message = one_line_error(S.parse, DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", f"normal_concat={concat}"))
    assert message.startswith("architecture 'Genotype(") and "normal_concat" in message and len(message) < 400, message


@pytest.mark.parametrize("text", [
    "Genotype(normal=[" + "('sep_conv_3x3', 0), " * 500_000 + "], normal_concat=[2, 3, 4, 5], reduce=[], "
    "reduce_concat=[2, 3, 4, 5])",                                   # 10 MB of pairs
    "Genotype(normal=" + "[" * 10**6 + "]" * 10**6 + ")",            # nested deep
    "Genotype(normal=[('" + "x" * 9_000 + "', 0)])",                 # under the limit: parsed, cut in the message
    "Genotype(normal=" + "(" * 4_000 + ")" * 4_000 + ")",            # too deep for Python's parser
], ids=["10MB", "nested-2MB", "9000-chars", "parens-8000-chars"])
def test_long_or_deep_genotypes_are_one_short_line_at_once(text):
    import time

    start = time.perf_counter()
    message = one_line_error(S.parse, text)
    assert time.perf_counter() - start < 2
    assert message.startswith("architecture 'Genotype(") and len(message) < 500, message[:600]
    if len(text) > 10_000:
        assert f"{len(text):,} characters; an architecture string is at most 10,000 long" in message
