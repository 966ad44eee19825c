"""`nas check-profile DIR`: check a Snakemake profile before a Slurm run.

Every problem is one line naming the file and key (or the command), like every other user error.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from nas.io import UserError

PLACEHOLDER = "EDIT_ME"
# Commands the Slurm executor plugin runs on the submit host.
SLURM_COMMANDS = ("sbatch", "squeue", "scontrol", "sinfo", "scancel")


def _slurm(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UserError(f"`{' '.join(args)}` did not answer in {timeout:.0f} s: is the Slurm controller up?") from None


def check_profile(profile: str | Path) -> list[str]:
    """Problems of the profile `profile` (a directory holding config.yaml) on this host; [] if none.
    Only Slurm profiles (executor: slurm) are checked beyond being readable."""
    path = Path(profile) / "config.yaml" if Path(profile).is_dir() else Path(profile)
    if not path.is_file():
        raise UserError(f"{path}: profile not found")
    try:
        cfg = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if cfg.get("executor") != "slurm":
        return []
    problems = []
    # 1. placeholders, where they are used: default-resources and every set-resources entry
    resources = {f"default-resources.{k}": v for k, v in (cfg.get("default-resources") or {}).items()}
    for rule, res in (cfg.get("set-resources") or {}).items():
        resources.update({f"set-resources.{rule}.{k}": v for k, v in (res or {}).items()})
    for key, value in resources.items():
        if PLACEHOLDER in str(value):
            hint = ("`sinfo -s` lists partitions" if key.endswith("slurm_partition") else
                    "`sacctmgr show assoc user=$USER format=account` lists accounts; remove the key on a "
                    "cluster without accounts" if key.endswith("slurm_account") else "")
            problems.append(f"{path}: {key} is still the placeholder {value!r}; set it"
                            + (f" ({hint})" if hint else ""))
    # 2. Slurm commands on PATH
    status = cfg.get("slurm-status-command", "sacct")
    needed = SLURM_COMMANDS + (("sacct",) if status == "sacct" else ())
    missing = [c for c in needed if shutil.which(c) is None]
    if missing:
        problems.append(f"{path}: executor slurm needs {', '.join(missing)} on PATH, not found: run on a "
                        "Slurm login node (or `module load slurm`)")
        return problems
    # 3. the controller answers
    ping = _slurm("scontrol", "ping")
    if ping.returncode != 0 or "UP" not in ping.stdout:
        text = (ping.stdout + ping.stderr).strip().splitlines()
        problems.append(f"the Slurm controller does not answer (`scontrol ping`: {text[0] if text else ping.returncode})")
        return problems
    # 4. partitions that exist
    known = set(_slurm("sinfo", "-h", "-o", "%R").stdout.split())
    for key, value in resources.items():
        if key.endswith("slurm_partition") and PLACEHOLDER not in str(value) and str(value) not in known:
            problems.append(f"{path}: {key} is {value!r}, not a partition of this cluster "
                            f"(partitions: {', '.join(sorted(known)) or 'none'})")
    # 5. job states: sacct needs an accounting database; squeue needs finished jobs kept long enough
    conf = _slurm("scontrol", "show", "config").stdout
    setting = {k.strip(): v.strip() for k, _, v in (ln.partition("=") for ln in conf.splitlines()) if _}
    if status == "sacct" and setting.get("AccountingStorageType", "") in ("accounting_storage/none", "(null)", ""):
        problems.append(f"{path}: slurm-status-command is sacct, but this cluster keeps no accounting "
                        "(AccountingStorageType=none); set slurm-status-command: squeue")
    if status == "squeue":
        age = int((setting.get("MinJobAge", "300").split() or ["300"])[0])
        first = int(cfg.get("slurm-init-seconds-before-status-checks", 40))
        if age < 3 * first:
            problems.append(f"{path}: slurm-status-command is squeue, but Slurm forgets finished jobs after "
                            f"MinJobAge={age} s, less than 3 x slurm-init-seconds-before-status-checks ({first}); "
                            "use sacct or lower the latter")
    return problems


