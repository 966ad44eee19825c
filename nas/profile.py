"""`nas check-profile DIR`: check a Snakemake profile before a Slurm run.

Every problem is one line naming the file and key (or the command), like every other user error.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from nas.io import UserError
from nas.settings import cut, show

PLACEHOLDER = "EDIT_ME"
# Commands the Slurm executor plugin runs on the submit host.
SLURM_COMMANDS = ("sbatch", "squeue", "scontrol", "sinfo", "scancel")


def _slurm(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UserError(f"`{' '.join(args)}` did not answer in {timeout:.0f} s: is the Slurm controller up?") from None


def _kind(value) -> str:
    name = type(value).__name__
    return f"a{'n' if name[0] in 'aeiou' else ''} {name} ({show(value)})"


def _resources(value, path, key: str) -> dict:
    """{resource: value} of a resources entry written as a mapping or as a list of KEY=VALUE (the
    command line's form, which Snakemake also reads from a profile); one line for anything else."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, list) and all(isinstance(v, str) and "=" in v for v in value):
        return dict(v.split("=", 1) for v in value)
    raise UserError(f"{path}: {key} is {_kind(value)}; expected a mapping of resource: value (or a list of "
                    "RESOURCE=VALUE)")


def check_profile(profile: str | Path) -> list[str]:
    """Problems of the profile `profile` (a directory holding config.yaml) on this host; [] if none.
    Only Slurm profiles (executor: slurm) are checked beyond being readable."""
    path = Path(profile) / "config.yaml" if Path(profile).is_dir() else Path(profile)
    if not path.is_file():
        raise UserError(f"{path}: profile not found")
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({cut(str(exc).splitlines()[0])})") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not valid YAML (not UTF-8 text: byte {exc.start} is "
                        f"{exc.object[exc.start]:#04x})") from None
    except RecursionError:
        raise UserError(f"{path}: not valid YAML (values nested too deep)") from None
    cfg = {} if cfg is None else cfg
    if not isinstance(cfg, dict):
        raise UserError(f"{path}: expected a mapping of Snakemake options (executor: ..., default-resources: "
                        f"...), got {_kind(cfg)}")
    if cfg.get("executor") != "slurm":
        return []
    problems = []
    # 1. placeholders, where they are used: default-resources and every set-resources entry
    resources = {f"default-resources.{k}": v for k, v in _resources(cfg.get("default-resources"), path,
                                                                     "default-resources").items()}
    rules = cfg.get("set-resources") or {}
    if isinstance(rules, list):  # the command line's form, RULE:KEY=VALUE
        listed = {}
        for entry in rules:
            rule, sep, setting = str(entry).partition(":")
            if not sep:
                raise UserError(f"{path}: set-resources entry {show(entry)} is not RULE:KEY=VALUE")
            listed.setdefault(rule, []).append(setting)
        rules = listed
    if not isinstance(rules, dict):
        raise UserError(f"{path}: set-resources is {_kind(rules)}; expected a mapping of rule: {{resource: value}}")
    for rule, res in rules.items():
        resources.update({f"set-resources.{rule}.{k}": v
                          for k, v in _resources(res, path, f"set-resources.{cut(str(rule), 60)}").items()})
    for key, value in resources.items():
        if PLACEHOLDER in str(value):
            hint = ("`sinfo -s` lists partitions" if key.endswith("slurm_partition") else
                    "`sacctmgr show assoc user=$USER format=account` lists accounts; remove the key on a "
                    "cluster without accounts" if key.endswith("slurm_account") else "")
            problems.append(f"{path}: {key} is still the placeholder {show(value)}; set it"
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
            problems.append(f"{path}: {key} is {show(value)}, not a partition of this cluster "
                            f"(partitions: {', '.join(sorted(known)) or 'none'})")
    # 5. job states: sacct needs an accounting database; squeue needs finished jobs kept long enough
    conf = _slurm("scontrol", "show", "config").stdout
    setting = {k.strip(): v.strip() for k, _, v in (ln.partition("=") for ln in conf.splitlines()) if _}
    if status == "sacct" and setting.get("AccountingStorageType", "") in ("accounting_storage/none", "(null)", ""):
        problems.append(f"{path}: slurm-status-command is sacct, but this cluster keeps no accounting "
                        "(AccountingStorageType=none); set slurm-status-command: squeue")
    if status == "squeue":
        age = int((setting.get("MinJobAge", "300").split() or ["300"])[0])
        first = cfg.get("slurm-init-seconds-before-status-checks", 40)
        if isinstance(first, bool) or not isinstance(first, int):
            raise UserError(f"{path}: slurm-init-seconds-before-status-checks is {_kind(first)}; expected seconds, "
                            "an integer")
        if age < 3 * first:
            problems.append(f"{path}: slurm-status-command is squeue, but Slurm forgets finished jobs after "
                            f"MinJobAge={age} s, less than 3 x slurm-init-seconds-before-status-checks ({first}); "
                            "use sacct or lower the latter")
    return problems


