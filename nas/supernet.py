"""The weight-sharing super-net and its training (single-path one-shot, Guo et al.; Yu et al.).

Every architecture of the space is a path through one network: each edge holds one set of weights per
operation, and a step trains the path of one architecture sampled uniformly (each edge's operation
drawn independently, so every cell of the space is equally likely). The knobs are the fields of
`nas.config.SupernetConfig`; a *variant* is a named set of overrides of them.

Training is resumable: after every epoch the full state (weights, optimiser, schedule, the random
generator that orders batches and samples paths, the history so far) is checkpointed, and a restarted
run with the same settings continues from the last finished epoch with the same stream of batches
and paths, so its result is identical to an uninterrupted run.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pandas as pd
import torch

from nas import io
from nas.config import SupernetConfig
from nas.data import Tensors
from nas.train import make_optimizer, train_epoch

HISTORY_COLUMNS = ["epoch", "lr", "train_loss", "train_accuracy"]


def build(space: ModuleType, hp: SupernetConfig, channels: int, cells: int, data: Tensors):
    """The super-net for `space` at the variant's size (hp.channels/cells override the space's)."""
    return space.build_supernet(hp.channels or channels, hp.cells or cells, data.shape, data.num_classes,
                                affine=hp.bn_affine, track=hp.bn_track)


def uniform_sampler(space: ModuleType):
    """Uniform single-path sampling: each edge's operation drawn independently and uniformly."""
    num_ops, num_edges = len(space.OPS), len(space.EDGES)

    def sample(generator: torch.Generator) -> tuple[str, ...]:
        idx = torch.randint(num_ops, (num_edges,), generator=generator).tolist()
        return tuple(space.OPS[i] for i in idx)

    return sample


def train(net, hp: SupernetConfig, space: ModuleType, train_data: Tensors, seed: int, device: torch.device,
          state_path: Path, augment=None, on_epoch=None) -> pd.DataFrame:
    """Train `net` in place for hp.epochs; return the per-epoch history. `state_path` holds the
    resumable state; `on_epoch(epoch, net)` is called after each epoch (to keep chosen epochs)."""
    x, y = train_data.x.to(device), train_data.y.to(device)
    net.to(device)
    generator = torch.Generator().manual_seed(seed)
    steps = max(1, len(y) // hp.batch_size)
    optimizer, scheduler = make_optimizer(net, hp, steps)
    history, start = [], 0
    if state_path.exists():
        state = io.load_checkpoint(state_path)
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        history, start = state["history"], state["epoch"]
    sample = uniform_sampler(space)
    bar = io.Progress(hp.epochs, "train-supernet")
    bar.done = start
    for epoch in range(start + 1, hp.epochs + 1):
        lr = optimizer.param_groups[0]["lr"]
        loss, acc = train_epoch(net, x, y, optimizer, scheduler, hp.batch_size, generator, sample, augment)
        history.append({"epoch": epoch, "lr": lr, "train_loss": loss, "train_accuracy": acc})
        if on_epoch is not None:
            on_epoch(epoch, net)
        io.save_checkpoint({"model": net.state_dict(), "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                            "history": history, "epoch": epoch}, state_path)
        bar.update(epoch=epoch, loss=loss, acc=acc)
    bar.close()
    return pd.DataFrame(history, columns=HISTORY_COLUMNS).astype({"epoch": "int64"})


def weights(net) -> dict:
    """The weights as a plain state dict on the CPU (what `weights.pt` holds)."""
    return {k: v.detach().cpu() for k, v in net.state_dict().items()}

