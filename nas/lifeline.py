"""A stage command dies with its parent, from its first moment.

`dvc repro` or a Snakemake job shell that is killed must take the stage it started with it: an
orphaned stage would train on next to the rerun's copy, writing the same files. Watching the parent
only after the imports (seconds: torch) misses a parent killed during them, since by then the
process's parent id already names the reaper. So `nas/__init__.py` calls `arm()` first thing: when
this interpreter runs a `nas` stage command (`nas <stage>` or `python -m nas <stage>`, read from
`sys.orig_argv`), it records the parent id, asks Linux to kill this process when the parent exits
(`prctl(PR_SET_PDEATHSIG, SIGKILL)`), then checks that the recorded parent is still the parent (it
may have died before the request) and keeps checking once a second (the only watch elsewhere).
Only the interpreter's own start-up, before `nas` is imported, is left uncovered: milliseconds.

Imports nothing but the standard library, and nothing heavy: it runs before everything else.
"""

from __future__ import annotations

import os
import sys

# The `nas` commands that are not stages (nas.cli.TOOLS): they are not watched.
TOOLS = frozenset({"dag", "summary", "compare", "sync", "check-profile", "study", "power"})
PARENT: int | None = None  # the parent recorded by `arm` when this process is a stage command
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def cli_args(argv) -> list[str] | None:
    """The arguments after `nas` when the command line `argv` (as `sys.orig_argv`: the interpreter
    first) runs the nas command, as `.../nas ARGS` or `python -m nas ARGS`; None otherwise."""
    argv = list(argv)
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "-m":
            return argv[i + 2:] if argv[i + 1:i + 2] == ["nas"] else None
        if arg.startswith("-m"):
            return argv[i + 1:] if arg[2:] == "nas" else None
        if arg in ("-c", "-") or arg.startswith("-c"):
            return None
        if arg in ("-X", "-W", "--check-hash-based-pycs"):
            i += 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        return argv[i + 1:] if os.path.basename(arg) == "nas" else None
    return None


def is_stage(args: list[str]) -> bool:
    """Whether nas arguments `args` run a stage: a subcommand other than the tools, and no --help."""
    if any(a in ("-h", "--help") for a in args):
        return False
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--params":
            rest = rest[1:]
        elif not arg.startswith("-"):
            return arg not in TOOLS
    return False


def death_signal() -> bool:
    """Ask the kernel to SIGKILL this process when its parent exits (Linux; False elsewhere or if
    refused). The signal follows the thread that started this process: both engines start stages
    from a thread that waits for them (a Snakemake job's shell, DVC's main thread)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _gone(parent: int) -> None:
    try:
        os.write(2, f"nas: the process that started this one (pid {parent}) is gone; stopping\n".encode())
    except OSError:
        pass
    os._exit(1)


def watch(parent: int) -> None:
    """Exit as soon as process `parent` is no longer this process's parent: checked now, then once a
    second on a daemon thread."""
    import threading
    import time

    if os.getppid() != parent:
        _gone(parent)

    def loop():
        while os.getppid() == parent:
            time.sleep(1.0)
        _gone(parent)

    threading.Thread(target=loop, daemon=True, name="nas-parent-watch").start()


def arm() -> None:
    """When this interpreter runs a `nas` stage command: record the parent, ask for the parent-death
    signal, and watch the parent (see the module's text). Otherwise (a library import, a tool, a
    worker process) nothing."""
    global PARENT
    args = cli_args(getattr(sys, "orig_argv", ()))
    if PARENT is not None or args is None or not is_stage(args):
        return
    PARENT = os.getppid()
    death_signal()
    watch(PARENT)  # the parent may have died between getppid and prctl
