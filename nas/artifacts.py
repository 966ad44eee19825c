"""Reanalysis of versioned artifacts: load any artifact at any git revision or DVC experiment without
checking it out, compare the metrics of two revisions, and make pulled files look fresh to Snakemake.

    import nas
    scores = nas.load("scores", rev="v1.0", variant="baseline", seed=0)   # a pandas DataFrame
    nas.load("correlation")                                        # the workspace's copy
    nas.load("selection", study="darts_pt")                        # a study's (studies/darts_pt/)

`rev` is anything git or DVC understands: a commit, branch, tag, or an experiment name from
`dvc exp show`; None or "workspace" is the files as they are now. The result tables are committed to
git (nas.layout.in_git), so they read from any clone at any revision; weights and data come through
`dvc.api`, from the DVC cache or the remote. Paths are the project's (nas/layout.py), found from any
folder inside it (a notebook folder, say): the project is the nearest folder up that holds dvc.yaml;
with `study`, the project root (the folder that holds studies/) and the study's folder in it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from nas import layout as L
from nas.io import UserError
from nas.settings import SEED_MAX, cut, show

def artifact_path(artifact: str, variant: str | None = None, seed: int = 0) -> str:
    """The path of artifact `artifact` (a name of `nas.layout.ARTIFACTS`), of run (variant, seed) for the
    per-run ones."""
    if not isinstance(artifact, str) or artifact not in L.ARTIFACTS:
        raise UserError(f"artifact {show(artifact)}: unknown; expected one of {', '.join(L.ARTIFACTS)}")
    path = L.ARTIFACTS[artifact]
    if callable(path):
        if not variant:
            raise UserError(f"artifact {artifact!r}: needs a variant (e.g. variant='baseline')")
        # Both become folder names: a path outside the study (variant='../..') is never built.
        if not isinstance(variant, str) or not re.fullmatch(L.VARIANT_NAME, variant):
            raise UserError(f"variant {show(variant)}: not a variant name (letters, digits, '_' or '-', at most 64)")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= SEED_MAX:
            raise UserError(f"seed {show(seed)}: not a seed (an integer in 0..{SEED_MAX})")
        path = path(L.Run(variant, int(seed)))
    elif variant:
        raise UserError(f"artifact {artifact!r}: has no variants, but variant={show(variant)} was given")
    return Path(path).as_posix()


WORKSPACE = "workspace"  # the rev that names the files as they are now (also None)


def project_root(repo: str | None = None) -> str | None:
    """The study's folder: `repo` (or the current folder) and its parents, the nearest holding dvc.yaml;
    `repo` as given when it is a URL or nothing up from it holds one."""
    if repo is not None and ("://" in repo or repo.startswith("git@")):
        return repo
    start = Path(repo or ".").resolve()
    for folder in (start, *start.parents):
        if (folder / "dvc.yaml").is_file():
            return str(folder)
    return repo


def in_study(path: str, study: str | None, repo: str | None) -> tuple[str, str | None]:
    """(path, repo) of a study's file: the path inside studies/<study>/ of the project root (the nearest
    folder up from `repo`, or the working folder, that holds studies/ or is a git repository's top), as
    git and DVC see it (a study's folder is a DVC sub-repository); (path, repo) unchanged without one."""
    if study is None:
        return path, repo
    if not isinstance(study, str) or not re.fullmatch(L.STUDY_NAME, study):
        raise UserError(f"study {show(study)}: not a study name (letters, digits, '_' or '-', at most 64)")
    if repo is not None and ("://" in repo or repo.startswith("git@")):
        return f"{L.STUDIES.as_posix()}/{study}/{path}", repo
    start = Path(repo or ".").resolve()
    root = next((f for f in (start, *start.parents) if (f / L.STUDIES).is_dir() or (f / ".git").exists()), None)
    if root is None:
        raise UserError(f"study {study!r}: no folder above {start} holds {L.STUDIES.as_posix()}/ or a git repository")
    return f"{L.STUDIES.as_posix()}/{study}/{path}", str(root)


def read_bytes(path: str, rev: str | None = None, repo: str | None = None) -> bytes:
    """The bytes of a DVC- or git-tracked file at `rev` (None or "workspace": the files as they are now)."""
    rev = None if rev == WORKSPACE else rev
    root = project_root(repo)
    local = root is not None and "://" not in root and not root.startswith("git@")
    if rev is None and local and (Path(root) / path).is_file():
        return (Path(root) / path).read_bytes()
    import dvc.api
    try:
        with dvc.api.open(path, repo=root, rev=rev, mode="rb") as f:
            return f.read()
    except Exception as exc:  # dvc raises many types: path missing, rev unknown, remote unreachable
        where = f"revision {show(rev)}" if rev else "the workspace"
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path} at {where}: cannot be read ({cut(text)})") from None


def load(artifact: str, rev: str | None = None, variant: str | None = None, repo: str | None = None,
         seed: int = 0, study: str | None = None) -> pd.DataFrame:
    """A Parquet artifact of the study as a DataFrame, at git revision / DVC experiment `rev`
    (`variant` and super-net `seed` for the per-run artifacts; `study`: a study of studies/, None for
    the default study)."""
    path = artifact_path(artifact, variant, seed)
    if not path.endswith(".parquet"):
        raise UserError(f"artifact {artifact!r} is {path}, not a table; use nas.artifacts.read_bytes")
    path, repo = in_study(path, study, repo)
    data = read_bytes(path, rev, repo)
    import pyarrow as pa
    import pyarrow.parquet as pq
    try:
        # pyarrow's BufferReader, not pandas.read_parquet(BytesIO): the latter intermittently aborts the
        # interpreter at exit with pyarrow 26 / pandas 3 (about 1 run in 10, measured).
        return pq.read_table(pa.BufferReader(data)).to_pandas()
    except Exception as exc:
        raise UserError(f"{path} at {show(rev) if rev else 'the workspace'}: not a readable Parquet file ({cut(str(exc))})") from None


def metrics(rev: str | None = None, repo: str | None = None, study: str | None = None) -> pd.DataFrame:
    """The correlation and selection metrics of `rev` (of `study`, None for the default study) as one long
    table: file, variant, metric, value."""
    rows = []
    for name, path in L.METRICS_FILES.items():
        path, where_repo = in_study(Path(path).as_posix(), study, repo)
        where = f"{path} at {f'revision {show(rev)}' if rev not in (None, WORKSPACE) else 'the workspace'}"
        try:
            doc = json.loads(read_bytes(path, rev, where_repo))
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise UserError(f"{where}: not valid JSON ({cut(str(exc), 100) or 'nested too deep'})") from None
        if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
            raise UserError(f"{where}: expected a JSON object of {{run: {{metric: value}}}}, got "
                            f"{type(doc).__name__ if not isinstance(doc, dict) else 'an entry that is not an object'}")
        for variant, values in doc.items():
            for metric, value in values.items():
                if isinstance(value, (int, float)) or value is None:
                    rows.append({"file": name, "variant": variant, "metric": metric,
                                 "value": float("nan") if value is None else float(value)})
    return pd.DataFrame(rows, columns=["file", "variant", "metric", "value"])


def compare(rev_a: str, rev_b: str, repo: str | None = None, study_a: str | None = None,
            study_b: str | None = None) -> pd.DataFrame:
    """Metrics of two revisions side by side: file, variant, metric, <rev_a>, <rev_b>, diff (b - a);
    "workspace" for either is the files as they are now. `study_a` / `study_b`: the study each side
    reads (None: the default study), so two studies compare at one revision or at two; a side is named
    `study:rev` where they differ."""
    a, b = metrics(rev_a, repo, study_a), metrics(rev_b, repo, study_b)
    keys = ["file", "variant", "metric"]
    both = a.merge(b, on=keys, how="outer", suffixes=("_a", "_b")).sort_values(keys, kind="stable")
    both["diff"] = both["value_b"] - both["value_a"]
    names = [rev_a, rev_b]
    if study_a != study_b:
        names = [f"{s or 'default'}:{r}" for s, r in ((study_a, rev_a), (study_b, rev_b))]
    names = tuple(names) if names[0] != names[1] else (f"{names[0]} (a)", f"{names[1]} (b)")
    return both.rename(columns={"value_a": names[0], "value_b": names[1]}).reset_index(drop=True)


def sync_mtimes(stage_outputs: list[list[str]], root: Path = Path(".")) -> int:
    """Give outputs increasing modification times in DAG order, so that each is newer than its inputs.

    `dvc pull`/`dvc checkout` write files in no particular order, and Snakemake would then see outputs
    older than inputs and want to rerun them. `stage_outputs` lists each stage's outputs, upstream
    stages first. Returns the number of files touched.
    """
    import time

    # Start now, so that outputs are newer than every input a clone or checkout just wrote (code and
    # params included), and step 10 ms per stage: the last stage ends a fraction of a second ahead.
    base = time.time()
    touched = 0
    for i, outs in enumerate(stage_outputs):
        stamp = base + 0.01 * (i + 1)
        for out in outs:
            p = root / out
            files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else []
            for f in files + ([p] if p.is_dir() else []):
                os.utime(f, (stamp, stamp))
                touched += 1
    return touched


def sync_stamps(cfg, params_path, root: Path = Path(".")) -> int:
    """Record, as each stage's params stamp, the params dvc.lock says its pulled outputs were made with
    (dated before the outputs `sync_mtimes` then touches), so that Snakemake reruns a stage whose params
    differ from those. Returns the number of stages stamped (0 without a dvc.lock)."""
    import time

    import yaml

    from nas import dag

    lock = root / "dvc.lock"
    if not lock.is_file():
        return 0
    raw = yaml.safe_load(Path(params_path).read_text()) or {}
    return dag.stamp_from_lock(cfg, raw, yaml.safe_load(lock.read_text()) or {}, time.time() - 1.0)


def stage_outputs(cfg) -> list[list[str]]:
    """Each DVC stage's outputs (outs, metrics, plots), foreach/matrix stages expanded, upstream first."""
    import itertools

    from nas import dag

    result = []
    for stage in dag.stages(cfg, code=False).values():
        body = stage.get("do", stage)
        if "matrix" in stage:
            names = list(stage["matrix"])
            items = [dict(zip(names, combo)) for combo in itertools.product(*stage["matrix"].values())]
        else:
            items = [{"": item} for item in stage.get("foreach", [None])]
        for item in items:
            outs = []
            for path in dag.paths(body.get("outs", []) + body.get("metrics", []) + body.get("plots", [])):
                for name, value in item.items():
                    path = path.replace("${item." + name + "}" if name else "${item}", str(value))
                outs.append(path)
            result.append(outs)
    return result
