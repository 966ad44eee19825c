"""Interference between child models, measured directly (Zhang et al. name it the main cause of the
variance of weight sharing): take one SGD step on child i, and see how child j's loss on a fixed probe
batch changes. Aggregated by how many operations i and j share, this shows whether training one child
helps or hurts the others that reuse its weights.

    pair_effects(net, space, pairs, train, probe, lr)   one row per (i, j): loss of j before and after
                                                        one step on i, its change, the shared operations
    by_shared(effects)                                  per number of shared operations: mean change
                                                        and its 95% t-interval over pairs

Every step starts from the same weights (restored after each pair) and uses plain SGD (no momentum,
no weight decay), so a pair's effect depends on that pair only. Batch norm runs as in training (batch
statistics; running statistics, where tracked, are restored with the weights). Under no sharing
(groups = the space size) the change of every other child is exactly zero.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from nas.io import UserError


def shared_operations(space, a, b) -> int:
    """How many choices two architectures make the same way."""
    pa, pb = space.to_picks(a), space.to_picks(b)
    return sum(pa[k] == pb[k] for k in pa)


def _loss(net, x, y, arch) -> float:
    with torch.no_grad():
        return float(F.cross_entropy(net(x, arch), y))


def pair_effects(net, space, pairs, train: tuple[torch.Tensor, torch.Tensor],
                 probe: tuple[torch.Tensor, torch.Tensor], lr: float) -> pd.DataFrame:
    """i, j (the architectures' strings), shared, before, after, change (= after - before; negative:
    the step on i lowered j's loss)."""
    if lr <= 0:
        raise UserError(f"interference: lr {lr} must be above 0")
    params = [p for p in net.parameters() if p.requires_grad]
    saved = [p.detach().clone() for p in params]
    buffers = list(net.buffers())  # batch-norm statistics a forward pass in train mode may move
    saved_buffers = [b.detach().clone() for b in buffers]

    def restore():
        # Only the parameters the step moved (those with a gradient: the stepped child's network, under
        # partial sharing one of many) and the buffers: restoring every weight of 64 networks after each
        # pair cost 60x more.
        with torch.no_grad():
            for p, value in zip(params, saved):
                if p.grad is not None:
                    p.copy_(value)
            for b, value in zip(buffers, saved_buffers):
                b.copy_(value)
        net.zero_grad(set_to_none=True)

    net.train()
    rows = []
    try:
        for i, j in pairs:
            before = _loss(net, *probe, j)
            net.zero_grad(set_to_none=True)
            F.cross_entropy(net(train[0], i), train[1]).backward()
            with torch.no_grad():
                for p in params:
                    if p.grad is not None:
                        p -= lr * p.grad
            after = _loss(net, *probe, j)
            restore()
            rows.append({"i": space.format(i), "j": space.format(j), "shared": shared_operations(space, i, j),
                         "before": before, "after": after, "change": after - before})
    finally:
        restore()
    return pd.DataFrame(rows, columns=["i", "j", "shared", "before", "after", "change"])


def by_shared(effects: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """shared, pairs, mean change, ci_low, ci_high (t-interval over pairs; none below 2 pairs)."""
    from nas.power import t_interval

    rows = []
    for shared, g in effects.groupby("shared", sort=True):
        mean, low, high = t_interval(g["change"].to_numpy(dtype=float), level)
        rows.append({"shared": int(shared), "pairs": len(g), "mean": mean, "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows, columns=["shared", "pairs", "mean", "ci_low", "ci_high"])


def sample_pairs(children: list, count: int, seed: int) -> list[tuple]:
    """`count` ordered pairs (i, j), i != j, of `children` (the study's pool, or a space's
    `enumerate_all()`), drawn uniformly (seeded)."""
    if len(children) < 2:
        raise UserError(f"interference: needs at least 2 architectures to pair, got {len(children)}")
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        a, b = rng.choice(len(children), 2, replace=False)
        out.append((children[int(a)], children[int(b)]))
    return out
