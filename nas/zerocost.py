"""Training-free rankers: what a weight-sharing super-net must beat to be worth its training.

Each ranker scores an architecture without training it; `nas zero-cost` scores every architecture of
the pool and `nas correlate` measures each ranker against the ground truth with the same statistics
and intervals as the super-nets (variant `zero-cost:<ranker>`). Higher ranks higher.

  params     the stand-alone network's parameter count (the pool's `params`, counted by `sample`)
  flops      its FLOPs (the pool's `flops`)
  grad_norm  the sum over convolution and linear layers of the L2 norm of the loss gradient of their
             weights, on one training batch (Abdelfattah et al., "Zero-Cost Proxies for Lightweight
             NAS", ICLR 2021; their code, SamsungLabs/zero-cost-nas, `grad_norm`)
  snip       the sum over those layers of |dL/dw * w|, the same batch (Lee et al., "SNIP", ICLR 2019,
             as Abdelfattah et al. score a network with it)
  synflow    the sum over those layers of |dR/dw * w|, R the sum of the network's outputs for one input
             of ones, with every parameter replaced by its absolute value, in float64 (Tanaka et al.,
             "Pruning neural networks without any data by iteratively conserving synaptic flow",
             NeurIPS 2020, as Abdelfattah et al. score a network). Their copy has no batch norm; here
             batch norm runs in eval mode on its initial statistics (mean 0, variance 1), which is
             the identity up to 1/sqrt(1 + eps)
  naswot     log |det K|, K = sum over the network's ReLU modules of c c^T + (1 - c)(1 - c)^T, c the
             binary codes (input > 0) of the batch's samples at that ReLU: how differently the
             untrained network partitions the inputs (Mellor et al., "Neural Architecture Search
             without Training", ICML 2021; their code, BayesWatch/nas-without-training). A singular K
             (two samples with the same code everywhere) scores -inf, ranked last.

Every network is the stand-alone network of `space.channels` and `space.cells`, initialised from the
study's seed (the same draw for every architecture, as `standalone.init: paired` does); the batch is
`zerocost.batch_size` training samples drawn with that seed. grad_norm and snip use one forward and
backward pass in train mode (batch-norm on batch statistics, as their code does), naswot one forward.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from nas.config import ZERO_COST_RANKERS as RANKERS

if TYPE_CHECKING:  # annotations only: torch is imported where it runs, so importing this module does not load it
    import torch
    from torch import nn

FROM_POOL = ("params", "flops")  # read from the pool table, not computed here
COMPUTED = tuple(r for r in RANKERS if r not in FROM_POOL)


def _weighted_layers(net: nn.Module) -> list[nn.Module]:
    """The convolution and linear layers, whose weights the gradient-based rankers sum over (as
    zero-cost-nas's `get_layer_metric_array` takes nn.Conv2d and nn.Linear; here 1-D convolutions too)."""
    from torch import nn

    return [m for m in net.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]


def gradient_scores(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """grad_norm and snip from one forward and backward pass of the cross-entropy loss (train mode)."""
    from torch.nn import functional as F

    net.train()
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(x), y).backward()
    layers = [m for m in _weighted_layers(net) if m.weight.grad is not None]
    grad_norm = sum(float(m.weight.grad.norm()) for m in layers)
    snip = sum(float((m.weight.grad * m.weight.detach()).abs().sum()) for m in layers)
    net.zero_grad(set_to_none=True)
    return {"grad_norm": grad_norm, "snip": snip}


def synflow(net: nn.Module, input_shape: tuple[int, ...]) -> float:
    """The synaptic flow of a copy of `net` (every parameter and buffer made non-negative, float64,
    batch norm in eval mode on its statistics) for one input of ones."""
    import torch

    net = copy.deepcopy(net).double().eval()
    with torch.no_grad():
        for value in net.state_dict().values():
            if value.is_floating_point():
                value.abs_()
    net.zero_grad(set_to_none=True)
    device = next(net.parameters()).device
    net(torch.ones((1, *input_shape), dtype=torch.float64, device=device)).sum().backward()
    return sum(float((m.weight.detach() * m.weight.grad).abs().sum()) for m in _weighted_layers(net)
               if m.weight.grad is not None)


def naswot(net: nn.Module, x: torch.Tensor) -> float:
    """log |det K| of the ReLU codes of batch `x` (train mode, no gradients)."""
    import torch
    from torch import nn

    n = len(x)
    kernel = torch.zeros((n, n), dtype=torch.float64, device=x.device)

    def count(module, inputs, output):
        nonlocal kernel
        c = (inputs[0].reshape(n, -1) > 0).double()
        kernel = kernel + c @ c.T + (1 - c) @ (1 - c).T

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        net.train()
        with torch.no_grad():
            net(x)
    finally:
        for hook in hooks:
            hook.remove()
    sign, logdet = np.linalg.slogdet(kernel.cpu().numpy())
    return float(logdet) if sign > 0 else -math.inf


def score(net: nn.Module, x: torch.Tensor, y: torch.Tensor, rankers: list[str]) -> dict[str, float]:
    """The computed rankers of `rankers` for one freshly initialised network. synflow goes first: it
    scores a copy in eval mode on the initial batch-norm statistics, which the train-mode passes of
    the others update; those leave the weights as they are (gradients are cleared), and a train-mode
    forward ignores the running statistics, so every ranker sees the network as initialised."""
    out: dict[str, float] = {}
    if "synflow" in rankers:
        out["synflow"] = synflow(net, tuple(x.shape[1:]))
    if {"grad_norm", "snip"} & set(rankers):
        out.update({k: v for k, v in gradient_scores(net, x, y).items() if k in rankers})
    if "naswot" in rankers:
        out["naswot"] = naswot(net, x)
    return out


def for_ranking(values) -> np.ndarray:
    """Scores as a ranking reads them: -inf (naswot's singular kernel) becomes one less than the lowest
    finite score, so those architectures tie for last."""
    v = np.asarray(values, dtype=float).copy()
    low = v == -math.inf
    if low.any():
        finite = v[np.isfinite(v)]
        v[low] = (finite.min() if len(finite) else 0.0) - 1.0
    return v


def score_pool(space, pool: pd.DataFrame, rankers: list[str], channels: int, cells: int, train, batch_size: int,
               seed: int, device=None) -> pd.DataFrame:
    """arch_id and one column per ranker (float64) for every architecture of `pool` (the archs table)."""
    import torch

    from nas import io

    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(train.y), generator=generator)[:batch_size]
    x, y = train.x[chosen].to(device), train.y[chosen].to(device)

    def build(arch):
        torch.manual_seed(seed)
        return space.build(arch, channels, cells, train.shape, train.num_classes).to(device)

    rows = []
    bar = io.Progress(len(pool), "zero-cost")
    for arch_id, arch in zip(pool["arch_id"], pool["arch"]):
        row = {"arch_id": int(arch_id), **score(build(space.parse(arch)), x, y, rankers)}
        rows.append(row)
        bar.update(arch=int(arch_id))
    bar.close()
    frame = pd.DataFrame(rows, columns=["arch_id", *[r for r in rankers if r in COMPUTED]])
    for name in FROM_POOL:
        if name in rankers:
            frame[name] = pool[name].to_numpy(dtype="float64")
    return frame[["arch_id", *rankers]].astype({"arch_id": "int64", **{r: "float64" for r in rankers}})
