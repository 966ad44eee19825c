"""Single-path one-shot super-net training (SPOS) and its heuristics (Yu et al.): `supernet.method: spos`.

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

Its resume state (declared by `checkpointables`): the optimiser, the schedule and the plasticity
anchor; `nas.supernet.base.train` adds the weights, the random generators and the history.
"""

from __future__ import annotations

from typing import Callable, TYPE_CHECKING

import numpy as np

from nas import io
from nas.spaces.base import SearchSpace
from nas.supernet.base import Method, register_method

if TYPE_CHECKING:  # annotations only: torch is imported where it runs, so importing this module does not load it
    import torch
    from torch import nn

Sampler = Callable[["torch.Generator"], list[tuple]]


def _candidates(space: SearchSpace) -> list[tuple[str, ...]]:
    """The candidate operations of each choice (each edge), in choice order."""
    return [c.candidates for c in space.choices()]


def _path(space: SearchSpace, picks) -> tuple:
    """The architecture (super-net path) whose choices, in choice order, pick `picks`."""
    return space.from_picks(dict(zip((c.key for c in space.choices()), picks)))


def _architecture_sampler(space: SearchSpace) -> Sampler:
    """One architecture per step, uniform over the space (`random_arch`: in a space with input groups
    every node gets its `keep` inputs), from a numpy generator seeded by the step's torch generator."""
    import torch

    def sample(generator):
        seed = int(torch.randint(2 ** 62, (1,), generator=generator))
        return [space.random_arch(np.random.default_rng(seed))]
    return sample


def uniform_sampler(space: SearchSpace) -> Sampler:
    """Uniform single path: each edge's operation drawn independently and uniformly. In a constrained
    space (`space.constrained`: input groups, as DARTS's nodes using 2 of their input edges, or a rule
    of its own, as NAS-Bench-101's at most 9 edges and a path from input to output) independent picks
    would not always make an architecture; there a path is a uniformly drawn architecture instead
    (`random_arch`)."""
    import torch

    if space.constrained:
        return _architecture_sampler(space)
    candidates = _candidates(space)
    sizes = [len(ops) for ops in candidates]

    def sample(generator):
        if len(set(sizes)) == 1:  # one draw for all edges
            idx = torch.randint(sizes[0], (len(sizes),), generator=generator).tolist()
        else:
            idx = [int(torch.randint(n, (1,), generator=generator)) for n in sizes]
        return [_path(space, (ops[i] for ops, i in zip(candidates, idx)))]
    return sample


def random_nas_sampler(space: SearchSpace) -> Sampler:
    """One path per step, uniform over the distinct cells of the space: an isomorphism class drawn
    uniformly, then one of its members (so every member's weights are trained, since scoring uses
    the cell as sampled, which need not be its class's canonical member). A space too large to
    enumerate its classes (DARTS: 1e18 cells, nearly all distinct) draws architectures uniformly, which
    is what Li & Talwalkar's Random-NAS does on the DARTS space."""
    import torch

    classes = space.isomorphism_classes()
    if classes is None:
        return _architecture_sampler(space)

    def sample(generator):
        members = classes[int(torch.randint(len(classes), (1,), generator=generator))]
        return [members[int(torch.randint(len(members), (1,), generator=generator))]]
    return sample


def fairnas_refusal(space: SearchSpace) -> str | None:
    """Why fairnas cannot sample `space` (its nodes use only some input edges, or its architectures obey
    a rule of their own: it is `constrained`), or None."""
    if any(c.group is not None for c in space.choices()):
        return (f"fairnas gives every operation of every edge one path a step, so on space {space.name!r}, whose "
                "nodes use only some input edges, its paths are not architectures; use uniform or random_nas")
    if space.constrained:
        return (f"fairnas gives every candidate of every choice one path a step, so on space {space.name!r}, whose "
                "architectures obey a rule beyond their choices, its paths are not architectures; use uniform or "
                "random_nas")
    return None


def round_robin_refusal(space: SearchSpace) -> str | None:
    """Why round_robin cannot train `space` (too large to enumerate), or None."""
    if not space.enumerable:
        return (f"round_robin trains every architecture in turn, but space {space.name!r} has {space.size():,}, "
                "too many to enumerate; use uniform or random_nas")
    return None


def fairnas_sampler(space: SearchSpace) -> Sampler:
    """FairNAS strict fairness: one random permutation of the operations per edge; path k takes the
    k-th operation of every edge, so each operation of each edge is in exactly one path."""
    import torch

    if (why := fairnas_refusal(space)) is not None:
        raise io.UserError(f"supernet.sampling: {why}")
    candidates = _candidates(space)
    counts = {len(ops) for ops in candidates}
    if len(counts) != 1:
        raise io.UserError("supernet.sampling: fairnas needs every edge to have the same number of operations")

    def sample(generator):
        perms = [torch.randperm(len(ops), generator=generator).tolist() for ops in candidates]
        return [_path(space, (ops[perm[k]] for ops, perm in zip(candidates, perms)))
                for k in range(len(candidates[0]))]
    return sample


class RoundRobin:
    """Round-robin training (Zhang et al.): one step per child in turn, over every architecture of an
    enumerable space, so each child gets the same number of steps (equal after every whole round of
    `size` steps, within one at any other point). Each round takes a new order, drawn from the run's
    generator when the round starts (the paper's shuffled fixed order, reshuffled per round rather than
    per epoch so that an epoch whose steps are not a multiple of the children keeps the counts equal).
    Its position in the round is resume state (`state_dict`)."""

    def __init__(self, space: SearchSpace):
        if (why := round_robin_refusal(space)) is not None:
            raise io.UserError(f"supernet.sampling: {why}")
        self.children = space.enumerate_all()
        self.order: list[int] = []
        self.position = 0

    def __call__(self, generator) -> list:
        import torch

        if self.position == len(self.order):
            self.order, self.position = torch.randperm(len(self.children), generator=generator).tolist(), 0
        child = self.children[self.order[self.position]]
        self.position += 1
        return [child]

    def state_dict(self) -> dict:
        return {"order": list(self.order), "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.order, self.position = [int(i) for i in state["order"]], int(state["position"])


SAMPLERS = {"uniform": uniform_sampler, "random_nas": random_nas_sampler, "fairnas": fairnas_sampler,
            "round_robin": RoundRobin}


def one_shot_path(space: SearchSpace):
    """Every operation of every edge at once (the warm-up's one-shot model): the path whose every choice
    picks the tuple of all its candidates, as the space's `from_picks` gives it (NB201: a tuple of
    tuples; NAS-Bench-101: every vertex averaging its operations, every edge on)."""
    return _path(space, (tuple(ops) for ops in _candidates(space)))


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
        import torch

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
        import torch

        fisher = [s / max(1, self.steps) for s in self.sq_grads]
        top = torch.cat([f.flatten() for f in fisher]).max()
        self.fisher = [f / top if top > 0 else f for f in fisher]
        self.anchor = [p.detach().clone() for p in self.params]
        self.sq_grads = [torch.zeros_like(p) for p in self.params]
        self.steps = 0

    def state_dict(self) -> dict:
        return {"fisher": self.fisher, "anchor": self.anchor}

    def load_state_dict(self, state: dict):
        """Restore from a checkpoint (read on the CPU) onto the parameters' device."""
        def here(tensors):
            return None if tensors is None else [t.to(p.device) for t, p in zip(tensors, self.params)]
        self.fisher, self.anchor = here(state["fisher"]), here(state["anchor"])


def landmark_loss(net, xb, yb, landmarks: list[tuple[tuple, float]], generator: torch.Generator) -> torch.Tensor:
    """Landmark regularisation (Yu et al., 2021): for one random pair of landmark architectures whose
    stand-alone accuracies differ, penalise the super-net when the better one has the higher loss on
    this batch: relu(loss(better) - loss(worse))."""
    import torch
    from torch.nn import functional as F

    while True:
        i, j = torch.randperm(len(landmarks), generator=generator)[:2].tolist()
        if landmarks[i][1] != landmarks[j][1]:
            break
    better, worse = (landmarks[i], landmarks[j]) if landmarks[i][1] > landmarks[j][1] else (landmarks[j], landmarks[i])
    return F.relu(F.cross_entropy(net(xb, better[0]), yb) - F.cross_entropy(net(xb, worse[0]), yb))


def train_epoch(net, x, y, optimizer, scheduler, hp, generator: torch.Generator, sample: Sampler,
                augment=None, wpl: PlasticityLoss | None = None, landmarks=None,
                after_step=None) -> tuple[float, float, int]:
    """One epoch of nas.train.train_epoch with the super-net's heuristics: path dropout at hp's rate,
    and the weight plasticity and landmark losses added to each step's gradients."""
    from nas.train import train_epoch as train_paths

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
                       regularize if wpl is not None or landmarks else None, after_step)


@register_method
class SPOS(Method):
    """Single-path one-shot: each step trains the paths `supernet.sampling` draws (one-shot warm-up
    epochs first), with path dropout, the weight plasticity loss and landmark regularisation where
    the variant asks for them; SGD with the `supernet` section's schedule."""

    name = "spos"

    def setup(self, net, steps_per_epoch: int, seed: int, landmarks=None) -> None:
        from nas.train import make_optimizer

        hp = self.hp
        if hp.landmarks and (not landmarks or len({a for _, a in landmarks}) < 2):
            raise io.UserError("supernet.landmarks: needs at least two landmark architectures with different "
                               "stand-alone accuracies")
        self.landmarks = landmarks if hp.landmarks else None
        from nas.supernet import sharing

        self.passes_per_epoch = sharing.data_passes(hp)  # per_group compute: every group the full epochs
        self.optimizer, self.scheduler = make_optimizer(net, hp, steps_per_epoch * self.passes_per_epoch)
        params = [p for p in net.parameters() if p.requires_grad]
        self.wpl = PlasticityLoss(params, hp.wpl_weight) if hp.wpl_weight > 0 else None
        self.sample = SAMPLERS[hp.sampling](self.space)
        self.warmup = one_shot_path(self.space)

    def checkpointables(self) -> dict:
        return {"optimizer": self.optimizer, "scheduler": self.scheduler,
                **({"wpl": self.wpl} if self.wpl is not None else {}),
                **({"sampler": self.sample} if hasattr(self.sample, "state_dict") else {})}

    def train_epoch(self, epoch, net, x, y, generator, augment=None, valid=None) -> dict:
        lr = self.optimizer.param_groups[0]["lr"]
        warmup = self.warmup
        draw = (lambda g: [warmup]) if epoch <= self.hp.warmup_epochs else self.sample
        results = [train_epoch(net, x, y, self.optimizer, self.scheduler, self.hp, generator, draw, augment,
                               self.wpl, self.landmarks, self.after_step) for _ in range(self.passes_per_epoch)]
        loss = sum(r[0] for r in results) / len(results)
        acc = sum(r[1] for r in results) / len(results)
        passes = sum(r[2] for r in results)
        if self.wpl is not None:
            self.wpl.end_epoch()
        return {"lr": lr, "train_loss": loss, "train_accuracy": acc, "passes": passes}

    @classmethod
    def check(cls, where, hp, space: SearchSpace, sample_archs: int, topk) -> None:
        """Heuristics that do not apply to the space, or that contradict each other."""
        if hp.op_on not in space.supernet_forms:
            raise io.UserError(f"{where('op_on')}: {hp.op_on!r} does not apply to space {space.name!r}; "
                               f"it supports {', '.join(space.supernet_forms)}")
        if hp.kernel_mapping and not space.kernel_pairs:
            raise io.UserError(f"{where('kernel_mapping')}: space {space.name!r} has no pair of convolutions "
                               "that share a kernel centre")
        why = space.dynamic_channels_refusal(getattr(hp, "dynamic_channels", None))
        if why is not None:
            raise io.UserError(f"{where('dynamic_channels')}: {why}")
        refusal = {"round_robin": round_robin_refusal, "fairnas": fairnas_refusal}.get(hp.sampling)
        if refusal is not None and (why := refusal(space)) is not None:
            raise io.UserError(f"{where('sampling')}: {why}")
        if hp.sampling == "fairnas":
            sizes = sorted({len(c.candidates) for c in space.choices()})
            if len(sizes) > 1:
                raise io.UserError(f"{where('sampling')}: fairnas trains every operation of every edge once per "
                                   f"step, but the edges of space {space.name!r} have different numbers of "
                                   f"operations ({', '.join(map(str, sizes))})")
            if hp.op_on == "node":
                raise io.UserError(f"{where('sampling')}: fairnas conflicts with {where('op_on')} node: the "
                                   "node-wise path of a cell is derived from its edges, so operations cannot be "
                                   "trained once each per node; use uniform or random_nas")
        if hp.warmup_epochs >= hp.epochs:
            raise io.UserError(f"{where('warmup_epochs')}: {hp.warmup_epochs} is not allowed; expected fewer than "
                               f"the {hp.epochs} epochs (warm-up epochs train no single path)")
        if hp.landmarks:
            if hp.landmarks < 2:
                raise io.UserError(f"{where('landmarks')}: {hp.landmarks} is not allowed; the ranking loss compares "
                                   "pairs, so use 0 (off) or at least 2")
            keep = sample_archs - hp.landmarks
            need = max([2] + list(topk))
            if keep < need:
                raise io.UserError(f"{where('landmarks')}: {hp.landmarks} landmarks leave {keep} of the {sample_archs} "
                                   f"sampled archs to score; need at least {need} (correlate.topk); lower it or "
                                   "raise sample.archs")
