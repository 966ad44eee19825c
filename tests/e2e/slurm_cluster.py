"""A throw-away one-node Slurm cluster on this machine, for the Slurm end-to-end tests.

`SlurmCluster.start()` installs Debian's `slurm-wlm` and `munge` when they are missing (root only),
starts a private `munged` (own key, socket and pid file in a temp dir), writes a one-node
`slurm.conf` for this host into the same temp dir, starts `slurmctld` and `slurmd` in the foreground
mode (`-D`) as child processes on free ports, and waits until `sinfo` shows the node idle.
`env()` also puts a one-line `srun` wrapper first on PATH (see `_write_conf` for why).
`stop()` kills exactly the processes it started (by pid) and removes the temp dir. Every Slurm
command run with `cluster.env()` talks to this cluster only (`SLURM_CONF` points at its config).

Anything that makes a cluster impossible here (not root, no apt, a daemon that will not start) raises
`ClusterUnavailable` with the reason; the tests turn it into a skip that names that reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PACKAGES = {"slurmctld": "slurm-wlm", "slurmd": "slurm-wlm", "sbatch": "slurm-wlm", "munged": "munge"}
SBIN = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")


class ClusterUnavailable(RuntimeError):
    """No Slurm cluster can be set up on this machine; the message says why."""


def _which(name: str) -> str | None:
    return shutil.which(name) or next((f"{d}/{name}" for d in SBIN if os.access(f"{d}/{name}", os.X_OK)), None)


def ensure_installed() -> None:
    """apt-get install slurm-wlm and munge when a daemon or client is missing (once per machine)."""
    missing = sorted({pkg for cmd, pkg in PACKAGES.items() if _which(cmd) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        raise ClusterUnavailable(f"Slurm is not installed ({', '.join(missing)} missing) and installing it "
                                 "needs root")
    if _which("apt-get") is None:
        raise ClusterUnavailable(f"Slurm is not installed ({', '.join(missing)} missing) and there is no apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *missing]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise ClusterUnavailable(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    still = [c for c in PACKAGES if _which(c) is None]
    if still:
        raise ClusterUnavailable(f"after apt-get install, still missing: {', '.join(still)}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise ClusterUnavailable("cannot read MemTotal from /proc/meminfo")


class SlurmCluster:
    """One node (this host), one partition; config, state, logs and munge socket under one temp dir."""

    def __init__(self, partition: str = "debug", cluster_name: str = "nastest"):
        self.partition = partition
        self.cluster_name = cluster_name
        self.node = socket.gethostname().split(".")[0]
        self.cpus = os.cpu_count() or 1
        self.dir: Path | None = None
        self.procs: dict[str, subprocess.Popen] = {}

    # -- paths and environment ------------------------------------------------------------------
    @property
    def conf(self) -> Path:
        return self.dir / "slurm.conf"

    def env(self, base: dict | None = None) -> dict:
        """`base` (default os.environ) with SLURM_CONF pointing at this cluster."""
        e = dict(os.environ if base is None else base)
        e["SLURM_CONF"] = str(self.conf)
        e["PATH"] = f"{self.dir / 'bin'}{os.pathsep}{e.get('PATH', os.defpath)}"
        for k in [k for k in e if k.startswith("SLURM_") and k != "SLURM_CONF"]:
            del e[k]  # never inherit a surrounding job's context
        return e

    def cmd(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        proc = subprocess.run(list(args), env=self.env(), capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
        return proc

    # -- set-up ---------------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> "SlurmCluster":
        ensure_installed()
        if os.geteuid() != 0:
            raise ClusterUnavailable("starting slurmd needs root (SlurmUser=root, jobs run as the submitter)")
        self.dir = Path(tempfile.mkdtemp(prefix="slurm-test-"))
        os.chmod(self.dir, 0o755)
        try:
            self._start_munge()
            self._write_conf()
            self._spawn("slurmctld", [_which("slurmctld"), "-D", "-i", "-f", str(self.conf)])
            self._wait(lambda: self.cmd("scontrol", "ping", check=False).stdout.count("UP") > 0,
                       timeout, "slurmctld to answer `scontrol ping`")
            self._spawn("slurmd", [_which("slurmd"), "-D", "-f", str(self.conf), "-N", self.node])
            self._wait(self._node_idle, timeout, f"node {self.node} to be idle in sinfo")
        except BaseException:
            self.stop()
            raise
        return self

    def _start_munge(self) -> None:
        munge = self.dir / "munge"
        munge.mkdir(mode=0o700)
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)
        self.munge_socket = munge / "munge.socket"
        # Private munged: own key, socket, pid and seed files, so a system munged (if any) is untouched.
        args = [_which("munged"), "--foreground", "--force", f"--key-file={key}", f"--socket={self.munge_socket}",
                f"--pid-file={munge / 'munged.pid'}", f"--log-file={munge / 'munged.log'}",
                f"--seed-file={munge / 'munged.seed'}"]
        self._spawn("munged", args)
        self._wait(self.munge_socket.exists, 20, "munged to create its socket")

    def _write_conf(self) -> None:
        d = self.dir
        for sub in ("state", "spool", "log"):
            (d / sub).mkdir()
        # A bit below the machine's memory: slurmd drains a node that has less than its RealMemory.
        self.memory_mb = memory = max(256, _memory_mb() - 1024)
        self.ctld_port, self.slurmd_port = _free_port(), _free_port()
        self.conf.write_text(f"""\
# Written by tests/e2e/slurm_cluster.py: a one-node test cluster; removed on teardown.
ClusterName={self.cluster_name}
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={self.ctld_port}
SlurmdPort={self.slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={d / 'state'}
SlurmdSpoolDir={d / 'spool'}
SlurmctldPidFile={d / 'slurmctld.pid'}
SlurmdPidFile={d / 'slurmd.pid'}
SlurmctldLogFile={d / 'log' / 'slurmctld.log'}
SlurmdLogFile={d / 'log' / 'slurmd.log'}
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
LaunchParameters=use_interactive_step
ReturnToService=2
# Finished jobs stay visible to squeue this long: the Snakemake plugin reads their state with squeue.
MinJobAge=600
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MessageTimeout=20
InactiveLimit=0
KillWait=5
Waittime=0
PlugStackConfig={d / 'plugstack.conf'}
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={memory} State=UNKNOWN
PartitionName={self.partition} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
""")
        (d / "plugstack.conf").write_text("")
        os.chmod(self.conf, 0o644)
        # snakemake-executor-plugin-slurm-jobstep (0.6.1) drops every SLURM_* variable but the job's
        # identity before its nested `srun`, SLURM_CONF included; on a real cluster srun then finds
        # /etc/slurm/slurm.conf (or the configless controller), here it would find nothing. This
        # wrapper, first on the PATH that jobs inherit (--export=ALL), puts our SLURM_CONF back.
        (d / "bin").mkdir()
        srun = d / "bin" / "srun"
        srun.write_text(f"#!/bin/sh\nSLURM_CONF='{self.conf}' exec '{_which('srun')}' \"$@\"\n")
        os.chmod(srun, 0o755)

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.dir / f"{name}.out", "wb")
        self.procs[name] = subprocess.Popen(args, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()

    def _node_idle(self) -> bool:
        state = self.cmd("sinfo", "-h", "-n", self.node, "-o", "%T", check=False).stdout.strip()
        if state.rstrip("*~#") in ("down", "drained", "draining", "fail"):
            self.cmd("scontrol", "update", f"nodename={self.node}", "state=resume", check=False)
        return state.rstrip("*") == "idle"

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise ClusterUnavailable(f"{name} exited ({p.returncode}) while waiting for {what}:\n"
                                             + self.logs())
            try:
                if ready():
                    return
            except (subprocess.TimeoutExpired, OSError):
                pass
            time.sleep(0.3)
        raise ClusterUnavailable(f"timed out after {timeout:.0f}s waiting for {what}:\n" + self.logs())

    def logs(self, tail: int = 2000) -> str:
        if self.dir is None:
            return ""
        out = []
        for f in sorted(self.dir.rglob("*")):
            if f.is_file() and (f.suffix in (".log", ".out")):
                out.append(f"--- {f.name}\n{f.read_text(errors='replace')[-tail:]}")
        return "\n".join(out)

    # -- jobs -----------------------------------------------------------------------------------
    def sbatch(self, *args: str) -> str:
        """Submit; return the job id."""
        return self.cmd("sbatch", "--parsable", *args).stdout.strip().split(";")[0]

    def job_state(self, job_id: str) -> str:
        out = self.cmd("squeue", "-h", "--states=all", "-j", job_id, "-o", "%T", check=False).stdout.strip()
        return out or "UNKNOWN"

    def wait_job(self, job_id: str, timeout: float = 60) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            state = self.job_state(job_id)
            if state in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL"):
                return state
            time.sleep(0.3)
        raise TimeoutError(f"job {job_id} not finished after {timeout}s (state {self.job_state(job_id)})")

    # -- teardown -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Kill the daemons this object started (by pid; slurmd first), then remove the temp dir."""
        if self.procs.get("slurmctld") and self.procs["slurmctld"].poll() is None:
            self.cmd("scancel", "--full", "-u", str(os.getuid()), check=False, timeout=10)  # our jobs only
        for name in ("slurmd", "slurmctld", "munged"):
            p = self.procs.pop(name, None)
            if p is None or p.poll() is not None:
                continue
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        self.procs.clear()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
