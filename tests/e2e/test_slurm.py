"""End to end on a real (one-node, throw-away) Slurm cluster: the tiny study with
`snakemake --profile workflow/profiles/slurm`, one Slurm job per rule.

The cluster (tests/e2e/slurm_cluster.py) is set up once for this module: Debian's slurm-wlm and munge are
installed with apt-get when missing (root only; once per machine), and private munged, slurmctld and
slurmd are started on free ports with their config, state and logs in a temp dir. The module skips,
naming the reason, where that is impossible (not root, no apt-get, a daemon that does not start), or
when NAS_TEST_SLURM=0. Teardown kills exactly the daemons it started, also after a failure.

The committed profile is used unedited; what differs on this cluster is passed on the command line
(`slurm_args`): the partition (the profile's EDIT_ME placeholder), no account (this cluster has no
accounting database), job states through squeue (--slurm-status-command squeue; the cluster keeps
finished jobs visible for MinJobAge=600 s), a 1 s first status check, Slurm logs of successful jobs
kept (--slurm-keep-successful-logs) in a log dir per run, threads capped at the node's CPUs, and no
retries (so the failure test fails once).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from helpers import BIN, REPO, TINY, write_params
from e2e.slurm_cluster import ClusterUnavailable, SlurmCluster

pytestmark = pytest.mark.e2e

PROFILE = "workflow/profiles/slurm"
# Rules that run as Slurm jobs (`all` is a local rule).
SLURM_RULES = {"prepare", "sample", "zero_cost", "train_supernet", "eval_supernet", "train_standalone", "merge_standalone",
               "correlate", "stability", "pick", "train_picks", "select", "heuristics", "report"}
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.")
# Seconds to the plugin's first status check of a job; each check that finds no job finished adds
# 10 s to the next wait (the plugin's fixed back-off), so checks come at 1, 12, 33 s: most rules of
# the tiny study take 8-12 s as a Slurm job (two nested Snakemake start-ups around a few seconds'
# work), found at the second check (with 4 s they were found at 18 s: the study's chain of 9 rules
# waited about a minute longer).
FIRST_CHECK = 1
# Copied into each study project: what the Snakefile and the `nas` commands need.
PROJECT_FILES = ["Snakefile", "workflow", "nas", "pyproject.toml", "dvc.yaml"]


@pytest.fixture(scope="module")
def cluster():
    if os.environ.get("NAS_TEST_SLURM", "1") == "0":
        pytest.skip("NAS_TEST_SLURM=0")
    if not (REPO / "Snakefile").is_file() or not (REPO / PROFILE / "config.yaml").is_file():
        pytest.skip("no Snakefile or Slurm profile in this checkout")
    c = SlurmCluster()
    try:
        c.start()
    except ClusterUnavailable as exc:
        pytest.skip(f"no Slurm test cluster on this machine: {exc}")
    try:
        yield c
    finally:
        c.stop()


def copy_project(dest: Path, params: dict) -> Path:
    """The Snakemake side of the project (no git, no DVC needed) with `params` as params.yaml."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in PROJECT_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.is_file():
            shutil.copy2(src, dest / name)
    from nas import config
    write_params(dest / "params.yaml", config.to_dict(config.from_dict(params)))
    return dest


def slurm_args(cluster: SlurmCluster, logdir: str) -> list[str]:
    """Overrides of the committed profile for this cluster (see the module docstring)."""
    profile = yaml.safe_load((REPO / PROFILE / "config.yaml").read_text())
    resources = dict(profile.get("default-resources") or {})
    resources["slurm_partition"] = cluster.partition
    resources.pop("slurm_account", None)  # no accounting here: nothing to charge, nothing to validate
    args = ["--default-resources", *(f"{k}={v}" for k, v in resources.items()),
            "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", str(FIRST_CHECK),
            "--slurm-keep-successful-logs", "--slurm-logdir", logdir,
            "--max-threads", str(cluster.cpus), "--retries", "0"]
    # Rules ask for up to 8 GB; cap at half the node so two jobs fit side by side on small machines.
    cap = cluster.memory_mb // 2
    big = [f"{rule}:mem_mb={cap}" for rule in ("prepare", "train_supernet", "eval_supernet", "train_standalone",
                                               "report") if cap < 8000]
    if big:
        args += ["--set-resources", *big]
    return args


def snakemake(project: Path, args: list[str], env: dict) -> subprocess.CompletedProcess:
    env = dict(env, PATH=f"{BIN}{os.pathsep}{env['PATH']}")
    env.pop("PYTHONPATH", None)
    return subprocess.run([str(BIN / "snakemake"), *args], cwd=project, env=env, capture_output=True, text=True,
                          timeout=600)


def run_slurm(cluster, project: Path, logdir: str, *extra: str) -> tuple[subprocess.CompletedProcess, str]:
    proc = snakemake(project, ["--profile", PROFILE, *slurm_args(cluster, logdir), *extra], cluster.env())
    return proc, proc.stdout + proc.stderr


def submitted(output: str) -> dict[str, tuple[str, Path]]:
    """Slurm job id -> (rule, log path) of every job this run submitted."""
    jobs = {}
    for _, slurm_id, log in SUBMITTED.findall(output):
        m = re.search(r"/rule_([A-Za-z0-9_]+)/", log)
        jobs[slurm_id] = (m.group(1) if m else "?", Path(log))
    return jobs


def parquet_files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.glob("**/*.parquet")
                  if ".progress" not in p.parts and ".snakemake" not in p.parts)


@pytest.fixture(scope="module")
def studies(cluster, tmp_path_factory):
    """The tiny study on Slurm, and (at the same time: Slurm jobs mostly wait for the plugin's status
    polls, so the two cores are free) the same study run locally with the default profile."""
    local = copy_project(tmp_path_factory.mktemp("local"), TINY)
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    local_proc = subprocess.Popen([str(BIN / "snakemake"), "--profile", "workflow/profiles/default", "--cores", "2"],
                                  cwd=local, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        project = copy_project(tmp_path_factory.mktemp("slurm"), TINY)
        start = time.time()
        proc, out = run_slurm(cluster, project, "slurm-logs/first")
        seconds = time.time() - start
    finally:
        local_out, _ = local_proc.communicate(timeout=600)
    assert proc.returncode == 0, f"{out}\n{cluster.logs()}"
    assert local_proc.returncode == 0, local_out
    return project, out, seconds, local


def test_sbatch_job_completes(cluster, tmp_path):
    out = tmp_path / "hello.out"
    job = cluster.sbatch("-p", cluster.partition, "-o", str(out), "--wrap", "echo hello from job $SLURM_JOB_ID")
    assert cluster.wait_job(job) == "COMPLETED"
    assert out.read_text().strip() == f"hello from job {job}"


def test_study_runs_as_slurm_jobs(cluster, studies):
    project, out, seconds, _ = studies
    jobs = submitted(out)
    # One Slurm job per rule instance: 13 rules; train_standalone twice (2 shards), the super-net
    # rules twice (2 seeds).
    assert sorted(r for r, _ in jobs.values()) == sorted([*SLURM_RULES, "train_standalone", "train_supernet",
                                                          "eval_supernet"]), out
    for slurm_id, (rule, log) in jobs.items():
        assert log.is_file() and f"rule_{rule}" in log.parts, log
        assert cluster.job_state(slurm_id) == "COMPLETED", (slurm_id, rule)
        # Slurm ran the job: its log is Snakemake's jobstep output for that rule.
        assert f"rule {rule}:" in log.read_text() or f"localrule {rule}:" in log.read_text(), log
    assert "localrule all:" in out and "100%) done" in out
    print(f"slurm study: {len(jobs)} jobs, {seconds:.0f} s")


def test_slurm_artifacts_match_local_run(studies):
    project, _, _, local_study = studies
    files = parquet_files(local_study)
    assert len(files) >= 10 and parquet_files(project) == files
    for rel in files:
        assert (project / rel).read_bytes() == (local_study / rel).read_bytes(), rel
    for rel in ("metrics/correlation.json", "metrics/selection.json", "metrics/heuristics.json",
                "plots/scatter.csv"):
        assert (project / rel).read_bytes() == (local_study / rel).read_bytes(), rel


def test_failed_job_names_its_slurm_log_and_rerun_resumes(cluster, studies):
    project, _, _, local_study = studies
    shard = project / "results/standalone/shard-1.parquet"
    good = shard.read_bytes()
    shard.write_bytes(b"not a parquet file")                         # merge_standalone will fail ...
    (project / "results/supernet/baseline/seed-0/scores.parquet").unlink()  # ... while eval_supernet succeeds
    proc, out = run_slurm(cluster, project, "slurm-logs/failing")
    assert proc.returncode != 0, out
    jobs = submitted(out)
    by_rule = {rule: (sid, log) for sid, (rule, log) in jobs.items()}
    # pick and train_picks need the scores, not the stand-alone results: they run too.
    assert set(by_rule) == {"eval_supernet", "merge_standalone", "pick", "train_picks"}, out
    sid, log = by_rule["merge_standalone"]
    assert cluster.job_state(sid) == "FAILED"
    # Snakemake's error report for the rule names the job's Slurm log (next to the rule's own log).
    assert re.search(r"Error in rule merge_standalone:\n(?:    .*\n)*?    log: .*" + re.escape(str(log)), out), out
    assert log.is_file() and "Error in rule merge_standalone" in log.read_text()
    # The rule's own log (show-failed-logs prints it) names the bad file.
    assert "shard-1.parquet" in out
    assert cluster.job_state(by_rule["eval_supernet"][0]) == "COMPLETED"

    shard.write_bytes(good)  # the fix
    proc, out = run_slurm(cluster, project, "slurm-logs/rerun", "results/standalone.parquet")
    assert proc.returncode == 0, out
    # Only the failed job is submitted again: not eval_supernet, which finished in the failed run, nor
    # anything upstream ...
    assert sorted(rule for rule, _ in submitted(out).values()) == ["merge_standalone"], out
    assert (project / "results/standalone.parquet").read_bytes() == \
        (local_study / "results/standalone.parquet").read_bytes()
    # ... and as the merged table has the same bytes as before the failure, Snakemake (which compares
    # checksums of small inputs whose modification time changed) finds nothing downstream stale.
    proc, out = run_slurm(cluster, project, "slurm-logs/dry-run", "--dry-run")
    assert proc.returncode == 0 and "Nothing to be done" in out, out
    for rel in parquet_files(local_study):
        assert (project / rel).read_bytes() == (local_study / rel).read_bytes(), rel


# -- bad input: the Slurm side of a misconfigured run ----------------------------------------------


def test_unedited_profile_fails_naming_the_placeholder(cluster, tmp_path):
    """The committed profile as is (partition and account EDIT_ME): the first submission fails, and the
    error names the placeholder; nothing runs."""
    project = copy_project(tmp_path, TINY)
    proc = snakemake(project, ["--profile", PROFILE, "--slurm-status-command", "squeue",
                               "--slurm-init-seconds-before-status-checks", "1", "--retries", "0"], cluster.env())
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and not submitted(out), out
    assert "invalid partition specified: EDIT_ME" in out, out
    assert not (project / "data/prepared/train.parquet").exists()


def test_controller_down_is_a_clear_error(cluster, tmp_path):
    """slurm.conf names a controller that does not answer (here: a port nobody listens on)."""
    conf = tmp_path / "slurm.conf"
    conf.write_text(re.sub(r"(?m)^SlurmctldPort=\d+$", f"SlurmctldPort={_closed_port()}", cluster.conf.read_text())
                    .replace("MessageTimeout=20", "MessageTimeout=2"))
    project = copy_project(tmp_path / "project", TINY)
    env = dict(cluster.env(), SLURM_CONF=str(conf))
    proc = snakemake(project, ["--profile", PROFILE, *slurm_args(cluster, "slurm-logs")], env)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and not submitted(out), out
    assert "Unable to contact slurm controller" in out, out


def test_slurm_commands_missing_is_a_clear_error(cluster, tmp_path):
    """No Slurm client on PATH (a machine that is not a Slurm login node)."""
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("sh", "which", "env"):
        os.symlink(shutil.which(tool), bare / tool)
    project = copy_project(tmp_path / "project", TINY)
    env = dict(cluster.env(), PATH=str(bare))
    proc = snakemake(project, ["--profile", PROFILE, *slurm_args(cluster, "slurm-logs")], env)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and not submitted(out), out
    assert re.search(r"No such file or directory: '(sbatch|sacct|sacctmgr|squeue|sinfo|scontrol)'", out), out


def _closed_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when this returns: nothing listens there


def test_check_profile_on_a_live_cluster(cluster, tmp_path):
    """`nas check-profile` before submitting: the committed profile is refused (placeholders, and sacct on
    a cluster without accounting); a filled-in copy passes; a controller that is down is named."""
    nas = str(BIN / "nas")
    committed = subprocess.run([nas, "check-profile", str(REPO / PROFILE)], capture_output=True, text=True,
                               env=cluster.env())
    lines = committed.stderr.strip().splitlines()
    assert committed.returncode == 2 and all(line.startswith("nas check-profile: error: ") for line in lines)
    assert "still the placeholder 'EDIT_ME'" in committed.stderr and "set slurm-status-command: squeue" in committed.stderr
    edited = tmp_path / "profile"
    shutil.copytree(REPO / PROFILE, edited)
    cfg = yaml.safe_load((edited / "config.yaml").read_text())
    cfg["default-resources"]["slurm_partition"] = cluster.partition
    del cfg["default-resources"]["slurm_account"]
    cfg["slurm-status-command"] = "squeue"
    cfg["slurm-init-seconds-before-status-checks"] = FIRST_CHECK
    (edited / "config.yaml").write_text(yaml.safe_dump(cfg))
    ok = subprocess.run([nas, "check-profile", str(edited)], capture_output=True, text=True, env=cluster.env())
    assert ok.returncode == 0, ok.stderr
    conf = tmp_path / "down.conf"
    conf.write_text(re.sub(r"(?m)^SlurmctldPort=\d+$", f"SlurmctldPort={_closed_port()}", cluster.conf.read_text())
                    .replace("MessageTimeout=20", "MessageTimeout=2"))
    down = subprocess.run([nas, "check-profile", str(edited)], capture_output=True, text=True,
                          env=dict(cluster.env(), SLURM_CONF=str(conf)))
    assert down.returncode == 2 and "controller does not answer" in down.stderr, down.stderr
