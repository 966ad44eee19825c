"""nas.codedeps: a stage's code deps are the modules its entry point can run, orchestration left out."""

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
