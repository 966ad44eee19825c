"""DARTS benchmarks (part of `make bench`; also `python -m benchmarks.darts [--quick]`).

Measured side by side in one run, on one intra-op thread, with the committed study files:
  * a first-order DARTS super-net step (alpha step on a valid batch + weight step on a train batch)
    next to a SPOS step (one uniformly sampled path) at the default study's size (params.yaml: space,
    channels, cells, batch, MNIST-1D shape), both through their method's own `train_epoch`;
  * DARTS-PT (studies/darts_pt.yaml): one perturbation decision (every operation of one edge removed
    in turn, measured on the valid split) and one fine-tuning epoch, the whole selection estimated
    from those parts, and the whole selection run once on a freshly built super-net;
  * against the NAS-Bench-201 authors' code (xautodl, the `bench` extra): our DARTS step next to
    xautodl's DARTS-V1 step, and our SPOS step next to xautodl's RANDOM-NAS step, on 3x32x32 inputs,
    batch 64, at C=8 N=1 and C=16 N=5. Skipped, with a message, when xautodl is not installed.
Timings are medians of repeats, the timed things interleaved in each repeat (so they see the same
machine load); the machine is shared, so compare ratios within one run.
Usage: python -m benchmarks.darts [--quick] [--repeats N] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from benchmarks.common import REPO, interleaved, prepared_splits, print_rows, random_data

XAUTODL_SIZES = ((8, 1), (16, 5))  # (C, N): the default study's size and NAS-Bench-201's
XAUTODL_SPACE = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
TARGET = 0.8  # issue 13: our DARTS step at most 0.8x xautodl's


# --- timing helpers -------------------------------------------------------------------------------

def method_timer(method, net, train, valid, seed: int = 0) -> Callable[[], float]:
    """Seconds per step of `method`'s own training loop: each call runs one `train_epoch` over
    `train` (len // batch steps; DARTS's alpha steps draw their batches from `valid`)."""
    steps = max(1, len(train.y) // method.hp.batch_size)
    method.setup(net, steps, seed)
    generator = torch.Generator().manual_seed(seed)
    val = (valid.x, valid.y) if method.needs_valid else None
    epoch = 0

    def run() -> float:
        nonlocal epoch
        epoch += 1
        start = time.perf_counter()
        method.train_epoch(epoch, net, train.x, train.y, generator, None, val)
        return (time.perf_counter() - start) / steps
    return run


def build(space, hp, data):
    """`hp`'s super-net at hp's size (hp.channels/cells are set) for `data`'s shape, seeded."""
    from nas import supernet

    method = supernet.method_for(space, hp)
    torch.manual_seed(0)
    return method, method.build(hp.channels, hp.cells, data)


# --- 1. DARTS step next to SPOS step at the default size ------------------------------------------

def study_variants(cfg, cfg_pt):
    """(SPOS, DARTS) settings at the default study's size and batch: params.yaml's baseline with
    uniform single-path sampling, and studies/darts_pt.yaml's `darts` variant."""
    base = cfg.variant(cfg.variants[0])
    size = {"channels": base.channels or cfg.space.channels, "cells": base.cells or cfg.space.cells,
            "batch_size": base.batch_size}
    spos = dataclasses.replace(base, sampling="uniform", **size)
    darts = dataclasses.replace(cfg_pt.variant("darts"), **size)
    return spos, darts


def bench_darts_step(cfg, cfg_pt, repeats: int, steps: int = 10) -> dict:
    """A DARTS step (alpha + weight step) next to a SPOS step (one uniform path), at the default
    study's size: what a DARTS epoch costs against a SPOS epoch, per step."""
    from nas.data import NUM_CLASSES
    from nas.spaces import get_space

    space = get_space(cfg.space.name)
    spos_hp, darts_hp = study_variants(cfg, cfg_pt)
    shape = (1, 40) if cfg.data.dataset == "mnist1d" else (3, 32, 32)
    data = random_data(shape, NUM_CLASSES[cfg.data.dataset], steps * spos_hp.batch_size, 0)
    valid = random_data(shape, NUM_CLASSES[cfg.data.dataset], steps * spos_hp.batch_size, 1)
    timers = {}
    for name, hp in (("spos", spos_hp), ("darts", darts_hp)):
        method, net = build(space, hp, data)
        timers[name] = method_timer(method, net, data, valid)
    t = interleaved(timers, repeats)
    return {"spos_step_s": t["spos"], "darts_step_s": t["darts"], "ratio": t["darts"] / t["spos"],
            "channels": spos_hp.channels, "cells": spos_hp.cells, "batch": spos_hp.batch_size}


# --- 2. DARTS-PT: one decision, one fine-tuning epoch, the whole selection -----------------------

def bench_perturbation(cfg_pt, repeats: int, run_select: bool = True) -> dict:
    """DARTS-PT on NB201 at studies/darts_pt.yaml's size, on the study's prepared splits: the
    measurements of one decision (each operation of one edge removed, the valid split measured) and
    one fine-tuning epoch, timed interleaved; the whole selection estimated from those parts (decision
    0 measures all E edges, then E decisions of one edge each, E-1 gaps of tune_epochs epochs); and,
    with `run_select`, `perturbation.select` run once on a freshly built DARTS super-net."""
    from nas.selection import perturbation as pt
    from nas.spaces import get_space

    space = get_space(cfg_pt.space.name)
    hp = dataclasses.replace(cfg_pt.variant("darts"), channels=cfg_pt.space.channels, cells=cfg_pt.space.cells)
    settings = cfg_pt.select.perturbation
    splits = prepared_splits(cfg_pt)
    train, valid = splits["train"], splits["valid"]
    steps = max(1, len(train.y) // hp.batch_size)
    method, net = build(space, hp, train)
    method.setup(net, steps, 0)
    tune_hp = dataclasses.replace(hp, lr=hp.lr * settings.lr_factor, epochs=max(1, settings.tune_epochs))
    method.fixed = {}
    method.optimizers(net, tune_hp, steps, 0)
    # The valid batches as `select` makes them.
    perm = torch.randperm(len(valid.y), generator=torch.Generator().manual_seed(1))
    chunks = [perm[i:i + hp.batch_size] for i in range(0, len(valid.y), hp.batch_size)]
    chunks = chunks[:settings.valid_batches] if settings.valid_batches else chunks
    batches = [(valid.x[c], valid.y[c]) for c in chunks]
    generator = torch.Generator().manual_seed(0)

    def decision() -> float:  # one edge: each of its operations removed in turn (no decision fixed yet)
        with torch.no_grad():
            arch = tuple({op: w.detach() for op, w in pick.items()} for pick in method.mixing(net))
        start = time.perf_counter()
        for op in space.choices()[0].candidates:
            pt.measure(net, pt.without(arch, 0, op), batches)
        return time.perf_counter() - start

    def tune_epoch() -> float:
        start = time.perf_counter()
        method.train_epoch(1, net, train.x, train.y, generator, None, (valid.x, valid.y))
        return time.perf_counter() - start

    t = interleaved({"decision": decision, "tune_epoch": tune_epoch}, repeats)
    edges = len(space.choices())
    measure_s = 2 * edges * t["decision"]  # decision 0 (every edge) + one edge per decision
    tune_s = (edges - 1) * settings.tune_epochs * t["tune_epoch"]
    out = {"decision_s": t["decision"], "tune_epoch_s": t["tune_epoch"], "estimate_s": measure_s + tune_s,
           "estimate_measure_s": measure_s, "estimate_tune_s": tune_s, "edges": edges,
           "tune_epochs": settings.tune_epochs, "valid_batches": len(batches), "train_steps": steps,
           "channels": hp.channels, "cells": hp.cells}
    if run_select:
        method, net = build(space, hp, train)
        method.setup(net, steps, 0)
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(io.StringIO()):
            start = time.perf_counter()
            pt.select(method, net, train, valid, settings, 0, Path(tmp) / "state.pt", torch.device("cpu"))
            out["select_s"] = time.perf_counter() - start
    return out


# --- 3. against xautodl (the NAS-Bench-201 authors' code) ----------------------------------------

def xautodl_version() -> str | None:
    """xautodl's version, or None when it cannot be imported (the `bench` extra is not installed)."""
    try:
        import xautodl.models  # noqa: F401
    except Exception:  # noqa: BLE001 (any import failure means: skip)
        return None
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("xautodl")
    except PackageNotFoundError:
        return "unknown"


def xautodl_net(name: str, c: int, n: int):
    from xautodl.models import get_cell_based_tiny_net

    torch.manual_seed(0)
    return get_cell_based_tiny_net({"name": name, "C": c, "N": n, "max_nodes": 4, "num_classes": 10,
                                    "space": XAUTODL_SPACE, "affine": False, "track_running_stats": False})


def xautodl_timer(net, hp, train, valid, darts: bool, seed: int = 0) -> Callable[[], float]:
    """Seconds per step of xautodl's search loop (exps/NAS-Bench-201-algos/DARTS-V1.py `search_func`;
    exps/algos/RANDOM-NAS.py for RANDOM), logging left out: a weight step (SGD on get_weights, grads
    clipped at 5 over all parameters) then, for DARTS-V1, an alpha step (Adam) on a valid batch.
    RANDOM first sets the step's architecture, as its `random_genotype(True)` does, but draws it with
    our uniform sampler from the same generator as ours: both sides train the same paths on the same
    batches (different draws would add the spread of path costs to the comparison). Optimiser settings
    are `hp`'s, the same as ours."""
    from xautodl.models import CellStructure

    from nas.spaces import get_space
    from nas.supernet import uniform_sampler
    from nas.train import batch_indices, make_optimizer

    s = hp.settings
    steps = max(1, len(train.y) // hp.batch_size)
    w_opt, sched = make_optimizer(net, hp, steps, params=net.get_weights() if darts else None)
    a_opt = torch.optim.Adam(net.get_alphas(), lr=s.alpha_lr, betas=(s.alpha_beta1, s.alpha_beta2),
                             weight_decay=s.alpha_weight_decay) if darts else None
    generator = torch.Generator().manual_seed(seed)
    sample = uniform_sampler(get_space("nb201"))
    x, y, vx, vy = train.x, train.y, valid.x, valid.y

    def set_path(arch):  # NB201's edge order: node i's inputs j < i, i = 1..3
        net.arch_cache = CellStructure([tuple((arch[i * (i - 1) // 2 + j], j) for j in range(i)) for i in (1, 2, 3)])

    def run() -> float:
        net.train()
        start = time.perf_counter()
        valid_batches = batch_indices(len(vy), hp.batch_size, generator) if darts else []
        for step, idx in enumerate(batch_indices(len(y), hp.batch_size, generator)):
            if not darts:
                set_path(sample(generator)[0])
            w_opt.zero_grad()
            _, logits = net(x[idx])
            F.cross_entropy(logits, y[idx]).backward()
            nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            w_opt.step()
            sched.step()
            if darts:
                vidx = valid_batches[step % len(valid_batches)]
                a_opt.zero_grad()
                _, logits = net(vx[vidx])
                F.cross_entropy(logits, vy[vidx]).backward()
                a_opt.step()
        return (time.perf_counter() - start) / steps
    return run


def bench_xautodl(cfg, cfg_pt, repeats: int, sizes=XAUTODL_SIZES) -> dict:
    """Per size (C, N), on 3x32x32 inputs, batch 64, all four interleaved: our DARTS step and
    xautodl's DARTS-V1 step (weight step + alpha step each), our SPOS step (one uniform path) and
    xautodl's RANDOM-NAS step, and the ratios ours / xautodl. Both sides build every batch norm with
    affine=False, track=False where their code lets them (xautodl's stem, head and reduction blocks
    keep affine batch norm with running statistics; its convolutions get a bias when affine=False);
    xautodl also runs `none` (zeros times its weight), ours skips it."""
    version = xautodl_version()
    if version is None:
        return {"skipped": "xautodl is not importable; install the `bench` extra of pyproject.toml without its "
                           "dependencies: .venv/bin/pip install --no-deps xautodl==1.0.0"}
    from nas.spaces import get_space

    space = get_space("nb201")
    spos_hp, darts_hp = study_variants(cfg, cfg_pt)
    out: dict = {"xautodl": version}
    for c, n in sizes:
        # Steps per timed call: a C=16 N=5 DARTS step takes seconds, a single-path step a tenth of that.
        darts_steps, path_steps = (4, 16) if c * n <= 8 else (1, 4)
        size = {"channels": c, "cells": n, "batch_size": 64, "bn_affine": False, "bn_track": False}
        darts_size, spos_size = dataclasses.replace(darts_hp, **size), dataclasses.replace(spos_hp, **size)
        timers = {}
        for name, steps in (("darts", darts_steps), ("spos", path_steps)):
            train = random_data((3, 32, 32), 10, steps * 64, 0)
            valid = random_data((3, 32, 32), 10, steps * 64, 1)
            hp = darts_size if name == "darts" else spos_size
            method, net = build(space, hp, train)
            timers[f"ours_{name}"] = method_timer(method, net, train, valid)
            xname = "DARTS-V1" if name == "darts" else "RANDOM"
            timers[f"xautodl_{name}"] = xautodl_timer(xautodl_net(xname, c, n), hp, train, valid, name == "darts")
        t = interleaved(timers, repeats)
        out[(c, n)] = {**t, "darts_ratio": t["ours_darts"] / t["xautodl_darts"],
                       "spos_ratio": t["ours_spos"] / t["xautodl_spos"],
                       "xautodl_darts_over_ours_spos": t["xautodl_darts"] / t["ours_spos"],
                       "darts_steps": darts_steps, "path_steps": path_steps}
    return out


# --- the table ------------------------------------------------------------------------------------

def run_all(cfg, repeats: int, quick: bool = False) -> dict:
    """Every DARTS entry; `cfg` is params.yaml, the DARTS-PT settings come from studies/darts_pt.yaml."""
    from nas import config

    cfg_pt = config.load(REPO / "studies" / "darts_pt.yaml")
    return {"step": bench_darts_step(cfg, cfg_pt, repeats, steps=5 if quick else 10),
            "perturbation": bench_perturbation(cfg_pt, repeats),
            "xautodl": bench_xautodl(cfg, cfg_pt, repeats)}


def rows(results: dict) -> list[tuple[str, str]]:
    """(benchmark, median) rows of `run_all`'s results, for benchmarks.run's table."""
    s, p, x = results["step"], results["perturbation"], results["xautodl"]
    out = [
        (f"DARTS step, alpha + weight (C={s['channels']}, N={s['cells']}, batch {s['batch']}, 1 thread)",
         f"{s['darts_step_s'] * 1e3:.2f} ms"),
        ("SPOS step, one uniform path, same size (interleaved)", f"{s['spos_step_s'] * 1e3:.2f} ms"),
        ("ratio DARTS / SPOS step", f"{s['ratio']:.2f}x"),
        (f"DARTS-PT decision, one edge's ops removed ({p['valid_batches']} valid batches)",
         f"{p['decision_s']:.2f} s"),
        (f"DARTS-PT fine-tuning epoch ({p['train_steps']} DARTS steps)", f"{p['tune_epoch_s']:.2f} s"),
        (f"DARTS-PT selection, computed from parts ({2 * p['edges']} edge measurements + "
         f"{p['edges'] - 1}x{p['tune_epochs']} epochs)",
         f"{p['estimate_s']:.1f} s ({p['estimate_measure_s']:.1f} measuring + {p['estimate_tune_s']:.1f} tuning)"),
    ]
    if "select_s" in p:
        out.append(("DARTS-PT selection, perturbation.select on a fresh super-net (one run)",
                    f"{p['select_s']:.1f} s"))
    if "skipped" in x:
        out.append(("vs xautodl", f"skipped: {x['skipped']}"))
        return out
    for (c, n), t in ((k, v) for k, v in x.items() if isinstance(k, tuple)):
        out += [
            (f"DARTS step, ours / xautodl {x['xautodl']} DARTS-V1 (C={c}, N={n}, 3x32x32, batch 64)",
             f"{t['ours_darts'] * 1e3:.1f} / {t['xautodl_darts'] * 1e3:.1f} ms ({t['darts_ratio']:.2f}x; "
             f"target <= {TARGET}x)"),
            (f"SPOS step, ours / xautodl RANDOM-NAS (C={c}, N={n})",
             f"{t['ours_spos'] * 1e3:.1f} / {t['xautodl_spos'] * 1e3:.1f} ms ({t['spos_ratio']:.2f}x)"),
            (f"xautodl DARTS-V1 step / our SPOS step (C={c}, N={n})", f"{t['xautodl_darts_over_ours_spos']:.1f}x"),
        ]
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats and steps (a check that it runs)")
    p.add_argument("--repeats", type=int, default=None, help="default 5, or 2 with --quick")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)
    from nas import config

    torch.set_num_threads(1)  # as benchmarks.run: one intra-op thread for every side
    repeats = args.repeats or (2 if args.quick else 5)
    results = run_all(config.load(REPO / "params.yaml"), repeats, args.quick)
    print_rows(rows(results))
    if args.json is not None:
        args.json.write_text(json.dumps(jsonable(results), indent=2) + "\n")
    return results


def jsonable(results: dict) -> dict:
    """The results with (C, N) keys written as "C=8,N=1"."""
    return {k: jsonable(v) if isinstance(v, dict) else v for k, v in
            ((f"C={k[0]},N={k[1]}" if isinstance(k, tuple) else k, v) for k, v in results.items())}


if __name__ == "__main__":
    main()
