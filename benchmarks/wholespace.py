"""Scoring every cell of NAS-Bench-201 (`sample.archs: all`) at the default super-net size: how long
eval-supernet takes for the whole space in one job and in `eval.shards` jobs side by side, and whether
the shards' scores are today's, and what the fast average pool (nas.spaces.ops.AvgPool) saves over
torch's pooling kernel, with the same scores.

Measured on a sample of the space's classes (`--archs`, spread over the space: scoring time differs
between cells), then projected to all of them (6,466 under the benchmark's convention, 5,260 one per
function): one process on one thread (what one eval-supernet job does), two single-thread processes on
the two halves at once (eval.shards: 2 under Snakemake --cores 2), and one process on two threads. The
shards' scores are compared with the one job's, byte for byte and by Kendall tau (the scoring is the
same code: tau 1 and identical bytes are what it must give).
Usage: python -m benchmarks.wholespace [--archs N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import REPO, print_rows

WORKER = """
import contextlib, io, json, sys, time
import pandas as pd, torch
from nas import config, evaluate
from nas.settings import shard_of
from nas.spaces.base import NetworkSettings
from benchmarks.common import prepared_splits
torch.set_num_threads(int(sys.argv[1]))
if len(sys.argv) > 6 and sys.argv[6] == "kernel":  # scoring as before: torch's pooling kernel throughout
    from torch.nn import functional as F
    from nas.spaces import ops
    ops.AvgPool.forward = lambda self, x: (F.avg_pool1d if x.dim() == 3 else F.avg_pool2d)(
        x, self.kernel, stride=self.stride, padding=self.padding, count_include_pad=False)
k, n, count, out = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
cfg = config.from_dict({**config.to_dict(config.load("params.yaml")), "sample": {"archs": "all"},
                        "space": {**config.to_dict(config.load("params.yaml"))["space"], "isomorphism": "benchmark"}})
from nas.spaces import study_space
space = study_space(cfg.space)
splits = prepared_splits(cfg)
train, valid = splits["train"], splits["valid"]
hp = cfg.variant(cfg.variants[0])
torch.manual_seed(0)
net = space.build_supernet(NetworkSettings(hp.channels or cfg.space.channels, hp.cells or cfg.space.cells,
                                           train.shape, train.num_classes, affine=hp.bn_affine, track=hp.bn_track))
cells = space.sample(space.num_unique(), 0)
picked = cells[:: max(1, len(cells) // count)][:count]  # spread over the space's classes
archs = shard_of(pd.DataFrame({"arch_id": range(len(picked)), "arch": [space.format(a) for a in picked]}), k, n)
e = cfg.eval
start = time.perf_counter()
with contextlib.redirect_stderr(io.StringIO()):
    scores = evaluate.score_archs(net, archs.reset_index(drop=True), space, valid, train, e.bn,
                                  e.recalibrate_batches, e.batch_size, cfg.seed, torch.device("cpu"))
seconds = time.perf_counter() - start
scores.to_parquet(out)
print(json.dumps({"seconds": seconds, "archs": len(archs), "classes": space.num_unique()}))
"""


def _workers(jobs: list[tuple[int, int, int]], count: int, tmp: Path, pooling: str = "fast"
             ) -> tuple[float, list[dict], list[Path]]:
    """Run the (threads, k, n) workers at once; (wall seconds, their reports, their score files).
    `pooling`: "kernel" scores as the code did before `ops.AvgPool` (torch's pooling kernel)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_WAIT_POLICY": "PASSIVE"}
    outs = [tmp / f"scores-{i}.parquet" for i in range(len(jobs))]
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(t), str(k), str(n), str(count), str(out),
                               pooling],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
             for (t, k, n), out in zip(jobs, outs)]
    reports = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    return time.perf_counter() - start, reports, outs


def run_all(count: int) -> dict:
    import pandas as pd
    from scipy import stats

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in ("before", "one", "two", "threads"):
            (tmp / name).mkdir()
        _, before, (before_file,) = _workers([(1, 1, 1)], count, tmp / "before", pooling="kernel")
        _, one, (one_file,) = _workers([(1, 1, 1)], count, tmp / "one")
        _, two, two_files = _workers([(1, 1, 2), (1, 2, 2)], count, tmp / "two")
        _, threads, _ = _workers([(2, 1, 1)], count, tmp / "threads")
        whole, old = pd.read_parquet(one_file), pd.read_parquet(before_file)
        merged = pd.concat([pd.read_parquet(f) for f in two_files]).sort_values("arch_id", kind="stable")
        merged = merged.reset_index(drop=True)
        identical = merged.equals(whole)
        tau = stats.kendalltau(whole["accuracy"], merged["accuracy"]).statistic
        same_as_before = whole.equals(old)
        tau_before = stats.kendalltau(whole["accuracy"], old["accuracy"]).statistic
    classes = one[0]["classes"]
    per_arch = one[0]["seconds"] / one[0]["archs"]
    # Two shards side by side: each scores half the classes at its own measured pace; the slower sets the wall.
    per_arch_sharded = max(r["seconds"] / r["archs"] for r in two)
    return {"count": count, "classes": classes, "one_job_s": per_arch * classes,
            "before_s": before[0]["seconds"] / before[0]["archs"] * classes,
            "two_shards_s": per_arch_sharded * classes / 2,
            "two_threads_s": threads[0]["seconds"] / threads[0]["archs"] * classes,
            "rate_one": 1 / per_arch, "identical": identical, "tau": tau,
            "same_as_before": same_as_before, "tau_before": tau_before}


def rows(r: dict) -> list[tuple[str, str]]:
    def minutes(s):
        return f"{s / 60:.1f} min"
    note = f"(projected from {r['count']} classes spread over the space)"
    return [
        (f"scoring all {r['classes']:,} NB201 classes, 1 job, 1 thread {note}",
         f"{minutes(r['one_job_s'])} ({r['rate_one']:.1f} archs/s)"),
        ("  the same with torch's pooling kernel (the scoring before the fast average pool)",
         f"{minutes(r['before_s'])} ({r['before_s'] / r['one_job_s']:.2f}x)"),
        ("  fast pool vs kernel: scores identical / Kendall tau", f"{r['same_as_before']} / {r['tau_before']:.3f}"),
        ("  the same, eval.shards: 2 (two 1-thread jobs at once, the slower one)", minutes(r["two_shards_s"])),
        ("  the same, 1 job on 2 threads", minutes(r["two_threads_s"])),
        ("  shards vs 1 job: scores identical / Kendall tau", f"{r['identical']} / {r['tau']:.3f}"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=400, help="classes scored to measure (spread over the space)")
    args = parser.parse_args()
    print_rows(rows(run_all(args.archs)))


if __name__ == "__main__":
    main()
