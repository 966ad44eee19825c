"""nas.interference: one step on child i, the change of child j's loss, by shared operations."""

from __future__ import annotations

import torch

from helpers import TINY, one_line_error
from nas import config, interference, supernet
from nas.data import Tensors
from nas.spaces import zhang64

S = zhang64.SPACE


def net_of(**variant):
    raw = {**TINY, "space": {"name": "zhang64", "channels": 2, "cells": 2}, "sample": {"archs": 64},
           "supernet": {**TINY["supernet"], "sampling": "round_robin", "variants": {"baseline": variant}}}
    hp = config.from_dict(raw).variant("baseline")
    g = torch.Generator().manual_seed(0)
    d = Tensors(torch.randn(32, 1, 16, generator=g), torch.randint(0, 10, (32,), generator=g), (1, 16), 10, "mnist1d")
    torch.manual_seed(0)
    return supernet.build(S, hp, 2, 2, d), (d.x[:16], d.y[:16]), (d.x[16:], d.y[16:])


def test_full_sharing_couples_children_and_no_sharing_leaves_the_others_exactly_unchanged():
    pairs = interference.sample_pairs(S.enumerate_all(), 6, seed=0)
    net, train, probe = net_of()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    shared = interference.pair_effects(net, S, pairs, train, probe, lr=0.5)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # weights restored
    assert (shared["change"].abs() > 0).all()  # the stem alone is shared by all
    child = S.from_index(3)
    own = interference.pair_effects(net, S, [(child, child)], train, train, lr=0.1).iloc[0]
    assert own["shared"] == 3 and own["change"] < 0  # a step on a child lowers its loss on the batch it took
    alone, train, probe = net_of(groups=64)
    separate = interference.pair_effects(alone, S, pairs, train, probe, lr=0.5)
    assert (separate["change"] == 0).all()


def test_by_shared_aggregates_with_intervals_and_bad_lr_is_refused():
    net, train, probe = net_of()
    effects = interference.pair_effects(net, S, interference.sample_pairs(S.enumerate_all(), 12, seed=1), train, probe, lr=0.1)
    table = interference.by_shared(effects)
    assert list(table["shared"]) == sorted(effects["shared"].unique())
    assert table["pairs"].sum() == 12
    assert interference.shared_operations(S, S.from_index(0), S.from_index(1)) == 2  # only op3 differs
    assert "lr -1 must be above 0" in one_line_error(interference.pair_effects, net, S, [], train, probe, -1)
