"""Each stage's code dependencies, derived from what its entry point imports: never written by hand.

A stage runs one function (its entry point: `nas.stages.<stage>`, or the function a registered piece
declares for a stage of its own). Its code deps are the project's modules that function can run:
the imports inside it and inside the module-level functions of its module it calls (transitively),
then every module those import, anywhere in their text (module level or inside a function), and the
`__init__` of every package on the way (importing `nas.supernet.base` runs `nas/supernet/__init__.py`,
which imports every method). The analysis is static (`ast`): nothing is imported or run. Its answers
are kept in the project's .nas/codedeps.json for the package's text as it is (`stage_files`).

Not followed and not listed: the orchestration modules (`PLUMBING`), which parse arguments, read and
validate params, and write dvc.yaml; what they contribute to a result is a params value, and DVC and
Snakemake track the values of the params each stage reads. Everything else a stage reaches is a dep,
so an edit anywhere in it reruns the stage under both engines (`tests/e2e/test_code_deps.py`).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
from pathlib import Path

PACKAGE = "nas"
# Orchestration, not computation: argument parsing, params loading and validation, the DAG writer,
# reanalysis and profile tools, the stage dispatcher itself (its functions are followed one by one),
# the watch on a stage's parent and the lock between the two engines.
PLUMBING = frozenset({"nas", "nas.__main__", "nas.cli", "nas.config", "nas.settings", "nas.dag", "nas.codedeps",
                      "nas.artifacts", "nas.profile", "nas.stages", "nas.lifeline", "nas.engines"})


def _root() -> Path:
    return Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=4)
def modules(root: str | None = None, packages: tuple[str, ...] = (PACKAGE,)) -> dict[str, Path]:
    """{module name: file} of every module of `packages` (default: the nas package)."""
    base = Path(root) if root else _root()
    out = {}
    for package in packages:
        for f in sorted((base / package).rglob("*.py")):
            if "__pycache__" in f.parts:
                continue
            parts = list(f.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = f
    return out


@functools.lru_cache(maxsize=256)
def _tree(path: Path) -> ast.Module:
    """A module's syntax tree, parsed once per process (the stages' functions are read once per stage)."""
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def _resolve(name: str, known: dict) -> str | None:
    """The module `name` is, or lies in (an attribute of a module: `nas.io.UserError` -> `nas.io`)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _imported(node: ast.AST, module: str, known: dict) -> set[str]:
    """The project modules the import statements under `node` name."""
    is_package = known[module].name == "__init__.py"
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Import):
            out.update(r for a in n.names if (r := _resolve(a.name, known)))
        elif isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level:
                pkg = module if is_package else module.rpartition(".")[0]
                for _ in range(n.level - 1):
                    pkg = pkg.rpartition(".")[0]
                base = f"{pkg}.{base}" if base else pkg
            for a in n.names:
                r = _resolve(f"{base}.{a.name}", known) if f"{base}.{a.name}" in known else _resolve(base, known)
                if r:
                    out.add(r)
    return out


@functools.lru_cache(maxsize=4)
def import_graph(root: str | None = None, packages: tuple[str, ...] = (PACKAGE,)) -> dict[str, frozenset]:
    """{module: the modules of `packages` it imports anywhere in its text}; a submodule's implicit import
    of its parent packages is not an edge here (`closure` adds the packages)."""
    known = modules(root, packages)
    return {m: frozenset(_imported(_tree(f), m, known) - {m}) for m, f in known.items()}


def _with_packages(module: str) -> list[str]:
    """The module and the packages above it (each `__init__` runs when it is imported)."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def entry_modules(module: str, function: str, root: str | None = None) -> set[str]:
    """The project modules function `function` of `module` imports, itself or through the module-level
    functions of its module it names (transitively), plus its module's own top-level imports."""
    known = modules(root)
    tree = _tree(known[module])
    functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    top = ast.Module(body=[n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))], type_ignores=[])
    out = _imported(top, module, known)
    seen, todo = set(), [function]
    while todo:
        name = todo.pop()
        if name in seen or name not in functions:
            continue
        seen.add(name)
        out |= _imported(functions[name], module, known)
        todo += [n.id for n in ast.walk(functions[name]) if isinstance(n, ast.Name) and n.id in functions]
    if module not in PLUMBING:
        out.add(module)
    return out


def closure(start: set[str], root: str | None = None) -> list[str]:
    """Every module reachable from `start` through imports and package `__init__`s, plumbing left out."""
    graph = import_graph(root)
    seen: set[str] = set()
    todo = [p for m in start for p in _with_packages(m)]
    while todo:
        m = todo.pop()
        if m in seen or m in PLUMBING or m not in graph:
            continue
        seen.add(m)
        todo += [p for dep in graph[m] for p in _with_packages(dep)]
    return sorted(seen)


def files(mods, root: str | None = None) -> list[str]:
    """The modules' files, relative to the project root, as posix paths (sorted)."""
    known = modules(root)
    base = Path(root) if root else _root()
    return sorted(known[m].relative_to(base).as_posix() for m in mods)


def code_deps(fn, root: str | None = None) -> list[str]:
    """The code deps of the stage whose entry point is function `fn` (a function of the package)."""
    return stage_files(fn.__module__, fn.__name__, root)


# Parsing the package (about 0.7 s) was a fifth of every `snakemake` start, twice in each Slurm job: the
# answers are kept in the project's .nas/ (local, like the params stamps), keyed by a digest of every
# module's text, so an edit anywhere computes them anew. Nothing in the file is trusted beyond a list of
# the package's own module files; anything else there is ignored.
CACHE = Path(".nas") / "codedeps.json"


def stage_files(module: str, function: str, root: str | None = None) -> list[str]:
    """The code deps of the stage whose entry point is `function` of `module`: the files (relative to
    the project root, sorted) of every module it can run."""
    digest, answers = _cached(root)
    key = f"{module}:{function}"
    if key not in answers:
        answers[key] = files(closure(entry_modules(module, function, root), root), root)
        _save(digest, answers)
    return list(answers[key])


def package_digest(root: str | None = None) -> str:
    """A digest of the text of every module of the package. Part of every resume key (the progress a
    killed stage keeps: super-net state, finished stand-alone trainings, scored chunks, perturbation
    decisions), so that progress made by other code is never taken as this code's: a stage rerun because
    its code changed starts afresh, and a killed one resumes only under the code that began it."""
    return _cached(root)[0]


@functools.lru_cache(maxsize=4)
def _cached(root: str | None) -> tuple[str, dict]:
    """(the package's digest, the answers kept for it), read once per process."""
    known = modules(root)
    h = hashlib.sha256()
    for name, f in sorted(known.items()):
        h.update(f"{name}\0".encode() + f.read_bytes() + b"\0")
    digest = h.hexdigest()
    valid = set(files(known, root))
    try:
        kept = json.loads(CACHE.read_text(encoding="utf-8"))
        answers = kept["stages"] if kept["digest"] == digest else {}
        if not all(isinstance(v, list) and set(v) <= valid for v in answers.values()):
            answers = {}
    except (OSError, ValueError, KeyError, TypeError):
        answers = {}
    return digest, dict(answers)


def _save(digest: str, answers: dict) -> None:
    """Write the answers, atomically (Slurm jobs of one project start at once); where .nas/ cannot be
    written, they are simply computed again next time."""
    tmp = CACHE.with_name(f"{CACHE.name}.{os.getpid()}.tmp")
    try:
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"digest": digest, "stages": answers}, sort_keys=True), encoding="utf-8")
        os.replace(tmp, CACHE)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
