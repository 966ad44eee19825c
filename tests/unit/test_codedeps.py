"""nas.codedeps: a stage's code deps are the modules its entry point can run, orchestration left out."""

from pathlib import Path

import pytest

from nas import codedeps, stages
from nas.codedeps import PLUMBING

SPACE_FILES = {"nas/spaces/__init__.py", "nas/spaces/base.py", "nas/spaces/nb201.py", "nas/spaces/darts.py"}


@pytest.mark.parametrize("stage", ["sample", "train_supernet", "eval_supernet", "pick", "select", "report"])
def test_a_stage_that_builds_or_samples_the_space_depends_on_the_space_modules(stage):
    # the space reaches a stage through nas.spaces.study_space; were it a method of the params object
    # (nas.config, plumbing), an edit of a space's sampling would rerun nothing
    deps = set(codedeps.code_deps(getattr(stages, stage)))
    assert SPACE_FILES <= deps, sorted(SPACE_FILES - deps)


def test_plumbing_is_never_a_dep_and_prepare_does_not_reach_the_spaces():
    plumbing_files = set(codedeps.files(m for m in PLUMBING if m in codedeps.modules()))
    for stage in ("prepare", "sample", "train_supernet", "correlate", "report"):
        assert not plumbing_files & set(codedeps.code_deps(getattr(stages, stage))), stage
    prepare = set(codedeps.code_deps(stages.prepare))
    assert "nas/data.py" in prepare and not SPACE_FILES & prepare


def test_entry_modules_follows_the_module_functions_a_stage_calls():
    # eval_supernet's scoring is in evaluate; correlate reaches metrics through its own imports
    assert "nas.evaluate" in codedeps.entry_modules("nas.stages", "eval_supernet")
    assert "nas.metrics" in codedeps.entry_modules("nas.stages", "correlate")
    assert "nas.evaluate" not in codedeps.entry_modules("nas.stages", "prepare")


def _fresh_process():
    """What a new process sees: no answers read yet."""
    codedeps._cached.cache_clear()
    codedeps._tree.cache_clear()


def test_answers_are_kept_in_the_project_for_the_package_as_it_is(tmp_path, monkeypatch):
    """The answers are kept in .nas/codedeps.json under a digest of the package's text and read back by
    the next process; a file for other text, a forged path or a broken file is ignored."""
    import json
    import shutil

    monkeypatch.chdir(tmp_path)
    _fresh_process()
    real = codedeps.code_deps(stages.correlate)
    kept = json.loads(codedeps.CACHE.read_text())
    assert kept["stages"]["nas.stages:correlate"] == real
    forged = dict(kept, stages={"nas.stages:correlate": ["nas/metrics.py"]})
    codedeps.CACHE.write_text(json.dumps(forged))
    _fresh_process()
    assert codedeps.code_deps(stages.correlate) == ["nas/metrics.py"]  # read back, not recomputed
    for bad in (dict(forged, digest="0" * 64), dict(forged, stages={"nas.stages:correlate": ["../../etc/passwd"]}),
                dict(forged, stages={"nas.stages:correlate": [["nested"]]}), "not json {"):
        codedeps.CACHE.write_text(bad if isinstance(bad, str) else json.dumps(bad))
        _fresh_process()
        assert codedeps.code_deps(stages.correlate) == real, bad

    # an edit anywhere in the package: another digest, so the answers are computed anew
    root = tmp_path / "copy"
    shutil.copytree(codedeps._root() / "nas", root / "nas", ignore=shutil.ignore_patterns("__pycache__"))
    _fresh_process()
    before = codedeps.stage_files("nas.stages", "correlate", str(root))
    assert before == real
    digest = json.loads(codedeps.CACHE.read_text())["digest"]
    stages_py = root / "nas/stages.py"
    stages_py.write_text(stages_py.read_text().replace("def correlate(", "import nas.data\n\n\ndef correlate(", 1))
    _fresh_process()
    assert "nas/data.py" in codedeps.stage_files("nas.stages", "correlate", str(root))
    assert json.loads(codedeps.CACHE.read_text())["digest"] != digest
    _fresh_process()


def test_an_unwritable_project_only_loses_the_cache(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".nas").write_text("a file where the folder would be")
    _fresh_process()
    assert "nas/metrics.py" in codedeps.code_deps(stages.correlate)
    _fresh_process()


def test_the_resume_keys_digest_changes_with_the_text_of_any_module(tmp_path):
    """codedeps.package_digest names every stage's kept progress: progress made under other code is never
    resumed (a stage rerun because its code changed starts afresh)."""
    import shutil

    from nas import codedeps

    shutil.copytree(Path(codedeps.__file__).parent, tmp_path / "nas")
    before = codedeps.package_digest(str(tmp_path))
    assert codedeps.package_digest(str(tmp_path)) == before and len(before) == 64
    edited = tmp_path / "nas" / "spaces" / "ops.py"
    edited.write_text(edited.read_text() + "\n# an edit\n")
    codedeps._cached.cache_clear()
    codedeps.modules.cache_clear()
    assert codedeps.package_digest(str(tmp_path)) != before
