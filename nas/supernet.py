"""The weight-sharing super-net and its training heuristics (single-path one-shot; Yu et al.).

Every architecture of the space is a path through one network: each edge holds one set of weights per
operation. Each step trains paths drawn by `supernet.sampling`:
  uniform     one path, each edge's operation drawn independently and uniformly (SPOS, Guo et al.):
              every cell of the space is equally likely;
  random_nas  one path drawn uniformly from the space's distinct cells (an isomorphism class, then one
              of its members), so functions with many equivalent cells are not trained more often;
  fairnas     one path per operation, every operation of every edge exactly once (FairNAS strict
              fairness, Chu et al.): the gradients of the paths are summed into one update.
The other heuristics (all fields of `nas.config.SupernetConfig`; README "Super-net heuristics"):
one-shot warm-up epochs, path and global dropout, operation on node, the kernel mapping function, the
weight plasticity loss, landmark regularisation, low fidelity (size, data fraction), the schedule.

Training is resumable: after every epoch the full state (weights, optimiser, schedule, both random
generators, the plasticity anchor, the history so far) is checkpointed, and a restarted run with the
same settings continues from the last finished epoch with the same batches, paths and dropout masks,
so its result is identical to an uninterrupted run.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from nas import io
from nas.config import SupernetConfig
from nas.data import Tensors
from nas.train import make_optimizer
from nas.train import train_epoch as train_paths

HISTORY_COLUMNS = ["epoch", "lr", "train_loss", "train_accuracy", "passes"]
Sampler = Callable[[torch.Generator], list[tuple]]


def build(space: ModuleType, hp: SupernetConfig, channels: int, cells: int, data: Tensors, training: bool = True):
    """The super-net for `space` at the variant's size (hp.channels/cells override the space's).
    Dropout exists only in a network built for training; scoring never drops anything."""
    return space.build_supernet(hp.channels or channels, hp.cells or cells, data.shape, data.num_classes,
                                affine=hp.bn_affine, track=hp.bn_track, op_on=hp.op_on,
                                kernel_mapping=hp.kernel_mapping,
                                global_dropout=hp.global_dropout if training else 0.0)


def uniform_sampler(space: ModuleType) -> Sampler:
    """Uniform single path: each edge's operation drawn independently and uniformly."""
    sizes = [len(ops) for ops in space.CANDIDATES]

    def sample(generator):
        if len(set(sizes)) == 1:  # one draw for all edges
            idx = torch.randint(sizes[0], (len(sizes),), generator=generator).tolist()
        else:
            idx = [int(torch.randint(n, (1,), generator=generator)) for n in sizes]
        return [tuple(ops[i] for ops, i in zip(space.CANDIDATES, idx))]
    return sample


def random_nas_sampler(space: ModuleType) -> Sampler:
    """One path per step, uniform over the distinct cells of the space: an isomorphism class drawn
    uniformly, then one of its members (so every member's weights are trained, since scoring uses
    the cell as sampled, which need not be its class's canonical member)."""
    classes = space.isomorphism_classes()

    def sample(generator):
        members = classes[int(torch.randint(len(classes), (1,), generator=generator))]
        return [members[int(torch.randint(len(members), (1,), generator=generator))]]
    return sample


def fairnas_sampler(space: ModuleType) -> Sampler:
    """FairNAS strict fairness: one random permutation of the operations per edge; path k takes the
    k-th operation of every edge, so each operation of each edge is in exactly one path."""
    counts = {len(ops) for ops in space.CANDIDATES}
    if len(counts) != 1:
        raise io.UserError("supernet.sampling: fairnas needs every edge to have the same number of operations")

    def sample(generator):
        perms = [torch.randperm(len(ops), generator=generator).tolist() for ops in space.CANDIDATES]
        return [tuple(ops[perm[k]] for ops, perm in zip(space.CANDIDATES, perms))
                for k in range(len(space.CANDIDATES[0]))]
    return sample


SAMPLERS = {"uniform": uniform_sampler, "random_nas": random_nas_sampler, "fairnas": fairnas_sampler}


def one_shot_path(space: ModuleType) -> tuple:
    """Every operation of every edge at once (the warm-up's one-shot model)."""
    return tuple(tuple(ops) for ops in space.CANDIDATES)


def landmark_ids(arch_ids: list[int], count: int, seed: int) -> list[int]:
    """`count` landmark architectures: a fixed random subset of the sampled pool (sorted ids)."""
    if count > len(arch_ids):
        raise io.UserError(f"supernet.landmarks: {count} is more than the {len(arch_ids)} sampled archs")
    picked = np.random.default_rng(seed).permutation(len(arch_ids))[:count]
    return sorted(int(arch_ids[i]) for i in picked)


def training_subset(n: int, fraction: float, seed: int) -> np.ndarray:
    """Low fidelity: the indices of a fixed random `fraction` of the n training samples."""
    keep = max(2, int(round(n * fraction)))
    return np.sort(np.random.default_rng(seed).permutation(n)[:keep])


class PlasticityLoss:
    """Weight plasticity loss (Benyahia et al., 2019), against multi-model forgetting: a pull of each
    shared weight towards where the previous epoch left it, in proportion to its importance:
        wpl_weight/2 * sum_i F_i (theta_i - theta*_i)^2,
    where theta* are the weights at the end of the previous epoch and F the diagonal Fisher
    information over that epoch (mean squared gradient), normalised to a maximum of 1: wpl_weight is
    then the L2 strength on the most important weight, and stays stable for lr * wpl_weight < 2
    (normalising to mean 1 was not: the largest entries are 70-230x the mean, so the pull on them
    overshot the anchor at lr 0.1). Off during the first epoch (no Fisher yet)."""

    def __init__(self, params: list[nn.Parameter], weight: float):
        self.params, self.weight = params, weight
        self.sq_grads = [torch.zeros_like(p) for p in params]
        self.steps = 0
        self.fisher: list[torch.Tensor] | None = None
        self.anchor: list[torch.Tensor] | None = None

    def penalty(self) -> torch.Tensor | None:
        if self.fisher is None or self.weight == 0:
            return None
        return 0.5 * self.weight * sum((f * (p - a) ** 2).sum() for p, f, a in zip(self.params, self.fisher, self.anchor))

    def accumulate(self):
        for s, p in zip(self.sq_grads, self.params):
            if p.grad is not None:
                s += p.grad.detach() ** 2
        self.steps += 1

    def end_epoch(self):
        fisher = [s / max(1, self.steps) for s in self.sq_grads]
        top = torch.cat([f.flatten() for f in fisher]).max()
        self.fisher = [f / top if top > 0 else f for f in fisher]
        self.anchor = [p.detach().clone() for p in self.params]
        self.sq_grads = [torch.zeros_like(p) for p in self.params]
        self.steps = 0

    def state(self) -> dict:
        return {"fisher": self.fisher, "anchor": self.anchor}

    def load(self, state: dict):
        """Restore from a checkpoint (read on the CPU) onto the parameters' device."""
        def here(tensors):
            return None if tensors is None else [t.to(p.device) for t, p in zip(tensors, self.params)]
        self.fisher, self.anchor = here(state["fisher"]), here(state["anchor"])


def landmark_loss(net, xb, yb, landmarks: list[tuple[tuple, float]], generator: torch.Generator) -> torch.Tensor:
    """Landmark regularisation (Yu et al., 2021): for one random pair of landmark architectures whose
    stand-alone accuracies differ, penalise the super-net when the better one has the higher loss on
    this batch: relu(loss(better) - loss(worse))."""
    while True:
        i, j = torch.randperm(len(landmarks), generator=generator)[:2].tolist()
        if landmarks[i][1] != landmarks[j][1]:
            break
    better, worse = (landmarks[i], landmarks[j]) if landmarks[i][1] > landmarks[j][1] else (landmarks[j], landmarks[i])
    return F.relu(F.cross_entropy(net(xb, better[0]), yb) - F.cross_entropy(net(xb, worse[0]), yb))


def train(net, hp: SupernetConfig, space: ModuleType, train_data: Tensors, seed: int, device: torch.device,
          state_path: Path, augment=None, on_epoch=None, landmarks: list[tuple[tuple, float]] | None = None
          ) -> pd.DataFrame:
    """Train `net` in place for hp.epochs; return the per-epoch history. `state_path` holds the
    resumable state; `on_epoch(epoch, net)` is called after each epoch (to keep chosen epochs).
    `landmarks`: (architecture, stand-alone accuracy) pairs, needed when hp.landmarks > 0."""
    if hp.landmarks and (not landmarks or len({a for _, a in landmarks}) < 2):
        raise io.UserError("supernet.landmarks: needs at least two landmark architectures with different "
                           "stand-alone accuracies")
    x, y = train_data.x, train_data.y
    if hp.train_fraction < 1.0:
        idx = torch.from_numpy(training_subset(len(y), hp.train_fraction, seed))
        x, y = x[idx], y[idx]
    x, y = x.to(device), y.to(device)
    net.to(device)
    generator = torch.Generator().manual_seed(seed)
    steps = max(1, len(y) // hp.batch_size)
    optimizer, scheduler = make_optimizer(net, hp, steps)
    params = [p for p in net.parameters() if p.requires_grad]
    wpl = PlasticityLoss(params, hp.wpl_weight) if hp.wpl_weight > 0 else None
    history, start = [], 0
    if state_path.exists():
        state = io.load_checkpoint(state_path)
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])  # dropout masks drawn on the GPU
        if wpl is not None:
            wpl.load(state["wpl"])
        history, start = state["history"], state["epoch"]
    sample = SAMPLERS[hp.sampling](space)
    warmup = one_shot_path(space)
    bar = io.Progress(hp.epochs, "train-supernet")
    bar.done = start
    for epoch in range(start + 1, hp.epochs + 1):
        lr = optimizer.param_groups[0]["lr"]
        draw = (lambda g: [warmup]) if epoch <= hp.warmup_epochs else sample
        loss, acc, passes = train_epoch(net, x, y, optimizer, scheduler, hp, generator, draw, augment, wpl,
                                        landmarks if hp.landmarks else None)
        if wpl is not None:
            wpl.end_epoch()
        history.append({"epoch": epoch, "lr": lr, "train_loss": loss, "train_accuracy": acc, "passes": passes})
        if on_epoch is not None:
            on_epoch(epoch, net)
        io.save_checkpoint({"model": net.state_dict(), "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                            "torch_rng": torch.get_rng_state(), "wpl": wpl.state() if wpl else None,
                            "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
                            "history": history, "epoch": epoch}, state_path)
        bar.update(epoch=epoch, loss=loss, acc=acc)
    bar.close()
    return pd.DataFrame(history, columns=HISTORY_COLUMNS).astype({"epoch": "int64", "passes": "int64"})


def train_epoch(net, x, y, optimizer, scheduler, hp: SupernetConfig, generator: torch.Generator, sample: Sampler,
                augment=None, wpl: PlasticityLoss | None = None, landmarks=None) -> tuple[float, float, int]:
    """One epoch of nas.train.train_epoch with the super-net's heuristics: path dropout at hp's rate,
    and the weight plasticity and landmark losses added to each step's gradients."""
    net.path_dropout = hp.path_dropout

    def regularize(xb, yb) -> int:
        if wpl is not None:
            wpl.accumulate()  # the importance of a weight comes from the task loss only
            penalty = wpl.penalty()
            if penalty is not None:
                penalty.backward()
        if not landmarks:
            return 0
        (hp.landmark_weight * landmark_loss(net, xb, yb, landmarks, generator)).backward()
        return 2

    return train_paths(net, x, y, optimizer, scheduler, hp.batch_size, generator, sample, augment,
                       regularize if wpl is not None or landmarks else None)


def weights(net) -> dict:
    """The weights as a plain state dict on the CPU (what `weights.pt` holds)."""
    return {k: v.detach().cpu() for k, v in net.state_dict().items()}
