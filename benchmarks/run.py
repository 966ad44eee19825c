"""`make bench`: speed of the pieces and of the whole default study, as a small table.

Measured side by side in one run, on this machine, with the committed params.yaml:
  * median seconds per super-net training step (one uniformly sampled path) next to a stand-alone
    training step of the largest cell (every edge nor_conv_3x3) at the same size, and their ratio;
  * super-net step time per path-sampling mode (uniform, random-NAS, FairNAS, and the one-shot
    warm-up step), each relative to uniform single path;
  * peak memory (resident set) of super-net training at the default size, in a fresh process;
  * architectures scored per second by eval-supernet (with the configured batch-norm handling);
  * a super-net step at 1 and at 2 intra-op threads, interleaved (the `threads` setting);
  * the degree-of-sharing entries of benchmarks/sharing.py (private cells, 64 groups, scoring 64 children);
  * scoring every NAS-Bench-201 class (benchmarks/wholespace.py): one job, two shards side by side, two
    threads, projected from 400 classes; the shards' scores against the one job's;
  * NAS-Bench-101 (benchmarks/nb101.py): a super-net step per dynamic-channel rule beside NB201's at the
    same width; 10,000 specs drawn and hashed;
  * start-up (benchmarks/startup.py): a fresh process's first optimizer step, the stages' code deps, a table
    stage's start without PyTorch;
  * wall seconds of the default study (`dvc repro` in a fresh copy) and of a no-op `dvc repro`.
Timings are medians of repeats; the machine is shared, so compare ratios within one run.
Usage: python -m benchmarks.run [--skip-study] [--repeats N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import REPO, median_step_seconds, prepared_splits, print_rows
from nas.spaces.base import NetworkSettings


def step_setup(cfg):
    """The space, the baseline's settings, and one random batch of the dataset's shape."""
    from nas.data import NUM_CLASSES
    from nas.spaces import get_space

    shape = (1, 40) if cfg.data.dataset == "mnist1d" else (3, 32, 32)
    classes = NUM_CLASSES[cfg.data.dataset]
    hp = cfg.variant(cfg.variants[0])
    x, y = torch.randn(hp.batch_size, *shape), torch.randint(classes, (hp.batch_size,))
    return get_space(cfg.space.name), hp, x, y, classes


def bench_steps(cfg, repeats: int) -> dict:
    """A super-net step (one uniformly sampled path) next to a stand-alone step of the largest cell."""
    from nas import supernet

    space, hp, x, y, classes = step_setup(cfg)
    c, n = hp.channels or cfg.space.channels, hp.cells or cfg.space.cells
    torch.manual_seed(0)
    sn = space.build_supernet(NetworkSettings(c, n, tuple(x.shape[1:]), classes, affine=hp.bn_affine, track=hp.bn_track))
    largest = ("nor_conv_3x3",) * len(space.choices())  # the NB201 cell with the most parameters and FLOPs
    sa = space.build(largest, c, n, tuple(x.shape[1:]), classes)
    t_sn = median_step_seconds(sn, x, y, supernet.uniform_sampler(space), 20, repeats)
    t_sa = median_step_seconds(sa, x, y, lambda g: [None], 20, repeats)
    return {"supernet_step_s": t_sn, "standalone_step_s": t_sa, "ratio": t_sn / t_sa, "batch": hp.batch_size,
            "channels": c, "cells": n}


def bench_sampling(cfg, repeats: int) -> dict:
    """Step time of each path-sampling mode, and of a warm-up step, at the baseline's size."""
    from nas import supernet

    space, hp, x, y, classes = step_setup(cfg)
    torch.manual_seed(0)
    net = space.build_supernet(NetworkSettings(hp.channels or cfg.space.channels, hp.cells or cfg.space.cells,
                                               tuple(x.shape[1:]), classes, affine=hp.bn_affine, track=hp.bn_track))
    modes = {name: make(space) for name, make in supernet.SAMPLERS.items()}
    modes["one-shot warm-up"] = lambda g, path=supernet.one_shot_path(space): [path]
    return {name: median_step_seconds(net, x, y, sample, 10, repeats) for name, sample in modes.items()}


def bench_threads(cfg, repeats: int) -> dict:
    """A super-net step (the baseline's sampling) at 1 and at 2 intra-op threads (the `threads`
    setting), interleaved so both see the same machine load."""
    from nas import supernet

    space, hp, x, y, classes = step_setup(cfg)
    torch.manual_seed(0)
    net = space.build_supernet(NetworkSettings(hp.channels or cfg.space.channels, hp.cells or cfg.space.cells,
                                               tuple(x.shape[1:]), classes, affine=hp.bn_affine, track=hp.bn_track))
    sample = supernet.SAMPLERS[hp.sampling](space)
    times: dict[int, list[float]] = {1: [], 2: []}
    for r in range(repeats):
        for threads in ((1, 2) if r % 2 == 0 else (2, 1)):
            torch.set_num_threads(threads)
            times[threads].append(median_step_seconds(net, x, y, sample, 10, 1))
    torch.set_num_threads(1)
    return {threads: statistics.median(t) for threads, t in times.items()}


PEAK_MEMORY = """
import dataclasses, pathlib, resource, sys, tempfile, torch
from benchmarks.common import prepared_splits
from nas import config, supernet
from nas.spaces import get_space
torch.set_num_threads(1)
cfg = config.load(sys.argv[1])
hp = dataclasses.replace(cfg.variant(cfg.variants[0]), epochs=2)
train = prepared_splits(cfg, ["train"])["train"]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
space = get_space(cfg.space.name)
net = supernet.build(space, hp, cfg.space.channels, cfg.space.cells, train)
supernet.train(net, hp, space, train, 0, torch.device("cpu"), pathlib.Path(tempfile.mkdtemp()) / "state.pt")
print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def bench_peak_memory() -> dict:
    """Peak resident memory of 2 epochs of super-net training at the committed size, in a fresh
    process (KiB from getrusage), and how much of it training added over the imports and data."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", PEAK_MEMORY, str(REPO / "params.yaml")], cwd=REPO, env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    before, after = int(out[-2]), int(out[-1])
    return {"peak_mib": after / 1024, "training_mib": (after - before) / 1024}


def bench_scoring(cfg, repeats: int) -> dict:
    from nas import evaluate
    from nas.spaces import get_space

    space = get_space(cfg.space.name)
    splits = prepared_splits(cfg)
    train, valid = splits["train"], splits["valid"]
    hp = cfg.variant(cfg.variants[0])
    net = space.build_supernet(NetworkSettings(hp.channels or cfg.space.channels, hp.cells or cfg.space.cells,
                                               train.shape, train.num_classes, affine=hp.bn_affine, track=hp.bn_track))
    import pandas as pd
    archs = pd.DataFrame({"arch_id": range(16), "arch": [space.format(a) for a in space.sample(16, 0)]})
    e = cfg.eval
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):  # no progress lines in the table
            evaluate.score_archs(net, archs, space, valid, train, e.bn, e.recalibrate_batches, e.batch_size,
                                 0, torch.device("cpu"))
        rates.append(len(archs) / (time.perf_counter() - start))
    return {"archs_per_s": statistics.median(rates), "bn": e.bn, "valid_size": len(valid.y)}


def bench_study() -> dict:
    """The default study from scratch in a fresh copy of the repo, then a no-op repro."""
    tmp = Path(tempfile.mkdtemp())
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    # The committed study's lock, metrics and plots stay behind: the study runs from scratch.
    from nas import layout as L

    for f in [f for f in files if not f.startswith(L.COMMITTED_RESULTS)]:
        (tmp / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, tmp / f)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=b@b", "-c", "user.name=b", "commit", "-qm", "bench"]):
        subprocess.run(cmd, cwd=tmp, check=True, env=env)
    start = time.perf_counter()
    subprocess.run(["dvc", "repro"], cwd=tmp, check=True, env=env, capture_output=True)
    study = time.perf_counter() - start
    noop = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(["dvc", "repro"], cwd=tmp, check=True, env=env, capture_output=True)
        noop.append(time.perf_counter() - start)
    shutil.rmtree(tmp)
    return {"study_s": study, "noop_repro_s": statistics.median(noop)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--skip-study", action="store_true", help="skip the full default-study timing")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--skip-darts", action="store_true", help="skip the DARTS entries (benchmarks/darts.py)")
    args = p.parse_args(argv)
    from nas import config

    cfg = config.load(REPO / "params.yaml")
    torch.set_num_threads(1)  # the pipeline trains stand-alone nets on one thread each
    steps = bench_steps(cfg, args.repeats)
    sampling = bench_sampling(cfg, args.repeats)
    memory = bench_peak_memory()
    scoring = bench_scoring(cfg, args.repeats)
    threads = bench_threads(cfg, args.repeats)
    rows = [
        (f"super-net step (C={steps['channels']}, N={steps['cells']}, batch {steps['batch']}, 1 thread)",
         f"{steps['supernet_step_s'] * 1e3:.2f} ms"),
        ("stand-alone step, largest cell (all nor_conv_3x3), same size", f"{steps['standalone_step_s'] * 1e3:.2f} ms"),
        ("ratio super-net / stand-alone", f"{steps['ratio']:.2f}x"),
        *((f"super-net step, sampling {name} (x uniform)",
           f"{t * 1e3:.2f} ms ({t / sampling['uniform']:.2f}x)") for name, t in sampling.items()),
        ("peak memory, super-net training at the default size (RSS)",
         f"{memory['peak_mib']:.0f} MiB (+{memory['training_mib']:.0f} MiB training)"),
        (f"eval-supernet scoring (bn={scoring['bn']}, {scoring['valid_size']} valid samples)",
         f"{scoring['archs_per_s']:.1f} archs/s"),
        (f"super-net step, sampling {cfg.variant(cfg.variants[0]).sampling}, 1 thread / 2 threads (interleaved)",
         f"{threads[1] * 1e3:.2f} / {threads[2] * 1e3:.2f} ms ({threads[2] / threads[1]:.2f}x)"),
    ]
    if not args.skip_darts:  # DARTS step, DARTS-PT selection, xautodl side by side (benchmarks/darts.py)
        from benchmarks import darts

        rows += darts.rows(darts.run_all(cfg, args.repeats))
    from benchmarks import sharing  # private cells, groups, scoring 64 children (benchmarks/sharing.py)

    rows += sharing.rows(sharing.run_all(args.repeats))
    from benchmarks import threads as busy  # threads: 2 beside another busy process (benchmarks/threads.py)

    rows += busy.rows(busy.run_all(3))
    from benchmarks import nb101  # NB101 super-net steps per dynamic-channel rule beside NB201; specs drawn, hashed

    rows += nb101.rows(nb101.run_all(args.repeats))
    from benchmarks import wholespace  # every NB201 class scored: 1 job, eval.shards 2, 2 threads

    rows += wholespace.rows(wholespace.run_all(400))
    from benchmarks import startup  # a training command's first step, the code deps (benchmarks/startup.py)

    rows += startup.rows(startup.run_all(args.repeats))
    if not args.skip_study:
        study = bench_study()
        rows += [("default study, `dvc repro` from scratch (wall)", f"{study['study_s']:.0f} s"),
                 ("no-op `dvc repro` (wall, median of 3)", f"{study['noop_repro_s']:.1f} s")]
    print_rows(rows)


if __name__ == "__main__":
    main()
