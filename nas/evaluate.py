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

from pathlib import Path

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


# Architectures per progress file: a killed eval-supernet job loses at most this many scores. Each
# architecture's score depends only on the weights and the fixed batches (recalibration resets every BN
# statistic first), so a resumed job, or a shard, writes the bytes one uninterrupted job would.
CHUNK = 256


def score_archs(net: nn.Module, archs: pd.DataFrame, space, valid: Tensors, train: Tensors, bn: str,
                recalibrate_batches: int, batch_size: int, seed: int, device,
                progress: Path | None = None) -> pd.DataFrame:
    """Score every architecture of `archs` (columns arch_id, arch) with the shared weights; with
    `progress` (a folder named by everything that sets the scores), each chunk of CHUNK architectures
    is kept there when done and read back instead of scored again."""
    net.to(device)
    valid = Tensors(valid.x.to(device), valid.y.to(device), valid.shape, valid.num_classes, valid.dataset)
    calibration = (calibration_batches(train, recalibrate_batches, batch_size, seed, device)
                   if bn == "recalibrate" else None)
    frames = []
    bar = io.Progress(len(archs), "eval-supernet")
    for start in range(0, len(archs), CHUNK):
        chunk = archs.iloc[start:start + CHUNK]
        part = progress / f"chunk-{start // CHUNK:05d}.parquet" if progress is not None else None
        if part is not None and part.is_file():
            done = _read_chunk(part, chunk)
            if done is not None:
                frames.append(done)
                for arch_id, acc in zip(done["arch_id"], done["accuracy"]):
                    bar.update(arch=int(arch_id), acc=float(acc), kept="yes")
                continue
        rows = []
        for arch_id, arch in zip(chunk["arch_id"], chunk["arch"]):
            acc, loss = score(net, space.parse(arch), valid, bn, batch_size, calibration)
            rows.append({"arch_id": int(arch_id), "accuracy": acc, "loss": loss})
            bar.update(arch=int(arch_id), acc=acc)
        frame = pd.DataFrame(rows, columns=SCORE_COLUMNS).astype({"arch_id": "int64"})
        if part is not None:
            io.write_parquet(frame, part)
        frames.append(frame)
    bar.close()
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "arch_id" else "float64") for c in SCORE_COLUMNS})
    return pd.concat(frames, ignore_index=True)


def _read_chunk(path: Path, chunk: pd.DataFrame) -> pd.DataFrame | None:
    """A kept chunk's scores, or None (scored again) when it is not the chunk's architectures."""
    from nas import layout as L

    try:
        done = io.read_parquet(path, L.SCHEMAS["scores"])
    except io.UserError as exc:
        raise io.progress_error(exc) from None
    if done["arch_id"].tolist() != chunk["arch_id"].astype(int).tolist():
        return None
    return done[SCORE_COLUMNS].astype({"arch_id": "int64", "accuracy": "float64", "loss": "float64"})
