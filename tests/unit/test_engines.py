"""nas.engines: Snakemake enters itself in DVC's lock table and refuses while dvc runs; stale entries go.
(The two real engines against each other: tests/e2e/test_snakemake.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nas import engines

ARGV = ["snakemake", "--cores", "2"]


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / ".dvc").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def table(project) -> dict:
    return json.loads((project / ".dvc/tmp/rwlock").read_text())


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_snakemake_enters_the_whole_project_and_leaves(project):
    assert engines.claim_for_snakemake(argv=ARGV)
    entry = table(project)["write"][str(project)]
    assert entry == {"pid": os.getpid(), "cmd": f"snakemake --cores 2 {engines.NOTE}"}
    engines.release_for_snakemake()
    assert table(project) == {}


def test_a_killed_snakemakes_entry_is_dropped_and_dvcs_own_are_kept(project):
    (project / ".dvc/tmp").mkdir()
    dvc_entry = {"pid": os.getppid(), "cmd": "dvc repro"}
    (project / ".dvc/tmp/rwlock").write_text(json.dumps({
        "write": {"/elsewhere": {"pid": dead_pid(), "cmd": f"snakemake {engines.NOTE}"}, "/x/out": dvc_entry}}))
    engines.claim_for_snakemake(argv=ARGV)
    assert table(project)["write"] == {"/x/out": dvc_entry, str(project): {"pid": os.getpid(),
                                                                          "cmd": f"snakemake --cores 2 {engines.NOTE}"}}
    engines.release_for_snakemake()


def test_snakemake_refuses_while_dvc_holds_its_repository_lock(project):
    (project / ".dvc/tmp").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, time\n"
                               "f = open('.dvc/tmp/lock', 'a+'); fcntl.flock(f, fcntl.LOCK_EX); f.write(' %d\\n' % os.getpid()); "
                               "f.flush(); print('locked', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(engines.EngineBusy) as info:
            engines.claim_for_snakemake(argv=ARGV, wait=0.2)
    finally:
        holder.kill()
        holder.wait()
    python = Path(sys.executable).name
    assert str(info.value).startswith(f"dvc runs in this project (pid {holder.pid}: {python} -c import fcntl, os, "
                                      "time f = open('.dvc/tmp/lock'")
    assert "; it holds .dvc/tmp/lock): wait for it to finish or stop it" in str(info.value)
    assert table(project) == {}
    assert engines.dvc_holder(project, wait=0) is None  # gone with its process: nothing stale to clear


def test_a_study_folder_claims_the_whole_project(project, monkeypatch):
    (project / "studies/s").mkdir(parents=True)
    monkeypatch.chdir(project / "studies/s")
    assert engines.claim_for_snakemake(argv=ARGV)
    assert list(table(project)["write"]) == [str(project)]
    engines.release_for_snakemake(project)
    assert table(project) == {}


def test_without_dvc_there_is_nothing_to_claim_and_dry_runs_claim_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert not engines.claim_for_snakemake(argv=ARGV)
    assert not (tmp_path / ".dvc").exists()
    assert engines.dry_run(["snakemake", "-n"]) and engines.dry_run(["snakemake", "--cores", "1", "-np"])
    assert engines.dry_run(["snakemake", "--dry-run"]) and not engines.dry_run(["snakemake", "-p", "--cores", "2"])

