"""Threads: a super-net epoch at the default size with one and two intra-op threads, on the idle
machine and while another process keeps one core busy, with OpenMP's waiting threads left at
libgomp's default (spin a while, then sleep) and sleeping at once (PASSIVE, what every `nas` command
sets unless the user set OMP_WAIT_POLICY). Each measurement is a fresh process (the policy is read
when OpenMP starts), interleaved with the others so that all see the same machine."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

from benchmarks.common import REPO

EPOCHS = """
import sys, time, torch, dataclasses, pathlib, tempfile
from benchmarks.common import prepared_splits
from nas import config, supernet
from nas.spaces import get_space
cfg = config.load(sys.argv[1])
torch.set_num_threads(int(sys.argv[2]))
hp = dataclasses.replace(cfg.variant(cfg.variants[0]), epochs=int(sys.argv[3]))
train = prepared_splits(cfg, ["train"])["train"]
space = get_space(cfg.space.name)
net = supernet.build(space, hp, cfg.space.channels, cfg.space.cells, train)
start = time.perf_counter()
supernet.train(net, hp, space, train, 0, torch.device("cpu"), pathlib.Path(tempfile.mkdtemp()) / "state.pt")
print(time.perf_counter() - start)
"""

# (OMP_WAIT_POLICY, threads); "" leaves libgomp's default (nas/__init__ keeps a value that is set).
CASES = (("PASSIVE", 1), ("", 2), ("PASSIVE", 2))


def epoch_seconds(policy: str, threads: int, epochs: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_WAIT_POLICY": policy}
    out = subprocess.run([sys.executable, "-c", EPOCHS, str(REPO / "params.yaml"), str(threads), str(epochs)],
                         cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1]) / epochs


def run_all(repeats: int = 3, epochs: int = 2) -> dict:
    """{(load, policy, threads): median seconds per epoch}, load "idle" or "busy" (one core kept busy
    by another process)."""
    result = {}
    for load in ("idle", "busy"):
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load == "busy" else None
        try:
            times: dict = {case: [] for case in CASES}
            for r in range(repeats):
                for case in (CASES if r % 2 == 0 else CASES[::-1]):
                    times[case].append(epoch_seconds(*case, epochs))
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
        result.update({(load, *case): statistics.median(t) for case, t in times.items()})
    return result


def rows(result: dict) -> list[tuple[str, str]]:
    out = []
    for (load, policy, threads), t in result.items():
        one = result[(load, "PASSIVE", 1)]
        where = "idle machine" if load == "idle" else "one other busy process"
        waiting = "OpenMP PASSIVE" if policy == "PASSIVE" else "OpenMP default waiting"
        out.append((f"super-net epoch, {where}, {threads} thread{'s' if threads > 1 else ''}, {waiting}",
                    f"{t:.2f} s ({t / one:.2f}x one thread)"))
    return out


if __name__ == "__main__":
    from benchmarks.common import print_rows

    print_rows(rows(run_all()))
