"""`make bench`, the degree-of-sharing entries (Zhang et al.), at studies/weight_sharing.yaml's size:
  * a super-net training step under full sharing, next to prefix sharing with every cell private
    (k = 0) and to 64 groups (no sharing), each child in turn (round robin), and their ratios;
  * the memory of the weights (parameters and buffers) of each form;
  * seconds to score all 64 children: eval-supernet's way (recalibrated batch norm, the whole valid
    split) and dense scoring's way (one fixed batch of supernet.dense_batch in eval mode).
Usage: python -m benchmarks.sharing [--repeats N]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import statistics
import time
from pathlib import Path

import torch

from benchmarks.common import median_step_seconds, prepared_splits

STUDY = Path(__file__).resolve().parents[1] / "studies" / "weight_sharing.yaml"
FORMS = {"full sharing": {}, "prefix k=0 (cells private)": {"prefix_shared": 0},
         "64 groups (no sharing)": {"groups": 64}}


def _round_robin(children):
    step = [0]

    def sample(generator):
        step[0] += 1
        return [children[step[0] % len(children)]]
    return sample


def _weights_mib(net) -> float:
    return sum(t.numel() * t.element_size() for t in net.state_dict().values()) / 2**20


def run_all(repeats: int) -> dict:
    from nas import config, evaluate, supernet
    from nas.spaces import get_space

    cfg = config.load(STUDY)
    space = get_space(cfg.space.name)
    base = cfg.variant("baseline")
    splits = prepared_splits(cfg)
    train, valid = splits["train"], splits["valid"]
    x, y = train.x[:base.batch_size], train.y[:base.batch_size]
    children = space.enumerate_all()
    out = {"channels": cfg.space.channels, "cells": cfg.space.cells, "batch": base.batch_size, "forms": {}}
    for name, overrides in FORMS.items():
        hp = dataclasses.replace(base, **overrides)
        torch.manual_seed(0)
        net = supernet.build(space, hp, cfg.space.channels, cfg.space.cells, train)
        out["forms"][name] = {"step_s": median_step_seconds(net, x, y, _round_robin(children), 64, repeats),
                              "weights_mib": _weights_mib(net)}
    torch.manual_seed(0)
    net = supernet.build(space, base, cfg.space.channels, cfg.space.cells, train, training=False)
    archs = __import__("pandas").DataFrame({"arch_id": range(len(children)),
                                            "arch": [space.format(a) for a in children]})
    e = cfg.eval
    full, dense = [], []
    batch = (valid.x[:base.dense_batch], valid.y[:base.dense_batch])
    for _ in range(repeats):
        start = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):
            evaluate.score_archs(net, archs, space, valid, train, e.bn, e.recalibrate_batches, e.batch_size, 0,
                                 torch.device("cpu"))
        full.append(time.perf_counter() - start)
        scorer = supernet.DenseScores(list(enumerate(children)), batch, 1)
        scorer.start(net, 1)
        start = time.perf_counter()
        scorer.after_step()
        dense.append(time.perf_counter() - start)
        net.train()
    out.update(score_s=statistics.median(full), dense_s=statistics.median(dense), bn=e.bn,
               valid_size=len(valid.y), dense_batch=base.dense_batch)
    return out


def rows(r: dict) -> list[tuple[str, str]]:
    full = r["forms"]["full sharing"]
    size = f"zhang64 C={r['channels']}, {r['cells']} cells, batch {r['batch']}"
    out = [(f"super-net step, {name} ({size}, round robin)",
            f"{f['step_s'] * 1e3:.2f} ms ({f['step_s'] / full['step_s']:.2f}x full)")
           for name, f in r["forms"].items()]
    out += [(f"weights in memory, {name}", f"{f['weights_mib']:.2f} MiB ({f['weights_mib'] / full['weights_mib']:.0f}x)")
            for name, f in r["forms"].items()]
    out += [(f"score all 64 children, eval-supernet (bn={r['bn']}, {r['valid_size']} valid samples)",
             f"{r['score_s']:.2f} s"),
            (f"score all 64 children, dense scoring (one batch of {r['dense_batch']}, eval mode)",
             f"{r['dense_s'] * 1e3:.0f} ms")]
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    table = rows(run_all(args.repeats))
    width = max(len(name) for name, _ in table)
    for name, value in table:
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
