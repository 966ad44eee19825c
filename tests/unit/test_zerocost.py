"""nas.zerocost: each training-free ranker on two fixed tiny networks against its value worked out by hand
(the gradients written in closed form with numpy), the pool's scores, and the settings' bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from helpers import TINY, one_line_error
from nas import config, zerocost
from nas.data import Tensors

W1 = np.array([[1.0, -2.0], [0.5, 1.5]])
W2 = np.array([[2.0, -1.0], [-0.5, 1.0]])
X = np.array([[1.0, 0.5], [-1.0, 2.0], [0.5, -1.5]])
Y = np.array([0, 1, 1])


def mlp() -> nn.Module:
    """x -> W2 relu(W1 x), no biases."""
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 2, bias=False)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(W1))
        net[2].weight.copy_(torch.tensor(W2))
    return net


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def mlp_by_hand():
    """grad_norm, snip, synflow, naswot of `mlp` on (X, Y), derived by hand."""
    z1 = X @ W1.T
    h = np.maximum(z1, 0)
    logits = h @ W2.T
    d_logits = (softmax(logits) - np.eye(2)[Y]) / len(Y)  # mean cross-entropy
    g2 = d_logits.T @ h
    g1 = ((d_logits @ W2) * (z1 > 0)).T @ X
    grad_norm = np.linalg.norm(g1) + np.linalg.norm(g2)
    snip = np.abs(g1 * W1).sum() + np.abs(g2 * W2).sum()
    # synflow: |W|, input of ones: R = 1' |W2| |W1| 1 (every unit active), dR/d|W2| = 1 h', dR/d|W1| = (|W2|'1) 1'
    a1, a2 = np.abs(W1), np.abs(W2)
    h1 = a1 @ np.ones(2)
    synflow = (a2 * np.outer(np.ones(2), h1)).sum() + (a1 * np.outer(a2.T @ np.ones(2), np.ones(2))).sum()
    c = (z1 > 0).astype(float)
    kernel = c @ c.T + (1 - c) @ (1 - c).T
    return grad_norm, snip, synflow, np.linalg.slogdet(kernel)[1]


W = np.array([1.5, -0.5])  # a 1x1 convolution from 1 to 2 channels
V = np.array([[1.0, -2.0], [0.5, 0.25], [-1.0, 1.0]])  # the linear layer, 2 -> 3, with a bias
B = np.array([0.1, -0.2, 0.3])
S = np.array([[[1.0, -1.0, 2.0, 0.5]], [[-0.5, 1.0, 1.0, -2.0]]])  # two signals of length 4
T = np.array([2, 0])


def conv_net() -> nn.Module:
    """x -> V mean_t relu(w_c x_t) + b."""
    net = nn.Sequential(nn.Conv1d(1, 2, 1, bias=False), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                        nn.Linear(2, 3)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(W).view(2, 1, 1))
        net[4].weight.copy_(torch.tensor(V))
        net[4].bias.copy_(torch.tensor(B))
    return net


def conv_by_hand():
    x = S[:, 0, :]  # (N, L)
    z = W[None, :, None] * x[:, None, :]  # (N, C, L)
    h = np.maximum(z, 0).mean(2)
    logits = h @ V.T + B
    d_logits = (softmax(logits) - np.eye(3)[T]) / len(T)
    g_v = d_logits.T @ h
    d_h = d_logits @ V  # (N, C)
    g_w = (d_h[:, :, None] * (z > 0) * x[:, None, :] / x.shape[1]).sum((0, 2))
    grad_norm = np.linalg.norm(g_w) + np.linalg.norm(g_v)
    snip = np.abs(g_w * W).sum() + np.abs(g_v * V).sum()
    # synflow: input of ones, every unit active: R = sum_i (sum_c |V_ic| |w_c| + |b_i|), so both layers'
    # |w * dR/dw| sum to sum_ic |V_ic| |w_c|
    synflow = 2 * (np.abs(V) * np.abs(W)[None, :]).sum()
    c = (z > 0).reshape(len(x), -1).astype(float)
    kernel = c @ c.T + (1 - c) @ (1 - c).T
    return grad_norm, snip, synflow, np.linalg.slogdet(kernel)[1]


@pytest.mark.parametrize("make, by_hand, x, y", [
    (mlp, mlp_by_hand, X, Y),
    (conv_net, conv_by_hand, S, T),
])
def test_each_ranker_equals_its_value_worked_out_by_hand(make, by_hand, x, y):
    grad_norm, snip, synflow, naswot = by_hand()
    xt, yt = torch.tensor(x), torch.tensor(y)
    got = zerocost.score(make(), xt, yt, ["grad_norm", "snip", "synflow", "naswot"])
    assert got["grad_norm"] == pytest.approx(grad_norm, rel=1e-9)
    assert got["snip"] == pytest.approx(snip, rel=1e-9)
    assert got["synflow"] == pytest.approx(synflow, rel=1e-9)
    assert got["naswot"] == pytest.approx(naswot, rel=1e-9)
    assert set(zerocost.score(make(), xt, yt, ["snip"])) == {"snip"}  # only what is asked for


def test_synflow_leaves_the_network_as_it_was_and_naswot_of_identical_codes_is_minus_infinity():
    net = mlp()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    zerocost.synflow(net, (2,))
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    same = torch.tensor([[1.0, 0.5], [1.0, 0.5]], dtype=torch.float64)  # two samples, one code
    assert zerocost.naswot(mlp(), same) == -math.inf
    assert zerocost.for_ranking([3.0, -math.inf, 1.0]).tolist() == [3.0, 0.0, 1.0]  # ties for last


def test_the_pool_is_scored_from_one_batch_and_one_initialisation():
    from nas.spaces import get_space

    space = get_space("nb201")
    archs = [space.format(a) for a in space.sample(4, 0)]
    pool = pd.DataFrame({"arch_id": range(4), "arch": archs, "params": [10, 20, 30, 40], "flops": [1, 2, 3, 4]})
    g = torch.Generator().manual_seed(0)
    train = Tensors(torch.randn(40, 1, 16, generator=g), torch.randint(0, 10, (40,), generator=g), (1, 16), 10,
                    "mnist1d")
    rankers = ["params", "naswot", "synflow", "flops", "grad_norm", "snip"]
    table = zerocost.score_pool(space, pool, rankers, 4, 1, train, 8, 0)
    assert list(table.columns) == ["arch_id", *rankers] and table["arch_id"].tolist() == [0, 1, 2, 3]
    assert table["params"].tolist() == [10.0, 20.0, 30.0, 40.0] and table["flops"].dtype == "float64"
    again = zerocost.score_pool(space, pool, rankers, 4, 1, train, 8, 0)
    pd.testing.assert_frame_equal(table, again)  # the same bytes: one seed, one batch
    other = zerocost.score_pool(space, pool, rankers, 4, 1, train, 8, 1)
    assert not np.allclose(other["snip"], table["snip"])  # the seed draws the batch and the weights
    # each architecture gets the score of its own network, built and initialised from the seed
    torch.manual_seed(0)
    net = space.build(space.parse(archs[2]), 4, 1, (1, 16), 10)
    chosen = torch.randperm(40, generator=torch.Generator().manual_seed(0))[:8]
    assert table.loc[2, "synflow"] == pytest.approx(zerocost.synflow(net, (1, 16)))
    assert table.loc[2, "naswot"] == pytest.approx(zerocost.naswot(net, train.x[chosen]))


@pytest.mark.parametrize("zc, message", [
    ({"rankers": ["synflow", "zen"]}, "zerocost.rankers: 'zen' is not a ranker; expected some of params, flops, "
                                      "grad_norm, snip, synflow, naswot"),
    ({"rankers": ["snip", "snip"]}, "zerocost.rankers: ['snip', 'snip'] names a ranker twice"),
    ({"batch_size": 1}, "zerocost.batch_size: 1 is not allowed"),
])
def test_bad_zero_cost_settings_are_one_line(zc, message):
    assert one_line_error(config.from_dict, {**TINY, "zerocost": zc}).startswith(message)
