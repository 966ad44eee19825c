"""nas.io: temporaries of killed writers are cleaned, live ones kept; a stage exits with its parent;
checkpoints and artifacts are written atomically."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from nas import io


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_are_removed_and_live_ones_kept(tmp_path):
    (tmp_path / "results" / "supernet").mkdir(parents=True)
    host = io._writer().split("@")[1]
    stale = tmp_path / "results" / "supernet" / f".weights.pt.{dead_pid()}@{host}.k3j2.tmp"
    legacy = tmp_path / "results" / ".archs.parquet.x8y7.tmp"  # written before writers were in the name
    live = tmp_path / "results" / f".archs.parquet.{io._writer()}.abcd.tmp"
    elsewhere = tmp_path / "results" / f".scores.parquet.{dead_pid()}@0000abcd.zz.tmp"  # another host's job
    artifact = tmp_path / "results" / "archs.parquet"
    for p in (stale, legacy, live, elsewhere, artifact):
        p.write_bytes(b"x")
    removed = io.remove_stale_temporaries([tmp_path / "results", tmp_path / "missing"])
    assert sorted(removed) == sorted([stale, legacy])
    assert live.exists() and elsewhere.exists() and artifact.exists()


def test_atomic_write_names_its_temporary_after_the_writer(tmp_path):
    with io.atomic_path(tmp_path / "a.json") as tmp:
        assert tmp.name.startswith(f".a.json.{os.getpid()}@") and tmp.name.endswith(".tmp")
        assert io.remove_stale_temporaries([tmp_path]) == []  # its writer is alive
        tmp.write_text("{}")
    assert (tmp_path / "a.json").read_text() == "{}"


CHILD = """
import os, sys, time
from nas import io
io.exit_with_parent(os.getppid())
print(os.getpid(), flush=True)
time.sleep(60)
"""
PARENT = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=subprocess.PIPE, text=True)
print(child.stdout.readline().strip(), flush=True)
import os; os._exit(0)  # dies like a SIGKILLed dvc repro: no cleanup, the child is orphaned
"""


def test_a_stage_exits_when_its_parent_is_killed():
    out = subprocess.run([sys.executable, "-c", PARENT, CHILD], capture_output=True, text=True, timeout=60).stdout
    child = int(out.split()[0])
    deadline = time.time() + 15
    while time.time() < deadline and io._alive(child):
        time.sleep(0.2)
    assert not io._alive(child), "the orphaned child kept running"
