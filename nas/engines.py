"""DVC and Snakemake never run at once in one project.

Both engines run the same stages on the same files, and neither sees the other's run: DVC deletes a
stage's outputs before it reruns it, Snakemake rewrites the params stamps when it starts, so a run of
one beside the other fails on files the other removed or half-renewed (and DVC's lock file is left
stale). The two share one lock table, DVC's own `.dvc/tmp/rwlock` (the paths each running command
reads and writes, with its pid and command line), and DVC's repository lock `.dvc/tmp/lock` tells
whether a dvc command runs:

* `dvc repro` / `dvc exp run` hold `.dvc/tmp/lock` (a kernel file lock, gone when dvc exits, even
  killed) from start to end, and before running any stage, before deleting its outputs, check the
  table, refusing a path another live process writes.
* Snakemake's main process, when it reads the Snakefile (`workflow/rules/common.smk`, before anything
  else), calls `claim_for_snakemake`: it enters itself in the table as the writer of the whole project
  (its pid and command line), then checks `.dvc/tmp/lock`; if a dvc command holds it, it takes its
  entry out again and refuses, naming the dvc process. The entry is removed when Snakemake exits.

Either order, one of the two sees the other (each takes its own lock before it checks the other's),
and DVC refuses before it touches a file, with its own message naming Snakemake's pid and command and
how to clear a stale entry; an entry whose process is gone (a killed Snakemake) is stale, and DVC and
the next Snakemake drop it themselves. Many jobs of one engine run at once as before. A dry run
(`snakemake -n`) and the jobs of a cluster run (which run inside the main process's claim) claim
nothing. Kernel locks and process ids are per host: run both engines of one project on one host (the
login node, for a cluster).

Standard library only: the Snakefile imports this in Snakemake's process.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from pathlib import Path

DVC_TMP = Path(".dvc") / "tmp"
NOTE = "[nas: Snakemake runs this project; wait for it to finish or stop it]"


class EngineBusy(Exception):
    """The other engine runs in this project (one line, naming it)."""


def _try_flock(path: Path) -> bool | None:
    """Take and at once release an exclusive lock on `path`: True if it was free, False if another
    process holds it, None if the file does not exist."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing releases the lock
    return True


def command_of(pid: int) -> str:
    """The command line of process `pid` (Linux), or '' if it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    if len(words) > 1 and Path(words[0]).name.startswith("python") and not words[1].startswith("-"):
        words = words[1:]  # `python .../dvc repro` (a console script) reads as `dvc repro`
    if words:
        words[0] = Path(words[0]).name
    text = " ".join(" ".join(words).split())
    return text if len(text) <= 120 else text[:117] + "..."


def dvc_holder(root: Path = Path("."), wait: float = 1.0) -> str | None:
    """Who holds DVC's repository lock of the project at `root` ('pid N: dvc repro'), or None when no
    dvc command runs. A holder that lets go within `wait` seconds (a short command: dvc status) is
    waited for."""
    lock = root / DVC_TMP / "lock"
    deadline = time.monotonic() + wait
    while True:
        free = _try_flock(lock)
        if free is None or free:
            return None
        if time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    try:
        pid = int(lock.read_text().split()[0])  # zc.lockfile writes " <pid>"
    except (OSError, ValueError, IndexError):
        return "a dvc command"
    command = command_of(pid)
    return f"pid {pid}" + (f": {command}" if command else "")


# --- DVC's lock table --------------------------------------------------------------------------------

def _edit_table(root: Path, edit) -> None:
    """Apply `edit(table)` to `.dvc/tmp/rwlock` under DVC's guard lock `.dvc/tmp/rwlock.lock`, as DVC
    edits it."""
    import fcntl

    tmp = root / DVC_TMP
    tmp.mkdir(parents=True, exist_ok=True)
    fd = os.open(tmp / "rwlock.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + 10.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EngineBusy(f"{tmp / 'rwlock.lock'} stays locked; is a dvc command stuck? "
                                     "(delete the file if no dvc command runs)") from None
                time.sleep(0.1)
        path = tmp / "rwlock"
        try:
            table = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        except (ValueError, OSError):
            raise EngineBusy(f"{path}: not DVC's lock table (corrupt); delete it if no dvc command "
                             "runs") from None
        if not isinstance(table, dict):
            table = {}
        edit(table)
        table = {k: v for k, v in table.items() if v}
        tmp_path = path.with_name(f".rwlock.{os.getpid()}.tmp")
        tmp_path.write_text(json.dumps(table), encoding="utf-8")
        os.replace(tmp_path, path)
    finally:
        os.close(fd)


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError, OverflowError):
        return True
    return True


def _stale(pid) -> bool:
    """Whether the Snakemake that entered `pid` is gone: no such process, or (its id reused) one that
    is not a snakemake."""
    if not _alive(pid):
        return True
    command = command_of(int(pid)) if isinstance(pid, int) else ""
    return bool(command) and "snakemake" not in command


def _ours(info) -> bool:
    return isinstance(info, dict) and NOTE in str(info.get("cmd", ""))


def project_paths(root: Path) -> list[str]:
    """The project's folder as DVC names the paths of its stages (absolute; the real path too where a
    symbolic link leads to it)."""
    paths = [os.path.abspath(root)]
    real = os.path.realpath(root)
    return paths + ([real] if real != paths[0] else [])


def dry_run(argv) -> bool:
    """Whether Snakemake's command line `argv` asks for a dry run (-n, --dry-run, or -n among other
    one-letter flags: -np). The Snakefile is read before Snakemake's own setting is known."""
    for arg in list(argv)[1:]:
        if arg in ("-n", "--dry-run", "--dryrun", "--dry_run"):
            return True
        if arg.startswith("-") and not arg.startswith("--") and arg[1:].isalpha() and "n" in arg[1:]:
            return True
    return False


def dvc_root(start: Path = Path(".")) -> Path | None:
    """The DVC repository `start` lies in: the nearest folder up holding `.dvc` (a study's folder,
    studies/<name>/, lies in the project's), or None."""
    start = Path(start).absolute()
    return next((folder for folder in (start, *start.parents) if (folder / ".dvc").is_dir()), None)


def claim_for_snakemake(root: Path = Path("."), argv=None, wait: float = 1.0) -> bool:
    """In Snakemake's main process: enter it in DVC's lock table as the writer of the whole project
    (the DVC repository its working folder `root` lies in), then refuse (EngineBusy, after taking the
    entry out again) if a dvc command runs. Returns False where there is nothing to claim (no DVC
    repository). Entries of Snakemake processes that are gone are dropped."""
    root = dvc_root(root)
    if root is None:
        return False
    pid = os.getpid()
    words = [Path((argv or sys.argv)[0]).name] + list((argv or sys.argv)[1:])
    info = {"pid": pid, "cmd": f"{' '.join(words)[:200]} {NOTE}"}
    paths = project_paths(root)

    def enter(table):
        writes = table.setdefault("write", {})
        if not isinstance(writes, dict):
            writes = table["write"] = {}
        for path, holder in list(writes.items()):
            if _ours(holder) and _stale(holder.get("pid")):
                del writes[path]  # a killed Snakemake's
        for path in paths:
            if path not in writes:  # another live Snakemake's entry stays (Snakemake's own lock decides)
                writes[path] = info

    _edit_table(root, enter)
    atexit.register(release_for_snakemake, root, pid)
    holder = dvc_holder(root, wait)
    if holder is not None:
        release_for_snakemake(root, pid)
        raise EngineBusy(f"dvc runs in this project ({holder}; it holds {DVC_TMP / 'lock'}): wait for it to "
                         "finish or stop it, then run snakemake again; the lock is the kernel's and goes with "
                         "its process, so a dvc that is gone cannot hold it")
    return True


def release_for_snakemake(root: Path = Path("."), pid: int | None = None) -> None:
    """Take Snakemake's entry (this process's, or `pid`'s) out of DVC's lock table."""
    pid = os.getpid() if pid is None else pid
    root = dvc_root(root)
    if root is None:
        return

    def leave(table):
        writes = table.get("write")
        if isinstance(writes, dict):
            for path, holder in list(writes.items()):
                if _ours(holder) and holder.get("pid") == pid:
                    del writes[path]

    try:
        _edit_table(root, leave)
    except (OSError, EngineBusy):
        pass  # an entry left behind names a process that is gone: stale, and dropped by DVC
