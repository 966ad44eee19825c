"""nas.lifeline: a `nas` stage command dies with its parent, even a parent killed while the stage is
still importing; library imports, tools and worker processes are left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from helpers import REPO
from nas import cli, config, lifeline

STARTER = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-m", "nas", "prepare"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
print(child.pid, flush=True)
child.wait()
"""


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan nobody reaps stays one)."""
    try:
        return "\tZ" not in Path(f"/proc/{pid}/status").read_text().split("State:")[1][:4]
    except (OSError, IndexError):
        return False


def test_a_stage_whose_parent_is_killed_during_its_start_up_stops(tmp_path):
    """The parent (a `dvc repro`, a job shell) is SIGKILLed while the stage is still importing: the stage
    must not run on as an orphan. The stage here would run for minutes (a million MNIST-1D samples)."""
    params = config.to_dict(config.from_dict({"device": "cpu", "data": {"num_samples": 1_000_000}}))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    parent = subprocess.Popen([sys.executable, "-c", STARTER], cwd=tmp_path, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    child = int(parent.stdout.readline())
    try:
        time.sleep(0.5)  # the stage is importing (torch, pandas: seconds)
        assert _running(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.time() + 5
        while time.time() < deadline and _running(child):
            time.sleep(0.1)
        assert not _running(child), "the stage runs on as an orphan"
    finally:
        if _running(child):
            os.kill(child, signal.SIGKILL)
    assert not (tmp_path / "data/prepared").exists()


def test_only_stage_commands_are_watched():
    assert lifeline.TOOLS == {name for name, _, _ in cli.TOOLS}
    assert lifeline.cli_args(["python", "-X", "importtime", "-m", "nas", "prepare"]) == ["prepare"]
    assert lifeline.cli_args(["/venv/bin/python", "/venv/bin/nas", "--params", "p.yaml", "sample"]) == [
        "--params", "p.yaml", "sample"]
    assert lifeline.cli_args(["python", "-m", "pytest", "-q"]) is None
    assert lifeline.cli_args(["python", "-c", "from multiprocessing.spawn import spawn_main"]) is None
    assert lifeline.cli_args(["python"]) is None
    assert lifeline.is_stage(["--params", "p.yaml", "train-supernet", "--seed", "1"])
    assert not lifeline.is_stage(["dag"]) and not lifeline.is_stage(["sample", "--help"])
    assert lifeline.PARENT is None  # imported by pytest: nothing armed
