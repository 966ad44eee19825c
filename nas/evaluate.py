"""Scoring architectures with the super-net's shared weights.

Batch norm is the delicate part: the running statistics a super-net accumulates during training mix
every path it trained, so they fit no single architecture. `eval.bn` picks how each architecture is
scored:
  recalibrate  reset every BN layer's statistics, run K fixed training batches through the
               architecture's path (no gradients), then evaluate with those statistics;
  batch        evaluate with each batch's own statistics (what a BN without running statistics
               does anyway);
  stored       evaluate with the statistics stored during super-net training (needs bn_track).
The recalibration batches are the same for every architecture, so scores differ only by architecture.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from nas import io
from nas.data import Tensors
from nas.train import evaluate

SCORE_COLUMNS = ["arch_id", "accuracy", "loss"]


def _bn_layers(net: nn.Module):
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recalibrate_bn(net: nn.Module, arch, batches: list[torch.Tensor]):
    """Reset BN statistics and re-estimate them on `batches` for `arch`'s path (cumulative average)."""
    for bn in _bn_layers(net):
        bn.track_running_stats = True
        bn.momentum = None  # cumulative moving average: every batch counts equally
        bn.running_mean = torch.zeros(bn.num_features, device=batches[0].device)
        bn.running_var = torch.ones(bn.num_features, device=batches[0].device)
        bn.num_batches_tracked = torch.tensor(0, device=batches[0].device)
    net.train()
    for xb in batches:
        net(xb, arch)
    net.eval()


@torch.no_grad()
def score(net: nn.Module, arch, valid: Tensors, bn: str, batch_size: int,
          calibration: list[torch.Tensor] | None = None) -> tuple[float, float]:
    """Valid accuracy (percent) and loss of `arch` with the shared weights."""
    x, y = valid.x, valid.y
    if bn == "recalibrate":
        recalibrate_bn(net, arch, calibration)
    elif bn == "batch":
        net.train()
        for layer in _bn_layers(net):
            layer.momentum = 0.0  # use batch statistics without touching stored ones
    elif bn == "stored":
        net.eval()
    else:
        raise io.UserError(f"eval.bn: unknown mode {bn!r}; expected recalibrate, batch or stored")
    return evaluate(net, x, y, batch_size, arch)


def calibration_batches(train: Tensors, count: int, batch_size: int, seed: int, device) -> list[torch.Tensor]:
    """`count` fixed, disjoint training batches of `batch_size` (the same for every architecture).
    Asking for more samples than the train split has is an error, not a silent cap."""
    n = len(train.y)
    if count * batch_size > n:
        raise io.UserError(f"eval.recalibrate_batches: {count} batches of eval.batch_size {batch_size} need "
                           f"{count * batch_size:,} training samples, but the train split has {n:,}; the largest "
                           f"value this data allows is {n // batch_size} (or lower eval.batch_size)")
    generator = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=generator)
    return [train.x[perm[i * batch_size:(i + 1) * batch_size]].to(device) for i in range(count)]


def score_archs(net: nn.Module, archs: pd.DataFrame, space, valid: Tensors, train: Tensors, bn: str,
                recalibrate_batches: int, batch_size: int, seed: int, device) -> pd.DataFrame:
    """Score every architecture of `archs` (columns arch_id, arch) with the shared weights."""
    net.to(device)
    valid = Tensors(valid.x.to(device), valid.y.to(device), valid.shape, valid.num_classes, valid.dataset)
    calibration = (calibration_batches(train, recalibrate_batches, batch_size, seed, device)
                   if bn == "recalibrate" else None)
    rows = []
    bar = io.Progress(len(archs), "eval-supernet")
    for arch_id, arch in zip(archs["arch_id"], archs["arch"]):
        acc, loss = score(net, space.parse(arch), valid, bn, batch_size, calibration)
        rows.append({"arch_id": int(arch_id), "accuracy": acc, "loss": loss})
        bar.update(arch=int(arch_id), acc=acc)
    bar.close()
    return pd.DataFrame(rows, columns=SCORE_COLUMNS).astype({"arch_id": "int64"})
