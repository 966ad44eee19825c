"""What a study will cost before it runs: its jobs, and the CPU (or GPU) hours they take, from step
times measured here and now on this machine with the study's own networks, multiplied by the study's
step counts.

The measurement builds each variant's super-net and one stand-alone network per measured cell at the
study's size on random data of the dataset's shape, and times a few optimiser steps (after a warm-up
step) and a few scoring passes, on one thread, on `device` (the CPU here unless CUDA is asked for and
present). What it leaves out is printed with the estimate: data loading, landmark and dense-scoring
extras, the aggregate stages (seconds each), and the spread between cells (the measured cells stand for
the pool).
"""

from __future__ import annotations

import math
import statistics
import time

import torch

MNIST1D_SHAPE = (1, 40)  # mnist1d's default final sequence length
IMAGE_SHAPE, CIFAR_TRAIN = (3, 32, 32), 50_000


def split_sizes(cfg) -> tuple[tuple[int, ...], int, int, int]:
    """(input shape, classes, train samples, valid samples) the study's prepared data will have."""
    from nas.data import NUM_CLASSES

    d = cfg.data
    if d.dataset == "mnist1d":
        shape, part = MNIST1D_SHAPE, int(d.num_samples * (1 - d.test_fraction))
    else:
        shape, part = IMAGE_SHAPE, CIFAR_TRAIN
    valid = int(round(part * d.valid_fraction))
    return shape, NUM_CLASSES[d.dataset], part - valid, valid


def _timed(fn, repeats: int) -> float:
    fn()  # warm-up: allocations, kernel selection
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _data(shape, classes, n, device, dataset):
    from nas.data import Tensors

    g = torch.Generator().manual_seed(0)
    return Tensors(torch.randn(n, *shape, generator=g).to(device), torch.randint(classes, (n,), generator=g).to(device),
                   tuple(shape), classes, dataset)


def supernet_step(cfg, variant: str, device, repeats: int = 3) -> tuple[float, float, int]:
    """(seconds per optimiser step, seconds per scoring forward pass of one cell, passes per epoch) of
    a variant's super-net at the study's size."""
    from nas import supernet
    from nas.spaces import get_space

    hp = cfg.variant(variant)
    space = get_space(cfg.space.name)
    shape, classes, _, _ = split_sizes(cfg)
    steps = 2
    data = _data(shape, classes, hp.batch_size * steps, device, cfg.data.dataset)
    method = supernet.method_for(space, hp)
    net = method.build(cfg.space.channels, cfg.space.cells, data).to(device)
    method.setup(net, steps, 0)
    generator = torch.Generator().manual_seed(0)
    valid = (data.x, data.y) if method.needs_valid else None
    epoch = _timed(lambda: method.train_epoch(hp.warmup_epochs + 1, net, data.x, data.y, generator, None, valid),
                   repeats)
    passes = getattr(method, "passes_per_epoch", 1)
    arch = space.sample(1, 0)[0]
    batch = data.x[:min(cfg.eval.batch_size, len(data.y))]

    @torch.no_grad()
    def forward():
        net.eval()
        net(batch, arch)
    return epoch / (steps * passes), _timed(forward, repeats) * cfg.eval.batch_size / len(batch), passes


def standalone_step(cfg, device, cells: int = 2, repeats: int = 3) -> float:
    """Seconds per optimiser step of a stand-alone network at the study's size, the median over
    `cells` sampled cells."""
    from nas.spaces import get_space
    from nas.train import make_optimizer

    space = get_space(cfg.space.name)
    shape, classes, _, _ = split_sizes(cfg)
    sc = cfg.standalone
    data = _data(shape, classes, sc.batch_size, device, cfg.data.dataset)
    out = []
    for arch in space.sample(cells, 0):
        net = space.build(arch, cfg.space.channels, cfg.space.cells, shape, classes).to(device)
        optimizer, _ = make_optimizer(net, sc, 1)

        def step():
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(net(data.x), data.y).backward()
            optimizer.step()
        out.append(_timed(step, repeats))
    return statistics.median(out)


def estimate(cfg) -> tuple[list[dict], list[str]]:
    """[{stage, jobs, hours}] per heavy stage, and the assumptions behind the numbers."""
    from nas import truth
    from nas.selection import SELECTORS
    from nas.spaces import get_space
    from nas.supernet import get_method
    from nas.train import resolve_device

    # A study written for a GPU node is estimated here too: on this machine's CPU when it has no CUDA,
    # and said so (the GPU time is not guessed).
    asked = cfg.device if cfg.device != "auto" else "cpu"
    elsewhere = asked.startswith("cuda") and not torch.cuda.is_available()
    device = resolve_device("cpu" if elsewhere else asked)
    torch.set_num_threads(1)
    shape, _, n_train, n_valid = split_sizes(cfg)
    archs = cfg.sample.archs
    rows = []
    per_variant = {}
    for v in cfg.variants:
        hp = cfg.variant(v)
        step, forward, passes = supernet_step(cfg, v, device)
        steps = hp.epochs * max(1, int(n_train * hp.train_fraction) // hp.batch_size) * passes
        per_variant[v] = (step, forward, steps)
    seeds = len(cfg.supernet.seeds)
    rows.append({"stage": "train-supernet", "jobs": len(cfg.variants) * seeds,
                 "hours": seeds * sum(s * n for s, _, n in per_variant.values()) / 3600})
    forwards = cfg.eval.recalibrate_batches + math.ceil(n_valid / cfg.eval.batch_size)
    rows.append({"stage": "eval-supernet", "jobs": len(cfg.variants) * seeds * cfg.eval.shards,
                 "hours": seeds * sum(f * forwards * archs * (1 + len(cfg.variant(v).save_epochs))
                                      for v, (_, f, _) in per_variant.items()) / 3600})
    if truth.get_source(cfg.standalone.source).trains:
        sc = cfg.standalone
        step = standalone_step(cfg, device)
        rows.append({"stage": "train-standalone", "jobs": sc.shards,
                     "hours": archs * len(sc.seeds) * sc.epochs * max(1, n_train // sc.batch_size) * step / 3600})
    choices = get_space(cfg.space.name).choices()
    for name in cfg.select.methods:
        selector = SELECTORS[name]
        if selector.stage is None:
            continue
        applied = [v for v in cfg.variants if selector.applies(get_method(cfg.variant(v).method))]
        settings = cfg.select.settings.get(name)
        tune = getattr(settings, "tune_epochs", 0)
        batches = math.ceil(n_valid / cfg.eval.batch_size)
        batches = min(batches, getattr(settings, "valid_batches", 0) or batches)
        # DARTS-PT measures every candidate of every choice once before deciding, then the candidates of
        # each choice as it decides it, and fine-tunes between two decisions.
        removals = 2 * sum(len(c.candidates) for c in choices)
        hours = 0.0
        for v in applied:
            step, forward, steps = per_variant[v]
            epoch_steps = steps / max(1, cfg.variant(v).epochs)
            hours += seeds * (removals * batches * forward + (len(choices) - 1) * tune * epoch_steps * step) / 3600
        rows.append({"stage": selector.stage.name, "jobs": len(applied) * seeds, "hours": hours})
    kind = "GPU" if device.type == "cuda" else "CPU"
    assumptions = [f"device {cfg.device} asked for, but this machine has no CUDA: every step was timed on its CPU, "
                   "so these are CPU-hours; a GPU node takes a fraction of them (measure there with this command)"
                   ] if elsewhere else []
    if not truth.get_source(cfg.standalone.source).trains:
        assumptions.append(f"ground truth read from {cfg.standalone.source} ({cfg.standalone.source} source): "
                           "no stand-alone training; importing a benchmark takes minutes of one core")
    assumptions += [
        f"step times measured now on this machine's {device} ({torch.get_num_threads()} thread), at the study's "
        f"network sizes on random data of shape {list(shape)}; {kind}-hours = steps x measured seconds",
        f"train split {n_train} samples, valid {n_valid}; every epoch a full pass at the study's batch size",
        "not included: data preparation, landmark and dense-scoring extras, the aggregate stages (seconds each), "
        "other processes on the machine (threads spin on a busy core: see README Speed)",
    ]
    return rows, assumptions
