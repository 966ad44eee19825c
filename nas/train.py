"""Training and evaluation loops, shared by the super-net and the stand-alone networks.

Data lives on the device as whole tensors (the datasets here are small); batches are index slices of
a permutation drawn from an explicit `torch.Generator`, so every run with the same seed sees the same
batches in the same order, and a resumed run continues the same stream.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present, CPU otherwise."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        from nas.io import UserError
        raise UserError(f"device: '{name}' asked for, but CUDA is not available on this machine; use auto or cpu")
    return torch.device(name)


def seed_everything(seed: int):
    torch.manual_seed(seed)
    # torch.use_deterministic_algorithms(True, warn_only=True) without its other half, which imports
    # torch._inductor to set the compiler's flag (nothing here is compiled): 1.5 s of every training
    # command's start. tests/unit/test_train.py checks the flag this sets.
    torch._C._set_deterministic_algorithms(True, warn_only=True)


def _without_compile_guards(optimizer: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    """`optimizer` as it computes, without torch's guards against compiling it: its step is wrapped by a
    function that imports the TorchDynamo compiler to break its graph, and add_param_group, zero_grad,
    state_dict and load_state_dict by one that imports it to exempt them. That import is 1.4 s of every
    training command (most of a small stage's start); nothing here is compiled. The subclass has the
    functions inside the wrappers (`inspect.unwrap`), the step under no_grad as the guard runs it
    (differentiable=False). tests/unit/test_train.py checks it trains to the same bytes and that a
    training command never imports the compiler."""
    import inspect

    eager = type(optimizer.__name__, (optimizer,), {"step": torch.no_grad()(inspect.unwrap(optimizer.step))})
    for name in ("add_param_group", "zero_grad", "state_dict", "load_state_dict"):
        setattr(eager, name, inspect.unwrap(getattr(torch.optim.Optimizer, name)))
    return eager


SGD = _without_compile_guards(torch.optim.SGD)
Adam = _without_compile_guards(torch.optim.Adam)


def make_optimizer(model: nn.Module, hp, steps_per_epoch: int, params=None):
    """SGD with a cosine schedule stepped every batch, from hp.lr down to hp.lr_min (0 where hp has
    none) over hp.epochs (or a
    constant hp.lr where hp.lr_schedule says so). `params`: the parameters to train (default: all)."""
    opt = SGD(model.parameters() if params is None else params, lr=hp.lr, momentum=hp.momentum,
                          nesterov=hp.nesterov and hp.momentum > 0, weight_decay=hp.weight_decay)
    total = max(1, hp.epochs * steps_per_epoch)
    if getattr(hp, "lr_schedule", "cosine") == "constant":
        return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    floor = getattr(hp, "lr_min", 0.0) / hp.lr  # the cosine's end, as a share of hp.lr
    if floor == 0:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5 * (1 + math.cos(math.pi * step / total)))
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * step / total)))
    return opt, sched


def batch_indices(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """A shuffled epoch of index batches. The last partial batch is dropped: batch norm needs more
    than one sample, and equal batches keep steps comparable."""
    perm = torch.randperm(n, generator=generator)
    full = max(1, n // batch_size)
    return [perm[i * batch_size:(i + 1) * batch_size] for i in range(full)]


def train_epoch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, optimizer, scheduler, batch_size: int,
                generator: torch.Generator, sample_paths: Callable[[torch.Generator], list] | None = None,
                augment: Callable | None = None,
                regularize: Callable[[torch.Tensor, torch.Tensor], int] | None = None,
                after_step: Callable[[], None] | None = None) -> tuple[float, float, int]:
    """One pass over (x, y). Each step trains the network (a stand-alone net) or the paths
    `sample_paths(generator)` draws (a super-net: their gradients summed into one update);
    `regularize(xb, yb)` adds the gradients of extra losses and returns the passes it made;
    `after_step()` is called after each optimiser step (dense scoring near the end of a run). Returns
    the mean training loss and accuracy (percent) over the paths trained, and the number of
    forward-backward passes of one path over one batch (a deterministic measure of cost)."""
    model.train()
    # Sums stay on the device: one synchronisation per epoch, not one per path.
    loss_sum = torch.zeros((), dtype=torch.float64, device=x.device)
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    seen, passes = 0, 0
    for idx in batch_indices(len(y), batch_size, generator):
        idx = idx.to(x.device)
        xb, yb = x[idx], y[idx]
        if augment is not None:
            xb = augment(xb, generator)
        optimizer.zero_grad(set_to_none=True)
        for path in (sample_paths(generator) if sample_paths is not None else [None]):
            logits = model(xb, path)
            loss = F.cross_entropy(logits, yb)
            loss.backward()
            loss_sum += loss.detach().double() * len(yb)
            correct += (logits.argmax(1) == yb).sum()
            seen += len(yb)
            passes += 1
        if regularize is not None:
            passes += regularize(xb, yb)
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        scheduler.step()
        if after_step is not None:
            after_step()
    return loss_sum.item() / seen, 100.0 * correct.item() / seen, passes


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, arch=None) -> tuple[float, float]:
    """Accuracy (percent) and mean loss over (x, y), in the model's current train/eval mode."""
    loss_sum, correct = 0.0, 0
    for start in range(0, len(y), batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        logits = model(xb, arch)
        loss_sum += F.cross_entropy(logits, yb, reduction="sum").item()
        correct += (logits.argmax(1) == yb).sum().item()
    return 100.0 * correct / len(y), loss_sum / len(y)
