"""What benchmarks/run.py, darts.py and sharing.py share, so that they need not import each other
(run.py runs the other two; they never import run.py): the repository's root, timing helpers
(medians of repeats), the data they time on, and the table they print."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

REPO = Path(__file__).resolve().parents[1]


# --- timing --------------------------------------------------------------------------------------

def median_step_seconds(net, x, y, sample, steps: int, repeats: int) -> float:
    """A training step as nas.supernet.train_epoch takes it: every path `sample` draws (one for
    uniform sampling, None for a stand-alone net), gradients summed, one update."""
    from torch.nn import functional as F

    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    net.train()
    times = []
    for r in range(repeats + 1):
        start = time.perf_counter()
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            for path in sample(g):
                F.cross_entropy(net(x, path), y).backward()
            opt.step()
        if r:  # the first repeat warms up
            times.append((time.perf_counter() - start) / steps)
    return statistics.median(times)


def interleaved(timers: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Median over `repeats` rounds of what each timer returns (seconds); every round runs every timer
    once, in reversed order every other round, after one warm-up round."""
    for timer in timers.values():
        timer()
    times: dict[str, list[float]] = {name: [] for name in timers}
    names = list(timers)
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            times[name].append(timers[name]())
    return {name: statistics.median(t) for name, t in times.items()}


# --- data ----------------------------------------------------------------------------------------

def prepared_splits(cfg, names=("train", "valid")) -> dict:
    """The study's splits as `nas prepare` writes and the stages load them (through Parquet)."""
    from nas import data

    d = cfg.data
    splits = data.prepare(d.dataset, d.root, d.valid_fraction, d.seed, num_samples=d.num_samples,
                          iid_noise_scale=d.iid_noise_scale, corr_noise_scale=d.corr_noise_scale,
                          test_fraction=d.test_fraction)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            data.write_split(splits[name], Path(tmp) / f"{name}.parquet", d.dataset, data.NUM_CLASSES[d.dataset])
        return {name: data.load_split(Path(tmp) / f"{name}.parquet") for name in names}


def random_data(shape: tuple[int, ...], classes: int, n: int, seed: int):
    """n random samples of `shape` as a `nas.data.Tensors` (the same for every model given the seed)."""
    from nas.data import Tensors

    g = torch.Generator().manual_seed(seed)
    return Tensors(torch.randn(n, *shape, generator=g), torch.randint(classes, (n,), generator=g), tuple(shape),
                   classes, "random")


# --- the table -----------------------------------------------------------------------------------

def print_rows(table: list[tuple[str, str]]) -> None:
    width = max(len(r[0]) for r in table)
    print(f"{'benchmark'.ljust(width)}  median")
    for name, value in table:
        print(f"{name.ljust(width)}  {value}")
