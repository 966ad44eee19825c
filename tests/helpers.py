"""Shared test helpers: the tiny study config, running commands, and a copy of the project to run
the real pipeline in. Imported as `from helpers import ...` (tests/ is on sys.path via conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# A study small enough to run end to end in well under a minute on 2 cores.
TINY = {
    "seed": 0,
    "device": "cpu",
    "threads": 1,  # tiny networks: one thread is fastest, and more spin badly on a busy machine
    "data": {"dataset": "mnist1d", "num_samples": 600, "test_fraction": 0.2, "valid_fraction": 0.5},
    # C=4: the smallest width at which one and two CPU threads give different super-nets, so the
    # DVC-vs-Snakemake byte comparison shows that both engines train on `threads`.
    "space": {"name": "nb201", "channels": 4, "cells": 1},
    "sample": {"archs": 6},
    "supernet": {"epochs": 2, "batch_size": 64, "lr": 0.05, "sampling": "uniform", "save_epochs": [1], "seeds": [0, 1],
                 "variants": {"baseline": {}}},
    "eval": {"bn": "recalibrate", "recalibrate_batches": 2, "batch_size": 100},
    # Two steps of C=2 nets: with paired initialisation every cell still predicts the same class,
    # and landmarks need cells whose accuracies differ. Paired init is tested in test_standalone.py
    # and test_resume.py.
    "standalone": {"seeds": [0, 1], "shards": 2, "epochs": 1, "batch_size": 64, "lr": 0.1, "init": "independent"},
    "correlate": {"topk": [1, 3], "bootstrap": 50},
    "select": {"methods": ["supernet"]},
}

# A tiny DARTS-PT study: a DARTS variant beside the SPOS baseline, selected by best pool score, by
# alpha and by perturbation, one super-net seed.
TINY_DARTS = {**TINY, "supernet": {**TINY["supernet"], "seeds": [0], "variants": {
    "baseline": {}, "darts": {"method": "darts", "darts": {"alpha_lr": 0.003}}}},
    "select": {"methods": ["supernet", "magnitude", "perturbation"], "magnitude": {"allow_none": True},
               "perturbation": {"tune_epochs": 1, "valid_batches": 1}}}


# A tiny weight-sharing study (Zhang et al.): the 64-child space at C=2 with 2 cells, round robin,
# full sharing beside prefix sharing (k=1) and 4 groups; two scored epochs, dense scores over the
# last 3 steps, interference on 6 pairs of the pool.
TINY_SHARING = {**TINY, "space": {"name": "zhang64", "channels": 2, "cells": 2}, "sample": {"archs": 8},
                "supernet": {**TINY["supernet"], "sampling": "round_robin", "dense_steps": 3, "dense_batch": 64,
                             "variants": {"baseline": {}, "k1": {"prefix_shared": 1},
                                          "g4": {"groups": 4, "sharing_compute": "matched"}}},
                "stability": {"interference_pairs": 6, "batch_size": 64}}


# A tiny NAS-Bench-101 study: the super-net's operation on the vertex (op_on node, the benchmark's form),
# C=5 (one channel for each vertex that can feed a cell's output), and the three dynamic-channel rules
# of Yu et al. beside each other, one super-net seed.
TINY_NB101 = {**TINY, "space": {"name": "nb101", "channels": 5, "cells": 1},
              "supernet": {**TINY["supernet"], "op_on": "node", "seeds": [0], "variants": {
                  "baseline": {}, "random_chunck": {"dynamic_channels": "random_chunck"},
                  "expand": {"dynamic_channels": "expand"}}}}


def env() -> dict:
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    e.pop("PYTHONPATH", None)
    return e


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def one_line_error(fn, *args) -> str:
    """The UserError message `fn(*args)` raises, checked to be one line."""
    from nas.io import UserError

    with pytest.raises(UserError) as info:
        fn(*args)
    msg = str(info.value)
    assert "\n" not in msg, msg
    return msg


def write_params(path: Path, params: dict):
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def make_project(dest: Path, params: dict) -> Path:
    """A git + DVC project holding a copy of the repo's tracked files (less the committed study's
    results, nas.layout.COMMITTED_RESULTS) and `params`."""
    from nas import layout as L

    files = [f for f in subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                                       check=True).stdout.split()
             if not f.startswith(L.COMMITTED_RESULTS)]
    for f in files:
        if (REPO / f).is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, dest / f)
    # Untracked new modules (during development) are copied too, so deps exist.
    for f in (REPO / "nas").rglob("*.py"):
        target = dest / f.relative_to(REPO)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)
    from nas import config
    # DVC needs every key a stage lists to be in params.yaml: write the full, validated config.
    write_params(dest / "params.yaml", config.to_dict(config.from_dict(params)))
    run(["nas", "dag"], dest)
    run(["git", "init", "-q"], dest)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A"], dest)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "tiny"], dest)
    return dest


def with_snakemake_files(project: Path) -> Path:
    """The checkout's Snakefile and workflow/ copied into `project`: a make_project (which copies what git
    tracks, so not files being written), or a copy of another project's run."""
    shutil.copy2(REPO / "Snakefile", project / "Snakefile")
    shutil.copytree(REPO / "workflow", project / "workflow", dirs_exist_ok=True)
    return project
