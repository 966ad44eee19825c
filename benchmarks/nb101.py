"""`make bench`, the NAS-Bench-101 entries: a super-net training step of NB101 (operation on the vertex,
one random valid cell a step, as `sampling: uniform` draws it) under each dynamic-channel rule, beside an
NB201 super-net step (one uniformly sampled cell) at the same width C, batch and input; and what
drawing and hashing 10,000 NB101 specs costs (the benchmark's random sampler, then the module hash).
Usage: python -m benchmarks.nb101 [--repeats N] [--channels C]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from benchmarks.common import median_step_seconds, print_rows
from nas.spaces import nb101, nb201
from nas.spaces.base import NetworkSettings
from nas.supernet import spos

SHAPE, CLASSES, BATCH = (1, 40), 10, 128


def _step(space, rule: str | None, channels: int, repeats: int) -> tuple[float, int]:
    torch.manual_seed(0)
    op_on = space.supernet_forms[0]
    net = space.build_supernet(NetworkSettings(channels, 1, SHAPE, CLASSES, affine=False, track=False,
                                               op_on=op_on, dynamic_channels=rule))
    x, y = torch.randn(BATCH, *SHAPE), torch.randint(CLASSES, (BATCH,))
    seconds = median_step_seconds(net, x, y, spos.uniform_sampler(space), 10, repeats)
    return seconds, sum(p.numel() for p in net.parameters())


def run_all(repeats: int = 5, channels: int = 16) -> dict:
    torch.set_num_threads(1)
    steps = {"NB201 (edge)": _step(nb201.SPACE, None, channels, repeats)}
    for rule in nb101.RULES:
        steps[f"NB101 {rule}"] = _step(nb101.SPACE, rule, channels, repeats)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    specs = [nb101.random_spec(rng) for _ in range(10_000)]
    drawn = time.perf_counter() - start
    start = time.perf_counter()
    hashes = {nb101.module_hash(s) for s in specs}
    hashed = time.perf_counter() - start
    sizes = np.bincount([len(s.ops) for s in specs], minlength=8)[2:]
    return {"channels": channels, "steps": steps, "draw_s": drawn, "hash_s": hashed, "distinct": len(hashes),
            "sizes": sizes.tolist()}


def rows(r: dict) -> list[tuple[str, str]]:
    base = r["steps"]["NB201 (edge)"][0]
    out = [(f"super-net step at C={r['channels']}, N=1, batch {BATCH}, (1, 40), 1 thread: {name}",
            f"{s * 1e3:.2f} ms ({s / base:.2f}x NB201; {params:,} weights)")
           for name, (s, params) in r["steps"].items()]
    shares = ", ".join(f"{v}: {n / 100:.0f}%" for v, n in zip(range(2, 8), r["sizes"]))
    out += [("NB101: 10,000 specs drawn by the benchmark's sampler (rejection)", f"{r['draw_s']:.2f} s"),
            ("NB101: their module hashes", f"{r['hash_s']:.2f} s ({r['distinct']:,} distinct)"),
            ("NB101: vertices of the drawn cells", shares)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--channels", type=int, default=16)
    args = parser.parse_args()
    print_rows(rows(run_all(args.repeats, args.channels)))


if __name__ == "__main__":
    main()
