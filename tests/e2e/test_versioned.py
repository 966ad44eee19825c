"""Versioned artifacts: push to the default remote, clone afresh, pull, reanalyse without retraining;
experiments and revision comparisons through real DVC and git."""

from __future__ import annotations

import json
import re
import shutil

import pandas as pd
import pytest
import yaml

from helpers import run, write_params

pytestmark = pytest.mark.e2e

GIT = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]


@pytest.fixture(scope="module")
def pushed(tmp_path_factory, dvc_tiny):
    """The tiny study as `dvc repro` left it (a copy of the session's run), committed with dvc.lock and
    metrics, and pushed to the default remote (a directory beside the repository)."""
    root = tmp_path_factory.mktemp("versioned")
    project = root / "origin"
    shutil.copytree(dvc_tiny[2], project, symlinks=True)
    run(GIT + ["add", "-A"], project)
    run(GIT + ["commit", "-qm", "study v1"], project)
    run(GIT + ["tag", "v1"], project)
    run(["dvc", "push"], project)
    assert (root / "nas-study-dvc-remote").is_dir()  # the documented default: beside the repository
    return root, project


def test_push_clone_pull_is_byte_identical_and_needs_no_retraining(pushed):
    root, project = pushed
    clone = root / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], root)
    # The result tables are git files: a clone re-opens them before (or without) any pull; weights are not.
    tables = sorted(p.relative_to(project) for p in (project / "results").glob("**/*.parquet")
                    if ".progress" not in str(p))
    assert all((clone / rel).read_bytes() == (project / rel).read_bytes() for rel in tables)
    assert not (clone / "results/supernet/baseline/seed-0/weights.pt").exists()
    assert not (clone / "data/prepared/train.parquet").exists()
    run(["dvc", "pull"], clone)
    status = run(["dvc", "status"], clone).stdout
    assert "up to date" in status, status
    parquet = sorted(p.relative_to(project) for p in project.glob("**/*.parquet") if ".progress" not in str(p))
    assert len(parquet) >= 10
    for rel in parquet:
        assert (clone / rel).read_bytes() == (project / rel).read_bytes(), rel
    shutil.rmtree(clone / "results" / "report")
    out = run(["nas", "report"], clone)  # reanalysis from pulled artifacts, nothing retrained
    assert (clone / "results/report/index.html").is_file() and "wrote" in out.stdout
    assert not (clone / "results/.progress").exists()


def test_load_at_revision_without_checkout(pushed, monkeypatch):
    import nas

    root, project = pushed
    monkeypatch.chdir(project)
    at_tag = nas.load("scores", rev="v1", variant="baseline")
    now = pd.read_parquet(project / "results/supernet/baseline/seed-0/scores.parquet")
    pd.testing.assert_frame_equal(at_tag, now)
    other_seed = nas.load("scores", rev="v1", variant="baseline", seed=1)
    assert not other_seed.equals(at_tag)
    assert list(nas.load("correlation", rev="v1").columns)[:3] == ["variant", "seed", "metric"]
    assert list(nas.load("heuristics", rev="v1").variant.unique()) == ["baseline"]


def test_load_errors_are_clear(pushed, monkeypatch):
    import nas
    from nas.io import UserError

    root, project = pushed
    monkeypatch.chdir(project)
    with pytest.raises(UserError, match="unknown; expected one of"):
        nas.load("nope")
    with pytest.raises(UserError, match="needs a variant"):
        nas.load("scores", rev="v1")
    with pytest.raises(UserError, match=r"results/supernet/ghost/seed-0/scores.parquet at revision 'v1'"):
        nas.load("scores", rev="v1", variant="ghost")
    with pytest.raises(UserError, match="revision 'no-such-rev'"):
        nas.load("correlation", rev="no-such-rev")


def test_experiment_compare_and_metrics_diff(pushed):
    root, project = pushed
    exp = run(["dvc", "exp", "run", "-n", "more-epochs", "-S", "supernet.epochs=3"], project)
    ran = set(re.findall(r"Running stage '([^']+)'", exp.stdout))
    assert {"train-supernet@baseline-0", "train-supernet@baseline-1"} <= ran
    assert not {s for s in ran if s.startswith(("train-standalone", "merge", "prepare", "sample"))}, ran
    # The headline is the one file DVC lists as metrics (the detailed files are for `nas compare`,
    # below); at this size its few numbers may not move with one more epoch, so --all lists them anyway.
    diff = run(["dvc", "metrics", "diff", "v1", "more-epochs", "--all", "--json"], project).stdout
    listed = json.loads(diff)
    assert set(listed) == {"metrics/headline.json"}, diff
    assert {"baseline.kendall_tau", "baseline.regret", "standalone.perfect_ranker_kendall_tau"} <= set(listed["metrics/headline.json"]), diff
    plots = run(["dvc", "plots", "diff", "v1", "more-epochs", "--json"], project).stdout
    assert "supernet-training-loss" in plots
    out = run(["nas", "compare", "v1", "more-epochs", "--csv", "cmp.csv"], project)
    table = pd.read_csv(project / "cmp.csv")
    assert list(table.columns) == ["file", "variant", "metric", "v1", "more-epochs", "diff"]
    assert "kendall_tau" in out.stdout and len(table) > 10
    assert (table["diff"].abs() > 0).any()  # the detailed metrics: one more epoch changes some of them
    same = run(["nas", "compare", "v1", "v1"], project).stdout
    assert "kendall_tau" in same


def test_compare_bad_revision_is_one_line(pushed):
    root, project = pushed
    proc = run(["nas", "compare", "v1", "nope-rev"], project, check=False)
    assert proc.returncode == 2
    assert "nope-rev" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_unreachable_or_empty_remote(pushed, tmp_path):
    root, project = pushed
    clone = root / "clone-empty"
    run(["git", "clone", "-q", str(project), str(clone)], root)
    run(["dvc", "remote", "modify", "--local", "local", "url", str(tmp_path / "empty-remote")], clone)
    (tmp_path / "empty-remote").mkdir()
    proc = run(["dvc", "pull"], clone, check=False)
    assert proc.returncode != 0 and "missing" in (proc.stdout + proc.stderr).lower()


def test_pulled_clone_is_current_for_snakemake_after_sync(pushed):
    """`dvc pull` gives files fresh, unordered mtimes; `nas sync` orders them so Snakemake has nothing to do."""
    import os

    root, project = pushed
    clone = root / "clone-sync"
    run(["git", "clone", "-q", str(project), str(clone)], root)
    # The result tables are git files, as committed at v1 (an experiment run by another test of this
    # module may have left the project's workspace at other values since).
    committed = run(["git", "ls-tree", "-r", "--name-only", "v1", "results"], project).stdout.split()
    tables = [rel for rel in committed if rel.endswith(".parquet")]
    assert tables and all((clone / rel).is_file() for rel in tables)
    assert not (clone / "results/supernet/baseline/seed-0/weights.pt").exists()
    assert not (clone / "data/prepared/train.parquet").exists()
    run(["dvc", "pull"], clone)
    # Make the disorder certain rather than likely: an input newer than everything.
    os.utime(clone / "data/prepared/train.parquet")
    before = run(["snakemake", "-n", "--cores", "1"], clone).stdout
    assert "rule sample:" in before and "rule prepare:" not in before  # downstream of train.parquet reruns
    out = run(["nas", "sync"], clone).stdout
    assert "modification times" in out
    after = run(["snakemake", "-n", "--cores", "1"], clone)
    assert "Nothing to be done" in after.stdout + after.stderr, after.stdout
    # and a params change after the pull reruns its stage, though Snakemake never wrote those outputs
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["correlate"]["sparse_threshold"] = 0.2
    write_params(clone / "params.yaml", params)
    changed = run(["snakemake", "-n", "--cores", "1"], clone).stdout
    assert "rule correlate:" in changed and "rule train_supernet:" not in changed, changed
