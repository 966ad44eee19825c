"""nas.layout: every artifact path is spelled once, and run names and templates agree."""

from __future__ import annotations

import re

import pytest

from helpers import REPO
from nas import artifacts, layout as L
from nas.io import UserError

# A string literal that starts with one of the project's artifact folders.
PATH_LITERAL = re.compile(r"""["'](?:results|data/prepared|metrics|plots|logs)/""")


def test_no_artifact_path_is_spelled_outside_the_layout():
    sources = [p for p in (REPO / "nas").rglob("*.py") if p.name != "layout.py"]
    sources += list((REPO / "workflow/rules").glob("*.smk")) + [REPO / "Snakefile"]
    sources += list((REPO / "benchmarks").glob("*.py"))
    found = [f"{p.relative_to(REPO)}:{i}: {line.strip()}" for p in sources
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if PATH_LITERAL.search(line) and not line.lstrip().startswith("#")]
    assert found == []


def test_the_check_finds_a_literal():
    assert PATH_LITERAL.search('path = "results/archs.parquet"')
    assert not PATH_LITERAL.search('"metrics": [...]')


def test_run_names_and_files():
    run = L.Run("baseline", 3)
    assert run.name == "baseline/seed-3"
    assert run.scores.as_posix() == "results/supernet/baseline/seed-3/scores.parquet"
    assert run.timing.as_posix() == "logs/timings/baseline/seed-3.json"  # a measurement: not a tracked output
    assert L.Run.checkpoint_epoch(run.checkpoint(12)) == 12
    assert run.checkpoint(12).name == "epoch-0012.pt"
    assert run.progress("abc").parent == L.PROGRESS / "supernet"


def test_templates_are_the_same_paths_with_placeholders():
    assert L.DVC_RUN.weights.as_posix() == "results/supernet/${item.variant}/seed-${item.seed}/weights.pt"
    assert L.SNAKEMAKE_RUN.weights.as_posix() == "results/supernet/{variant}/seed-{seed}/weights.pt"
    real = L.Run("v", 1).history.as_posix()
    assert L.SNAKEMAKE_RUN.history.as_posix().format(variant="v", seed=1) == real
    assert L.shard("{k}").as_posix().format(k=2) == L.shard(2).as_posix()


def test_every_artifact_resolves():
    for name, path in L.ARTIFACTS.items():
        if callable(path):
            assert artifacts.artifact_path(name, "baseline", 0) == path(L.Run("baseline", 0)).as_posix()
            with pytest.raises(UserError, match="needs a variant"):
                artifacts.artifact_path(name)
        else:
            assert artifacts.artifact_path(name) == path.as_posix()
    with pytest.raises(UserError, match="unknown; expected one of train, valid, test, archs"):
        artifacts.artifact_path("nope")


def _outputs(params) -> dict[str, bool]:
    """{output path of a real run: whether DVC caches it} over every stage of a study's params."""
    import itertools

    from nas import config, dag

    cfg = config.load(params)
    out = {}
    for spec in dag.stages(cfg).values():
        body = spec.get("do", spec)
        items = ([dict(zip(spec["matrix"], combo)) for combo in itertools.product(*spec["matrix"].values())]
                 if "matrix" in spec else [{"": i} for i in spec.get("foreach", [None])])
        for item, entry in itertools.product(items, body.get("outs", []) + body.get("metrics", [])):
            path = entry if isinstance(entry, str) else next(iter(entry))
            for key, value in item.items():
                path = path.replace("${item." + key + "}" if key else "${item}", str(value))
            out[path] = isinstance(entry, str) or entry[next(iter(entry))] != {"cache": False}
    return out


@pytest.mark.parametrize("study", [None, "darts_pt", "weight_sharing"])
def test_git_ignores_exactly_what_dvc_caches_in_the_root_and_every_study_folder(study, monkeypatch):
    import subprocess

    folder = REPO if study is None else REPO / L.STUDIES / study
    monkeypatch.chdir(folder)
    outputs = _outputs("params.yaml")
    assert any(not cached for cached in outputs.values()) and any(outputs.values())
    prefix = "" if study is None else f"{L.STUDIES.as_posix()}/{study}/"
    names = [prefix + p for p in outputs]
    done = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=REPO, input="\n".join(names),
                          capture_output=True, text=True)
    ignored = set(done.stdout.split())
    wrong = [f"{n}: {'ignored' if n in ignored else 'not ignored'} by git, {'cached' if c else 'cache: false'} in DVC"
             for n, c in zip(names, outputs.values()) if (n in ignored) != c]
    assert not wrong, wrong
    assert [p for p, cached in outputs.items() if not cached and p.endswith(".parquet")] == \
        [p for p in outputs if L.in_git(p)]
