"""Snakemake runs the same DAG as DVC: parity with dvc.yaml, and DVC's caching semantics, on a tiny config.

Parity is checked against what Snakemake itself says it will run (`snakemake -n --forceall
--printshellcmds`: each job's rule, inputs, outputs, log and shell command) and what it recorded
after a real run (the params values in .snakemake/metadata), compared stage by stage with dvc.yaml's
stages, `foreach` and `matrix` expanded. A drift in either file fails (test_parity_catches_drift shows it does).
"""

from __future__ import annotations

import ast
import copy
import itertools
import json
import os
import re
import shutil
import sys
from base64 import urlsafe_b64encode
from pathlib import Path

import pytest
import yaml

from helpers import REPO, TINY, TINY_NB101, make_project, run, with_snakemake_files, write_params
from nas import layout as L

pytestmark = pytest.mark.e2e

PROFILE = ["--profile", "workflow/profiles/default", "--cores", "2"]


# --- helpers ----------------------------------------------------------------------------------------

def snake_project(dest: Path, params: dict) -> Path:
    """make_project, plus the Snakemake files."""
    return with_snakemake_files(make_project(dest, params))


def snakemake(project: Path, *args: str) -> str:
    proc = run(["snakemake", *PROFILE, *args], project)
    return proc.stdout + proc.stderr


def jobs(output: str) -> list[dict]:
    """The job blocks Snakemake prints (with --printshellcmds): rule, input, output, log, wildcards, shell."""
    found, job = [], None
    for line in output.splitlines():
        if m := re.fullmatch(r"(?:local)?rule (\w+):", line):
            job = {"rule": m[1], "input": [], "output": [], "log": [], "wildcards": {}, "shell": None, "reason": ""}
            found.append(job)
        elif job is not None and (m := re.fullmatch(r"    (input|output|log|wildcards): (.*)", line)):
            items = m[2].split(", ")
            job[m[1]] = dict(i.split("=", 1) for i in items) if m[1] == "wildcards" else items
        elif job is not None and line.startswith("    reason: "):
            job["reason"] = line[len("    reason: "):]
        elif job is not None and line.startswith("Shell command: "):
            job["shell"] = line[len("Shell command: "):]
    return found


def planned(project: Path, *args: str) -> set[str]:
    """What a dry run would execute, as 'rule' or 'rule[wildcard values]' (the `all` target left out)."""
    out = snakemake(project, "-n", *args)
    names = set()
    for job in jobs(out):
        if job["rule"] != "all":
            w = ",".join(job["wildcards"].values())
            names.add(f"{job['rule']}[{w}]" if w else job["rule"])
    if not names:
        assert "Nothing to be done" in out, out
    return names


def dvc_stages(project: Path) -> dict[str, dict]:
    """dvc.yaml's stages with `foreach` expanded (DVC's names: stage@item), outputs including metrics and
    plots, and code directories expanded to their .py files (Snakemake lists no code directories; an
    output directory such as a run's checkpoints is an input of both as it is)."""
    doc = yaml.safe_load((project / "dvc.yaml").read_text())

    def expand_deps(deps):
        out = []
        for d in deps:
            if d.startswith("nas/") and (project / d).is_dir():  # code; not output directories (checkpoints)
                out += [p.relative_to(project).as_posix() for p in (project / d).rglob("*.py")
                        if "__pycache__" not in p.parts]
            else:
                out.append(d)
        return out

    def one(name, body, item=None):
        def sub(s):
            if isinstance(item, dict):  # a matrix stage
                for key, value in item.items():
                    s = s.replace("${item." + key + "}", str(value))
                return s
            return s.replace("${item}", str(item)) if item is not None else s
        outs = []
        for kind in ("outs", "metrics", "plots"):  # an entry is a path, or {path: options}
            outs += [next(iter(o)) if isinstance(o, dict) else o for o in body.get(kind, [])]
        # Landmark variants are DVC's second train-supernet stage (extra deps); one Snakemake rule
        # serves both, its inputs chosen per variant.
        rule = name.split("@")[0].removesuffix("-landmarks").replace("-", "_")
        return {"stage": name, "rule": rule, "cmd": sub(body["cmd"]),
                "deps": sorted(expand_deps(sub(d) for d in body.get("deps", []))),
                "outs": sorted(sub(o) for o in outs), "params": [sub(p) for p in body.get("params", [])],
                "item": item}

    out = {}
    for name, spec in doc["stages"].items():
        if "foreach" in spec:
            for item in spec["foreach"]:
                out[f"{name}@{item}"] = one(f"{name}@{item}", spec["do"], item)
        elif "matrix" in spec:
            keys = list(spec["matrix"])
            for combo in itertools.product(*spec["matrix"].values()):
                label = "-".join(map(str, combo))
                out[f"{name}@{label}"] = one(f"{name}@{label}", spec, dict(zip(keys, combo)))
        else:
            out[name] = one(name, spec)
    return out


def parity_problems(project: Path) -> list[str]:
    """Every difference between dvc.yaml's stages and the jobs Snakemake would run, one line each."""
    sm = [j for j in jobs(snakemake(project, "-n", "--forceall")) if j["rule"] != "all"]
    problems = []
    unmatched = list(sm)
    for name, st in dvc_stages(project).items():
        same_rule = [j for j in unmatched if j["rule"] == st["rule"]]
        match = [j for j in same_rule if sorted(j["output"]) == st["outs"]]
        if len(match) != 1:
            problems.append(f"{name}: no Snakemake job of rule {st['rule']} with outputs {st['outs']} "
                            f"(rule's jobs have {[sorted(j['output']) for j in same_rule]})")
            continue
        job = match[0]
        unmatched.remove(job)
        m = re.fullmatch(r"(.*) > (\S+) 2>&1", job["shell"] or "")
        if not m:
            problems.append(f"{name}: shell command {job['shell']!r} does not send its output to the log")
            continue
        if m[1] != st["cmd"]:
            problems.append(f"{name}: command {m[1]!r} != dvc.yaml's {st['cmd']!r}")
        if job["log"] != [m[2]]:
            problems.append(f"{name}: logs to {m[2]}, but the rule's log is {job['log']}")
        stamp = L.params_stamp(name.split("@")[0], st["item"]["variant"] if isinstance(st["item"], dict) else None)
        stamps = [i for i in job["input"] if i.startswith(f"{L.STAMPS.as_posix()}/")]
        if stamps != [stamp.as_posix()]:
            problems.append(f"{name}: params stamp inputs {stamps} != [{stamp.as_posix()}]")
        inputs = sorted(i for i in job["input"] if i not in stamps)
        if inputs != st["deps"]:
            problems.append(f"{name}: inputs {inputs} != dvc.yaml's deps {st['deps']}")
    for j in unmatched:
        problems.append(f"Snakemake job {j['rule']} {j['wildcards']} (outputs {j['output']}) has no dvc.yaml stage")
    return problems


def recorded_params(project: Path, path: str) -> list:
    """The params values Snakemake recorded for the job that wrote `path`."""
    rec = project / ".snakemake" / "metadata" / urlsafe_b64encode(path.encode()).decode()
    return [ast.literal_eval(p) for p in json.loads(rec.read_text())["params"]]


def lookup(params: dict, key: str):
    node = params
    for part in key.split("."):
        node = node[part]
    return node


# --- parity: one DAG, two engines --------------------------------------------------------------------

def _two_variants_three_shards():
    p = copy.deepcopy(TINY)
    p["supernet"]["variants"] = {"baseline": {}, "bn-tracked": {"bn_track": True, "bn_affine": True},
                                 "lm": {"landmarks": 2}}
    p["supernet"]["seeds"] = [0, 3, 7]
    p["standalone"]["shards"] = 3
    p["eval"] = {**p["eval"], "shards": 2}  # eval-supernet in two jobs a run, and merge-scores
    return p


def _darts_beside_spos():
    p = copy.deepcopy(TINY)
    p["supernet"]["variants"] = {"baseline": {}, "darts": {"method": "darts", "darts": {"fix_alpha": True}}}
    p["select"] = {"methods": ["supernet", "magnitude", "perturbation"], "magnitude": {"allow_none": False},
                   "perturbation": {"tune_epochs": 1}}
    return p


def _table_source():
    p = copy.deepcopy(TINY)
    p["standalone"].update(source="table", table={"path": "truth.csv"})
    return p


def _benchmark_source():
    p = copy.deepcopy(TINY)
    p["data"] = {"dataset": "cifar10", "root": "cifar"}
    p["sample"] = {"archs": "all"}
    p["space"] = {**p["space"], "isomorphism": "benchmark"}
    p["standalone"] = {"source": "benchmark", "benchmark": {"format": "nats_tss", "path": "NATS", "shards": 2}}
    return p


def _sharing():
    from helpers import TINY_SHARING

    return copy.deepcopy(TINY_SHARING)


@pytest.mark.parametrize("params", [
    pytest.param(lambda: copy.deepcopy(TINY), id="tiny"),
    pytest.param(_sharing, id="weight-sharing"),
    pytest.param(_two_variants_three_shards, id="two-variants-three-shards"),
    pytest.param(_table_source, id="table-source"),
    pytest.param(_benchmark_source, id="benchmark-source"),
    pytest.param(_darts_beside_spos, id="darts-beside-spos"),
    pytest.param(lambda: yaml.safe_load((REPO / "params.yaml").read_text()), id="committed-params"),
])
def test_snakefile_matches_dvc_yaml(tmp_path, params):
    project = snake_project(tmp_path, params())
    (project / "truth.csv").write_text("arch,accuracy\n")  # the table-source dep must exist for a dry run
    (project / "NATS").mkdir()  # and the benchmark folder, and CIFAR-10's batches
    (project / "cifar").mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (project / "cifar" / name).write_bytes(b"")
    assert parity_problems(project) == []


def test_parity_catches_drift(tmp_path):
    project = snake_project(tmp_path, TINY)
    rules = project / "workflow/rules/analysis.smk"
    good = rules.read_text()
    rules.write_text(good.replace('"nas select > {log} 2>&1"', '"nas select --fast > {log} 2>&1"')
                     .replace('        stamp("report"),\n        stage_deps("report"),',
                              '        stamp("report"),\n        stage_deps("select"),'))
    problems = parity_problems(project)
    assert any(p.startswith("select: command 'nas select --fast'") for p in problems), problems
    assert any(p.startswith("report: inputs") for p in problems), problems
    rules.write_text(good)
    dvc = project / "dvc.yaml"
    # correlate's (the first stage listing nas/metrics.py) only
    dvc.write_text(dvc.read_text().replace("    - nas/metrics.py\n", "    - nas/metrics.py\n    - nas/io.py\n", 1))
    problems = parity_problems(project)
    assert problems and all(p.startswith("correlate: inputs") for p in problems), problems


# --- a real run, and caching the way DVC caches -------------------------------------------------------

@pytest.fixture(scope="module")
def study(tmp_path_factory):
    project = snake_project(tmp_path_factory.mktemp("snakestudy"), TINY)
    out = snakemake(project)
    return project, out


def test_dvc_and_snakemake_write_the_same_bytes(study, dvc_tiny):
    """The same params give byte-identical Parquet artifacts, metrics JSON, plot CSVs and report page
    under both engines: two runs from scratch, so this is also the test that a run's tracked outputs
    hold no wall-clock time (which would change dvc.lock between identical runs). TINY is at C=4, where
    one and two threads give different super-nets, so this holds only because both train on `threads`."""
    project, _ = study
    _, _, other = dvc_tiny
    files = sorted(p.relative_to(project) for pattern in ("**/*.parquet", "metrics/*.json", "plots/**/*.csv",
                                                          "results/report/index.html")
                   for p in project.glob(pattern) if ".progress" not in p.parts)
    assert Path("results/report/index.html") in files
    assert len(files) >= 20
    different = [str(rel) for rel in files if (other / rel).read_bytes() != (project / rel).read_bytes()]
    assert different == []


def test_darts_pt_study_under_snakemake_writes_the_bytes_dvc_writes(tmp_path, dvc_darts):
    """The tiny DARTS-PT study's own stages under Snakemake (the DARTS super-net trained with alpha on
    the valid split, its scores, the perturbation selection and its decision log): what they write,
    and everything downstream, is byte for byte what `dvc repro` wrote."""
    reference, _ = dvc_darts
    assert_snakemake_writes_the_bytes_dvc_wrote(reference, tmp_path / "darts", [L.Run("darts", 0)], [],
                                                {"train_supernet", "eval_supernet", "perturb", "select", "report"})


def test_nb101_study_runs_under_dvc_and_its_supernets_under_snakemake_write_the_same_bytes(tmp_path):
    """The tiny NAS-Bench-101 study (helpers.TINY_NB101: the operation on the vertex, the three
    dynamic-channel rules side by side) from scratch under `dvc repro`, its pool keyed by the benchmark's
    module hash; then its three super-nets, and all that follows, again under Snakemake: the same bytes."""
    import pandas as pd

    from nas.spaces import nb101

    reference = make_project(tmp_path / "dvc", TINY_NB101)
    run(["dvc", "repro"], reference)
    archs = pd.read_parquet(reference / L.ARCHS)
    assert len(archs) == TINY_NB101["sample"]["archs"]
    assert list(archs["canonical"]) == [nb101.module_hash(nb101.parse(a)) for a in archs["arch"]]
    assert_snakemake_writes_the_bytes_dvc_wrote(
        reference, tmp_path / "nb101", [L.Run(v, 0) for v in TINY_NB101["supernet"]["variants"]], [],
        {"train_supernet", "eval_supernet", "report"})


def assert_snakemake_writes_the_bytes_dvc_wrote(reference: Path, project: Path, runs: list, tables: list[Path],
                                                rules: set[str]):
    """In a copy of the study `dvc repro` finished in `reference`, made current for Snakemake (`nas sync`,
    as after a pull), delete the `runs`' folders and the `tables` and ask for them: Snakemake runs (at
    least) `rules` to write them again and what follows, and every Parquet artifact and metrics JSON is
    byte for byte what DVC wrote. (From scratch under both engines:
    test_dvc_and_snakemake_write_the_same_bytes, the tiny study.)"""
    shutil.copytree(reference, project, symlinks=True)
    with_snakemake_files(project)
    run(["nas", "sync"], project)
    assert planned(project) == set()
    for r in runs:
        shutil.rmtree(project / r.dir)
    for table in tables:
        (project / table).unlink()
    shutil.rmtree(project / "results/.progress", ignore_errors=True)
    # Snakemake leaves a missing file alone while what it feeds is current: name the files (a run's by
    # its weights) beside the default target, and what reads them reruns too.
    wanted = [str(r.weights) for r in runs] + [str(t) for t in tables]
    ran = {j["rule"] for j in jobs(snakemake(project, "all", *wanted))}
    assert rules <= ran, ran
    assert all((project / r.dir / "scores.parquet").is_file() for r in runs)
    assert all((project / t).is_file() for t in tables)
    files = sorted(p.relative_to(project) for pattern in ("**/*.parquet", "metrics/*.json")
                   for p in project.glob(pattern) if ".progress" not in p.parts)
    assert len(files) >= 20
    different = [str(rel) for rel in files if (reference / rel).read_bytes() != (project / rel).read_bytes()]
    assert different == []


def test_weight_sharing_study_under_snakemake_writes_the_bytes_dvc_writes(tmp_path, dvc_sharing):
    """The tiny weight-sharing study's own stages under Snakemake (a super-net of 4 groups with matched
    compute and its dense step and epoch scores, one of prefix sharing, the stability and interference
    tables): what they write, and everything downstream, is byte for byte what `dvc repro` wrote."""
    reference, _ = dvc_sharing
    assert_snakemake_writes_the_bytes_dvc_wrote(
        reference, tmp_path / "sharing", [L.Run("g4", 0), L.Run("k1", 1)], [L.STABILITY, L.INTERFERENCE],
        {"train_supernet", "eval_supernet", "stability", "report"})


def test_params_change_after_dvc_repro_reruns_under_snakemake(dvc_tiny, tmp_path):
    """Mixing engines: outputs written by `dvc repro` carry no Snakemake provenance, so Snakemake's own
    params trigger cannot see a change; the stages' params stamps make it rerun what DVC would."""
    _, _, pristine = dvc_tiny
    project = tmp_path / "project"
    shutil.copytree(pristine, project, symlinks=True)
    with_snakemake_files(project)
    assert (project / L.params_stamp("correlate")).is_file()  # written by the stage, under DVC
    assert planned(project) == set()
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["correlate"]["sparse_threshold"] = 0.2
    write_params(project / "params.yaml", params)
    dvc_says = run(["dvc", "status"], project).stdout
    assert "correlate" in dvc_says
    assert "correlate" in planned(project)
    assert not any(r.startswith(("train_supernet", "eval_supernet", "train_standalone")) for r in planned(project))


def test_run_writes_every_dvc_output_log_and_benchmark(study):
    project, out = study
    stages = dvc_stages(project)
    for st in stages.values():
        for o in st["outs"]:
            assert (project / o).exists(), o
    assert (project / "results/report/index.html").is_file()
    ran = {j["rule"] for j in jobs(out)} - {"all"}
    assert ran == {st["rule"] for st in stages.values()}
    for rule in ran:
        assert list((project / "logs" / rule).rglob("*.log")), rule
        assert list((project / "logs/benchmarks" / rule).rglob("*.tsv")), rule
    assert "wrote results/report/index.html" in (project / "logs/report/report.log").read_text()


def test_rules_track_exactly_the_dvc_params(study):
    """Each job recorded the values of exactly the keys its dvc.yaml stage lists (so changing them reruns it)."""
    project, _ = study
    params = yaml.safe_load((project / "params.yaml").read_text())
    for name, st in dvc_stages(project).items():
        expected = {k: lookup(params, k) for k in st["params"]}
        dicts = [p for p in recorded_params(project, st["outs"][0]) if isinstance(p, dict)]
        assert dicts == [expected], name


def test_nothing_changed_runs_nothing(study):
    project, _ = study
    assert planned(project) == set()


def test_config_given_only_to_snakemake_is_refused(study):
    """`nas` reads params.yaml itself, so a --config override would be tracked but not used."""
    project, _ = study
    proc = run(["snakemake", *PROFILE, "-n", "--config", "seed=1"], project, check=False)
    assert proc.returncode != 0
    assert "edit params.yaml instead" in proc.stdout + proc.stderr


def test_param_change_reruns_stage_and_downstream(study):
    project, _ = study
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["correlate"]["topk"] = [1, 2]
    write_params(project / "params.yaml", params)
    # select reads neither correlate's keys nor its output, so (as in DVC) it stays cached.
    assert planned(project) == {"correlate", "heuristics", "report"}
    snakemake(project)
    assert planned(project) == set()
    keys = set(json.loads((project / "metrics/correlation.json").read_text())["baseline/seed-0"])
    assert "precision_at_k@2" in keys and "precision_at_k@3" not in keys


# Modules whose edits between them reach every stage (checked below), from the leaves of the import
# graph (metrics) to what nearly everything runs (io).
EDITED = ["nas/metrics.py", "nas/metrics_files.py", "nas/heuristics.py", "nas/stability.py", "nas/evaluate.py",
          "nas/selection/pool.py", "nas/truth/table.py", "nas/report/page.py", "nas/spaces/nb201.py", "nas/data.py",
          "nas/io.py"]


def _stages_listing(project: Path, code: str) -> set[str]:
    """The expanded dvc.yaml stages (DVC's names) whose deps list `code`."""
    return {name for name, st in dvc_stages(project).items() if code in st["deps"]}


def _edited(path: Path):
    """Append a comment to `path`; returns the function that undoes it, modification time included."""
    before, stat = path.read_text(), path.stat()
    path.write_text(before + "\n# a comment\n")

    def undo():
        path.write_text(before)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return undo


def test_code_deps_are_derived_and_both_engines_rerun_exactly_the_stages_that_import_an_edited_module(
        study, dvc_tiny, tmp_path):
    """No stage's code deps are written by hand (nas/codedeps.py derives them from what the stage's
    entry point imports): editing a module marks exactly the stages that import it, under `dvc status`
    and under `snakemake -n` (whose other jobs run only because their inputs are rebuilt)."""
    project, _ = study
    _, _, pristine = dvc_tiny
    dvc_project = tmp_path / "dvc"
    shutil.copytree(pristine, dvc_project, symlinks=True)
    stages = dvc_stages(project)
    # DVC names each changed dep of each stage, so one status after all the edits says for each module
    # which stages it marked; Snakemake gives the reason of a job, not each changed input: one edit a run.
    undo = [_edited(dvc_project / code) for code in EDITED]
    status = json.loads(run(["dvc", "status", "--json"], dvc_project).stdout or "{}")
    for code in EDITED:
        marked = {name for name, entries in status.items()
                  if any(code in e.get("changed deps", {}) for e in entries if isinstance(e, dict))}
        assert marked == _stages_listing(project, code), f"dvc status after editing {code}"
    for undo_dvc in undo:
        undo_dvc()
    reached = set()
    for code in EDITED:
        expected = _stages_listing(project, code)
        assert expected, f"no stage imports {code}"
        reached |= expected
        undo_snake = _edited(project / code)
        planned_jobs = jobs(snakemake(project, "-n"))
        by_code = {(j["rule"], tuple(j["wildcards"].values())) for j in planned_jobs if code in j["reason"]}
        wanted = {(stages[n]["rule"], tuple(map(str, stages[n]["item"].values())) if isinstance(
            stages[n]["item"], dict) else ((str(stages[n]["item"]),) if stages[n]["item"] is not None else ()))
            for n in expected}
        # Snakemake names the edited file as the reason of the jobs it reruns for it; a job whose inputs
        # another job rebuilds too is given that reason instead: so the named ones are importers, and
        # every importer is planned.
        assert by_code and by_code <= wanted, f"snakemake -n after editing {code}"
        assert wanted <= {(j["rule"], tuple(j["wildcards"].values())) for j in planned_jobs}, code
        undo_snake()
    assert reached == set(stages), f"stages no edit reached: {sorted(set(stages) - reached)}"
    assert planned(project) == set()
    assert not json.loads(run(["dvc", "status", "--json"], dvc_project).stdout or "{}")


def test_new_variant_runs_only_its_branch_and_the_aggregates(study):
    project, _ = study
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["supernet"]["variants"]["bn-tracked"] = {"bn_track": True, "bn_affine": True}
    write_params(project / "params.yaml", params)
    run(["nas", "dag"], project)
    assert planned(project) == {"train_supernet[bn-tracked,0]", "train_supernet[bn-tracked,1]",
                                "eval_supernet[bn-tracked,0]", "eval_supernet[bn-tracked,1]",
                                "correlate", "stability", "pick", "train_picks", "select", "heuristics", "report"}
    snakemake(project)
    assert planned(project) == set()
    assert "bn-tracked/seed-1" in (project / "plots/scatter.csv").read_text()
    assert parity_problems(project) == []


# --- the two engines never run at once in one project (nas/engines.py) ----------------------------------

DVC_HOLDS = """
import pathlib, time, zc.lockfile
pathlib.Path(".dvc/tmp").mkdir(exist_ok=True)
lock = zc.lockfile.LockFile(".dvc/tmp/lock")  # as dvc holds it through `dvc repro`
print("locked", flush=True)
time.sleep(300)
"""
SNAKEMAKE_HOLDS = """
import time
from nas import engines
engines.claim_for_snakemake(argv=["snakemake", "--profile", "workflow/profiles/default"])  # as the Snakefile does
print("claimed", flush=True)
time.sleep(300)
"""


def engines_project(dest: Path) -> Path:
    """The least project both engines start in: DVC's config, the Snakefile and rules, the code, the
    tiny params and its dvc.yaml, a git repository (make_project's whole copy and `nas dag` take
    seconds more)."""
    import subprocess

    from nas import config, dag

    for rel in (".dvc/config", ".dvc/.gitignore", "Snakefile"):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dest / rel)
    for folder in ("workflow", "nas"):
        shutil.copytree(REPO / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    write_params(dest / "params.yaml", config.to_dict(config.from_dict(TINY)))
    (dest / "dvc.yaml").write_text(dag.checked_dvc_yaml(config.load(dest / "params.yaml"), dest / "params.yaml"))
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def test_dvc_and_snakemake_refuse_to_run_at_once(tmp_path):
    import subprocess

    from helpers import env

    project = engines_project(tmp_path)
    this_code = {**env(), "PYTHONPATH": str(REPO)}  # the engines' processes import this checkout's nas

    def holding(script):
        proc = subprocess.Popen([sys.executable, "-c", script], cwd=project, env=this_code, stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout.readline().strip() in ("locked", "claimed")
        return proc

    # dvc runs: Snakemake refuses before it writes anything (no params stamps), and leaves no entry
    holder = holding(DVC_HOLDS)
    try:
        proc = subprocess.run(["snakemake", *PROFILE], cwd=project, env=this_code, capture_output=True, text=True)
    finally:
        holder.kill()
        holder.wait()
    out = proc.stdout + proc.stderr
    python = Path(sys.executable).name
    assert proc.returncode != 0 and f"dvc runs in this project (pid {holder.pid}: {python} -c" in out, out[-3000:]
    assert not (project / ".nas/params").exists() and not (project / "data/prepared").exists()
    assert "snakemake" not in (project / ".dvc/tmp/rwlock").read_text()

    # Snakemake runs: dvc refuses before it deletes or writes anything, naming it and the stale-lock fix
    holder = holding(SNAKEMAKE_HOLDS)
    try:
        proc = subprocess.run(["dvc", "repro"], cwd=project, env=this_code, capture_output=True, text=True)
    finally:
        holder.kill()
        holder.wait()
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "is busy, it is being blocked by:" in out, out[-3000:]
    assert f"(PID {holder.pid}): snakemake --profile workflow/profiles/default [nas: Snakemake runs this project" in out
    assert "you can manually remove '" in out and "/.dvc/tmp/rwlock' and try again" in out
    assert not (project / "data/prepared").exists() and not (project / "dvc.lock").exists()

    # the killed Snakemake's entry is stale: dvc drops it itself and goes on
    proc = subprocess.run(["dvc", "repro", "--dry", "prepare"], cwd=project, env=this_code, capture_output=True, text=True)
    assert proc.returncode == 0 and "had been killed. Auto removed it from the lock file" in proc.stdout + proc.stderr
