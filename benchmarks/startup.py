"""Start-up: what a stage command or a `snakemake` start pays before any work. Each measurement is a
fresh process, interleaved with its counterpart, medians:
  * a training command's first optimizer step with nas.train.SGD (torch's SGD without the guards that
    import the compiler) against torch.optim.SGD;
  * every stage's code deps (what `nas dag` and each Snakefile parse compute) with the answers kept in
    .nas/codedeps.json against parsing the package;
  * a table stage's start (the command parsed, params.yaml loaded and checked, the stage module
    imported), which needs no PyTorch, against the same start importing it (as every command did
    before the registered pieces moved torch into what computes)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import REPO
from nas import codedeps

FIRST_STEP = """
import torch
from nas import train
net = torch.nn.Linear(8, 2)
opt = {optimizer}(net.parameters(), lr=0.1, momentum=0.9)
net(torch.randn(4, 8)).sum().backward()
opt.step()
opt.zero_grad()
"""

CODE_DEPS = """
import time
from nas import config, dag
cfg = config.load({params!r})
start = time.perf_counter()
dag.stages(cfg)
print(time.perf_counter() - start)
"""


TABLE_START = """
{torch}from nas import cli, config, stages
cli.build_parser(["correlate"])
config.load("params.yaml")
"""


def _wall(code: str, cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def run_all(repeats: int = 5) -> dict:
    """{name: median seconds}."""
    times: dict[str, list[float]] = {"nas.train.SGD": [], "torch.optim.SGD": [], "kept": [], "parsed": [],
                                     "without torch": [], "with torch": []}
    with tempfile.TemporaryDirectory() as kept_dir, tempfile.TemporaryDirectory() as bare_dir:
        deps = CODE_DEPS.format(params=str(REPO / "params.yaml"))
        subprocess.run([sys.executable, "-c", deps], cwd=kept_dir, check=True, capture_output=True)  # fills it
        for r in range(repeats):
            for optimizer in (("nas.train.SGD", "torch.optim.SGD") if r % 2 == 0 else ("torch.optim.SGD", "nas.train.SGD")):
                code = FIRST_STEP.format(optimizer="train.SGD" if optimizer.startswith("nas") else optimizer)
                times[optimizer].append(_wall(code, REPO))
            for name, cwd in ((("kept", kept_dir), ("parsed", bare_dir)) if r % 2 == 0
                              else (("parsed", bare_dir), ("kept", kept_dir))):
                out = subprocess.run([sys.executable, "-c", deps], cwd=cwd, check=True, capture_output=True, text=True)
                times[name].append(float(out.stdout.strip().splitlines()[-1]))
                (Path(bare_dir) / codedeps.CACHE).unlink(missing_ok=True)
            for name in (("without torch", "with torch") if r % 2 == 0 else ("with torch", "without torch")):
                times[name].append(_wall(TABLE_START.format(torch="import torch\n" if name == "with torch" else ""),
                                         REPO))
    return {name: statistics.median(t) for name, t in times.items()}


def rows(result: dict) -> list[tuple[str, str]]:
    ours, theirs = result["nas.train.SGD"], result["torch.optim.SGD"]
    return [("fresh process to a first optimizer step, nas.train.SGD / torch.optim.SGD",
             f"{ours:.2f} / {theirs:.2f} s ({theirs - ours:.2f} s saved)"),
            ("every stage's code deps, kept in .nas/codedeps.json / parsing the package",
             f"{result['kept'] * 1e3:.0f} / {result['parsed'] * 1e3:.0f} ms"),
            ("a table stage's start (command, params checked, stage module), without / with PyTorch",
             f"{result['without torch']:.2f} / {result['with torch']:.2f} s "
             f"({result['with torch'] - result['without torch']:.2f} s saved)")]


if __name__ == "__main__":
    from benchmarks.common import print_rows

    print_rows(rows(run_all()))
