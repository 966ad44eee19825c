"""nas.supernet.sharing: prefix sharing and grouping (Zhang et al.) — who shares which weights, who
moves when a child trains, the partitions, the compute settings, checkpoints and bad settings."""

from __future__ import annotations

import pytest
import torch

from helpers import TINY, one_line_error
from nas import config, io, supernet
from nas.data import Tensors
from nas.spaces import nb201, zhang64
from nas.supernet import sharing
from nas.train import make_optimizer, train_epoch

S = zhang64.SPACE


def raw(**variant):
    return {**TINY, "space": {"name": "zhang64", "channels": 2, "cells": 4}, "sample": {"archs": 64},
            "supernet": {**TINY["supernet"], "sampling": "round_robin", "variants": {"baseline": variant}}}


def hp_of(**variant):
    return config.from_dict(raw(**variant)).variant("baseline")


def data(n=32):
    g = torch.Generator().manual_seed(0)
    return Tensors(torch.randn(n, 1, 16, generator=g), torch.randint(0, 10, (n,), generator=g), (1, 16), 10, "mnist1d")


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def moved(before, module):
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items() if v.is_floating_point())


def step_on(net, hp, child, d):
    """One SGD step of `child` alone (as one round-robin step trains it)."""
    optimizer, scheduler = make_optimizer(net, hp, 1)
    train_epoch(net, d.x, d.y, optimizer, scheduler, len(d.y), torch.Generator().manual_seed(0), lambda g: [child])


def test_private_cells_move_only_when_their_child_trains_and_the_prefix_is_one_object():
    hp = hp_of(prefix_shared=2)
    torch.manual_seed(0)
    net = supernet.build(S, hp, 2, 4, data())
    a, b = S.from_index(5), S.from_index(40)
    na, nb = net.net_of(a), net.net_of(b)
    assert na is not nb and na.stem is nb.stem and na.cells[1] is nb.cells[1]  # stem and cells 0, 1 shared
    assert na.cells[2] is not nb.cells[2]
    before_b, before_stem, before_a = snapshot(nb.cells[2]), snapshot(na.stem), snapshot(na.cells[3])
    step_on(net, hp, a, data())
    assert moved(before_stem, nb.stem)          # the shared stem moved for every child
    assert moved(before_a, na.cells[3])         # a's private cell moved
    assert not moved(before_b, nb.cells[2])     # b's did not: no gradient, no momentum, no weight decay


def test_with_64_groups_a_groups_weights_move_only_when_its_one_child_trains():
    hp = hp_of(groups=64)
    torch.manual_seed(0)
    net = supernet.build(S, hp, 2, 4, data())
    assert len(net.nets) == 64 and len(set(net.route.values())) == 64
    a, b = S.from_index(0), S.from_index(63)
    before_b = snapshot(net.net_of(b))
    before_a = snapshot(net.net_of(a))
    step_on(net, hp, a, data())
    assert moved(before_a, net.net_of(a)) and not moved(before_b, net.net_of(b))


@pytest.mark.parametrize("groups, prefix", [(4, 1), (16, 2)])
def test_prefix_partition_groups_children_with_the_same_first_choices(groups, prefix):
    route = sharing.group_of(S, hp_of(groups=groups))
    by_group = {}
    for child, group in route.items():
        by_group.setdefault(group, set()).add(child[:prefix])
        assert group == S.child_index(child) // (64 // groups)  # the paper's index // (64 / g)
    assert len(by_group) == groups and all(len(p) == 1 for p in by_group.values())


def test_random_partition_is_fixed_by_its_seed_and_equal_sized():
    one = sharing.group_of(S, hp_of(groups=4, partition="random", partition_seed=1))
    again = sharing.group_of(S, hp_of(groups=4, partition="random", partition_seed=1))
    other = sharing.group_of(S, hp_of(groups=4, partition="random", partition_seed=2))
    assert one == again and one != other
    assert sorted(list(one.values()).count(g) for g in range(4)) == [16] * 4
    assert one != sharing.group_of(S, hp_of(groups=4))  # not the prefix grouping


def test_nb201_edge_partition_is_one_sub_supernet_per_operation_of_the_edge():
    cfg = config.from_dict({**TINY, "supernet": {**TINY["supernet"], "variants": {
        "baseline": {"groups": 5, "partition": "edges", "partition_edges": ["1<-0"]}}}})
    route = sharing.group_of(nb201.SPACE, cfg.variant("baseline"))
    assert len(route) == 15625
    for child, group in route.items():
        assert nb201.OPS.index(child[0]) == group  # few-shot NAS's split on edge 1<-0


def test_per_group_compute_makes_g_passes_and_matched_keeps_full_sharings(tmp_path):
    d = data(64)
    passes = {}
    for name, variant in (("full", {}), ("per_group", {"groups": 4}), ("matched", {"groups": 4, "sharing_compute": "matched"})):
        hp = hp_of(**variant)
        torch.manual_seed(0)
        net = supernet.build(S, hp, 2, 4, d)
        history = supernet.train(net, hp, S, d, 0, torch.device("cpu"), tmp_path / f"{name}.pt")
        passes[name] = int(history["passes"].sum())
    assert passes["per_group"] == 4 * passes["full"] and passes["matched"] == passes["full"]


def test_checkpoint_rebuilds_the_groups_and_scores_the_same(tmp_path):
    hp = hp_of(groups=8)
    d = data()
    torch.manual_seed(0)
    net = supernet.build(S, hp, 2, 4, d, training=False)
    space_cfg = config.from_dict(raw(groups=8)).space
    meta = supernet.checkpoint_meta(space_cfg, hp, d, [], "baseline", 0)
    io.save_checkpoint(supernet.checkpoint(net, meta, 1), tmp_path / "weights.pt")
    loaded, _ = supernet.load(tmp_path / "weights.pt", "zhang64")
    net.eval(), loaded.eval()
    child = S.from_index(17)
    torch.testing.assert_close(loaded(d.x, child), net(d.x, child))
    assert "not a child" in one_line_error(loaded.net_of, ("nope",) * 3)


@pytest.mark.parametrize("variant, space, match", [
    ({"prefix_shared": 5}, "zhang64", "supernet.variants.baseline.prefix_shared: 5 is more than the super-net's 4 cells"),
    ({"groups": 6}, "zhang64", "groups: 6 does not divide the 64 architectures"),
    ({"groups": 128}, "zhang64", "groups: 128 is more than the 64 architectures"),
    ({"groups": 4, "partition": "random"}, "zhang64", "partition_seed: required with partition: random"),
    ({"groups": 2, "prefix_shared": 1}, "zhang64", "two degrees of sharing; set one of them"),
    ({"groups": 2, "partition": "edges", "partition_edges": ["1<-0"]}, "zhang64", "makes 4 groups"),
    ({"groups": 4, "partition": "edges", "partition_edges": ["9<-9"]}, "zhang64", "partition_edges: ['9<-9'] is not allowed"),
    ({"groups": 2, "sampling": "uniform"}, "darts", "too many to enumerate"),
    ({"prefix_shared": 1}, "nb201", "is not a stack of identical cells"),
    ({"groups": 2, "method": "darts"}, "zhang64", "mixes every operation at once"),
])
def test_bad_sharing_settings_are_one_line_errors(variant, space, match):
    r = raw(**variant)
    r["space"] = {**r["space"], "name": space}
    if space != "zhang64":
        r["supernet"]["sampling"] = "uniform"
        r["sample"] = {"archs": 6}
    assert match in one_line_error(config.from_dict, r)
