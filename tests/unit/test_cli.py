"""nas.cli: stages run in-process on a tiny study; every user mistake is one line on stderr and exit 2."""

from __future__ import annotations

import contextlib
import io as _io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from nas import config
from nas import io as nas_io
from nas.cli import main
from nas.spaces import nb201

from helpers import REPO  # noqa: E402
NAS = Path(sys.executable).parent / "nas"  # the installed entry point of this environment
if not NAS.is_file():
    NAS = Path(shutil.which("nas") or NAS)

TINY = {
    "device": "cpu",
    "threads": 1,
    "data": {"num_samples": 400, "test_fraction": 0.2},
    "space": {"channels": 2},
    "sample": {"archs": 4},
    "supernet": {"epochs": 1, "seeds": [0], "lr": 0.05, "sampling": "uniform", "variants": {"baseline": {}}},
    "standalone": {"shards": 2, "seeds": [0, 1], "epochs": 1},
    "correlate": {"topk": [1, 2], "bootstrap": 20},
    "eval": {"recalibrate_batches": 2, "batch_size": 64},  # 160 training samples: 2 x 64 fit
}


def write_params(path: Path, **sections) -> None:
    """TINY with some sections' keys replaced, written as a full params.yaml (every key spelled out)."""
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in TINY.items()}
    for name, values in sections.items():
        if isinstance(values, dict):
            raw.setdefault(name, {}).update(values)
        else:
            raw[name] = values
    path.write_text(yaml.safe_dump(config.to_dict(config.from_dict(raw)), sort_keys=False))


def run(*argv) -> tuple[int, str, str]:
    out, err = _io.StringIO(), _io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(list(argv))
        except SystemExit as exc:  # argparse errors
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


def fails(*argv, command: str | None = None) -> str:
    """Run a stage that must fail as a user error: exit 2, one line on stderr, no traceback, nothing on
    stdout, no temporary files left behind. Returns the message after the 'nas CMD: error: ' prefix."""
    rc, out, err = run(*argv)
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    assert "wrote" not in out
    assert_no_tmp(Path.cwd())
    cmd = command or next(a for a in argv if not a.startswith("-") and not a.endswith(".yaml"))
    prefix = f"nas {cmd}: error: "
    assert lines[0].startswith(prefix), lines[0]
    return lines[0][len(prefix):]


def assert_no_tmp(root: Path) -> None:
    leftovers = [p for p in root.rglob(".*.tmp")]
    assert not leftovers, leftovers


@pytest.fixture(scope="module")
def study(tmp_path_factory, one_thread):
    """A tiny study after prepare, sample and train-supernet (run once; tests work on copies)."""
    root = tmp_path_factory.mktemp("study")
    write_params(root / "params.yaml")
    outputs = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for stage in ("prepare", "sample", "train-supernet"):
            rc, out, err = run(stage)
            assert rc == 0, err
            outputs[stage] = out
    return root, outputs


@pytest.fixture
def project(study, tmp_path, monkeypatch):
    """A private copy of the tiny study, as the working directory."""
    root = tmp_path / "project"
    shutil.copytree(study[0], root)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def bare(tmp_path, monkeypatch):
    """An empty working directory with the tiny params.yaml only."""
    write_params(tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- stages that work ---------------------------------------------------------------------------------

def test_prepare_and_sample(study):
    root, outputs = study
    assert outputs["prepare"].splitlines() == [
        "wrote data/prepared/train.parquet", "wrote data/prepared/valid.parquet", "wrote data/prepared/test.parquet"]
    assert outputs["sample"].splitlines() == ["wrote results/archs.parquet"]
    archs = pd.read_parquet(root / "results/archs.parquet")
    assert list(archs.columns) == ["arch_id", "arch", "canonical", "params", "flops"]
    assert len(archs) == 4
    assert archs["arch_id"].tolist() == [0, 1, 2, 3]
    assert str(archs["params"].dtype) == str(archs["flops"].dtype) == "int64"
    assert archs["canonical"].nunique() == 4
    meta = nas_io.read_parquet_metadata(root / "data/prepared/train.parquet")
    for row in archs.itertuples():
        arch = nb201.parse(row.arch)
        assert row.canonical == nb201.canonical(arch)
        assert (row.params, row.flops) == nb201.count_params_flops(arch, 2, 1, tuple(meta["shape"]),
                                                                   meta["num_classes"])
    assert [nb201.format(a) for a in nb201.sample(4, 0)] == archs["arch"].tolist()  # seed 0
    assert nas_io.read_parquet_metadata(root / "results/archs.parquet") == {"space": "nb201"}
    assert_no_tmp(root)


def test_sample_is_byte_identical_on_rerun(project):
    before = (project / "results/archs.parquet").read_bytes()
    assert run("sample")[0] == 0
    assert (project / "results/archs.parquet").read_bytes() == before


def test_dag_check_passes_on_the_committed_repo():
    # Parity between the committed params.yaml and dvc.yaml, through the installed entry point.
    proc = subprocess.run([str(NAS), "dag", "--check"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "dvc.yaml is up to date"


def test_dag_check_fails_when_params_change(tmp_path, monkeypatch):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    monkeypatch.chdir(tmp_path)
    assert run("dag", "--check")[0] == 0
    raw = yaml.safe_load((tmp_path / "params.yaml").read_text())
    raw["supernet"]["variants"]["wide"] = {"channels": 16}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    assert fails("dag", "--check") == \
        "dvc.yaml is out of date with params.yaml or with the imports of the stages' code; run `nas dag`"
    # `nas dag` brings it up to date, with the new variant's stages
    rc, out, _ = run("dag")
    assert rc == 0 and out.strip() == "wrote dvc.yaml"
    assert run("dag", "--check")[0] == 0
    dvc = yaml.safe_load((tmp_path / "dvc.yaml").read_text())
    matrix = dvc["stages"]["train-supernet"]["matrix"]
    assert matrix["variant"][0] == "baseline" and matrix["variant"][-1] == "wide"
    assert matrix["seed"] == raw["supernet"]["seeds"]
    assert "results/supernet/wide/seed-0/scores.parquet" in dvc["stages"]["correlate"]["deps"]
    # a different output file is compared too
    assert fails("dag", "--check", "--output", "missing.yaml") == \
        "missing.yaml is out of date with params.yaml or with the imports of the stages' code; run `nas dag`"


# --- argument errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, expected", [
    (["bogus"], "argument command: invalid choice: 'bogus'"),
    (["sample", "--bogus"], "unrecognized arguments: --bogus"),
    (["train-standalone", "--workers", "x"], "argument --workers: invalid int value: 'x'"),
    ([], "the following arguments are required: command"),
])
def test_argparse_errors(argv, expected, bare):
    rc, out, err = run(*argv)
    assert rc == 2 and out == ""
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nas: error: ") and expected in lines[0]
    assert lines[0].endswith("(see nas --help)")


@pytest.mark.parametrize("shard, expected", [
    ("3/2", "--shard '3/2': K must be between 1 and N (N >= 1)"),
    ("0/2", "--shard '0/2': K must be between 1 and N (N >= 1)"),
    ("1/0", "--shard '1/0': K must be between 1 and N (N >= 1)"),
    ("abc", "--shard 'abc': expected K/N, e.g. 1/4"),
    ("1/2/3", "--shard '1/2/3': expected K/N, e.g. 1/4"),
    ("1/3", "--shard 1/3: N must equal standalone.shards (2)"),
])
def test_bad_shard(shard, expected, bare):
    assert fails("train-standalone", "--shard", shard) == expected
    assert not (bare / "results").exists()


def test_train_standalone_with_table_source(bare):
    write_params(bare / "params.yaml", standalone={"source": "table", "table": {"path": "t.csv"}})
    assert fails("train-standalone", "--shard", "1/2") == \
        "standalone.source is 'table': there is nothing to train (merge-standalone reads its ground truth)"


def test_unknown_variant(bare):
    write_params(bare / "params.yaml", supernet={"variants": {"baseline": {}, "wide": {"channels": 4}}})
    for stage in ("train-supernet", "eval-supernet"):
        assert fails(stage, "--variant", "nope") == \
            "--variant 'nope': not in supernet.variants; expected one of baseline, wide"


def test_unknown_seed(bare):
    for stage in ("train-supernet", "eval-supernet"):
        assert fails(stage, "--seed", "5") == "--seed 5: not in supernet.seeds; expected one of 0"  # TINY: seeds [0]


def test_landmarks_without_standalone_results(project):
    write_params(project / "params.yaml", supernet={"variants": {"baseline": {}, "lm": {"landmarks": 2}}})
    assert fails("train-supernet", "--variant", "lm") == (
        "supernet.landmarks: 2 landmarks need stand-alone results, but results/standalone.parquet does not "
        "exist (run merge-standalone first; dvc repro and snakemake order this for you)")


def test_landmark_variant_trains_and_scores_without_its_landmarks(project):
    archs = pd.read_parquet(project / "results/archs.parquet")
    pd.DataFrame({"arch": archs.arch, "accuracy": 50.0 + archs.arch_id}).to_csv(project / "truth.csv", index=False)
    write_params(project / "params.yaml", supernet={"variants": {"baseline": {}, "lm": {"landmarks": 2}}},
                 standalone={"source": "table", "table": {"path": "truth.csv"}})
    for argv in (["merge-standalone"], ["train-supernet", "--variant", "lm"], ["eval-supernet", "--variant", "lm"]):
        rc, _, err = run(*argv)
        assert rc == 0, err
    ckpt = torch.load(project / "results/supernet/lm/seed-0/weights.pt", weights_only=True)
    assert len(ckpt["landmarks"]) == 2 and ckpt["seed"] == 0
    scores = pd.read_parquet(project / "results/supernet/lm/seed-0/scores.parquet")
    assert len(scores) == len(archs) - 2 and not set(scores.arch_id) & set(ckpt["landmarks"])
    history = pd.read_parquet(project / "results/supernet/lm/seed-0/history.parquet")
    baseline = pd.read_parquet(project / "results/supernet/baseline/seed-0/history.parquet")
    assert (history.passes == 3 * baseline.passes).all()  # one path + a landmark pair per step


# --- bad params files -------------------------------------------------------------------------------------

def test_mistyped_key(bare):
    (bare / "params.yaml").write_text("supernet:\n  epoch: 3\n")
    assert fails("sample") == "supernet: unknown key 'epoch'; did you mean 'epochs'?"


def test_params_option_names_the_file(bare):
    assert fails("--params", "other.yaml", "sample") == "other.yaml: params file not found"
    (bare / "other.yaml").write_text("seed: [0\n")
    assert fails("--params", "other.yaml", "sample").startswith("other.yaml: not valid YAML (")


def test_subprocess_user_error_is_one_line(bare):
    (bare / "params.yaml").write_text("sample:\n  archs: many\n")
    proc = subprocess.run([str(NAS), "sample"], cwd=bare, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip("\n").splitlines() == [
        "nas sample: error: sample.archs: 'many' is not allowed; expected an integer >= 2 and <= 100000"]


def test_subprocess_bad_subcommand(bare):
    proc = subprocess.run([str(NAS), "trian-supernet"], cwd=bare, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip("\n").splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("nas: error: argument command: invalid choice: 'trian-supernet'")


# --- corrupt or foreign inputs ---------------------------------------------------------------------------

def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("argv", [["eval-supernet"], ["train-standalone", "--shard", "1/2"]])
def test_truncated_archs(argv, project):
    truncate(project / "results/archs.parquet")
    msg = fails(*argv)
    assert msg.startswith("results/archs.parquet: not a readable Parquet file (")
    assert not (project / "results/supernet/baseline/seed-0/scores.parquet").exists()
    assert not (project / "results/standalone").exists()


def test_missing_archs(project):
    (project / "results/archs.parquet").unlink()
    assert fails("eval-supernet") == "results/archs.parquet: file not found (run the stage that writes it first)"


def test_truncated_split(project):
    truncate(project / "data/prepared/train.parquet")
    msg = fails("sample")
    assert msg.startswith("data/prepared/train.parquet: not a readable Parquet file (")


def test_corrupted_checkpoint(project):
    (project / "results/supernet/baseline/seed-0/weights.pt").write_bytes(b"\x00garbage\xff" * 100)
    msg = fails("eval-supernet")
    assert msg.startswith("results/supernet/baseline/seed-0/weights.pt: not a readable checkpoint (")


def test_missing_checkpoint(project):
    (project / "results/supernet/baseline/seed-0/weights.pt").unlink()
    assert fails("eval-supernet") == \
        "results/supernet/baseline/seed-0/weights.pt: checkpoint not found (run the stage that writes it first)"


class _Evil:
    """Unpickling this would create a marker file: a checkpoint load must never execute it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize("content", ["dict", "tensor", "list", "shapes", "evil"])
def test_foreign_checkpoint(content, project):
    path = project / "results/supernet/baseline/seed-0/weights.pt"
    good = torch.load(path, weights_only=True)
    obj = {"dict": {"x": torch.zeros(1)},
           "tensor": torch.zeros(1),
           "list": [1, 2],
           "shapes": {**good, "channels": good["channels"] + 1},  # ours in form, wrong weights
           "evil": _Evil(project / "pwned")}[content]
    torch.save(obj, path)
    msg = fails("eval-supernet")
    assert msg.startswith("results/supernet/baseline/seed-0/weights.pt: not a ")
    if content == "evil":
        assert msg.startswith("results/supernet/baseline/seed-0/weights.pt: not a readable checkpoint (")
        assert not (project / "pwned").exists()
    else:
        assert msg.startswith("results/supernet/baseline/seed-0/weights.pt: not a super-net checkpoint of this project (")


def test_checkpoint_of_another_space(project):
    path = project / "results/supernet/baseline/seed-0/weights.pt"
    torch.save({**torch.load(path, weights_only=True), "space": "nb101"}, path)
    assert fails("eval-supernet") == \
        "results/supernet/baseline/seed-0/weights.pt: super-net of space 'nb101', but space.name is 'nb201'"


def test_eval_supernet_works(project):
    rc, out, err = run("eval-supernet")
    assert rc == 0, err
    assert out.split() == ["wrote", "results/supernet/baseline/seed-0/scores.parquet",
                           "wrote", "results/supernet/baseline/seed-0/epoch_scores.parquet"]
    scores = pd.read_parquet(project / "results/supernet/baseline/seed-0/scores.parquet")
    assert scores["arch_id"].tolist() == [0, 1, 2, 3]
    assert {"accuracy", "loss"} <= set(scores.columns)


# --- merge-standalone from a table -------------------------------------------------------------------------

def table_params(project, **standalone):
    write_params(project / "params.yaml", standalone={"source": "table", "table": {"path": "truth.csv", **standalone}})


def test_merge_table_missing_accuracy_column(project):
    table_params(project)
    archs = pd.read_parquet(project / "results/archs.parquet")
    pd.DataFrame({"arch": archs["arch"], "acc": 90.0}).to_csv(project / "truth.csv", index=False)
    assert fails("merge-standalone") == ("standalone.table: truth.csv has no column 'accuracy' (named by "
                                         "standalone.table.accuracy_column); it has arch, acc")
    table_params(project, arch_column="cell")
    assert fails("merge-standalone") == ("standalone.table: truth.csv has no column 'cell' (named by "
                                         "standalone.table.arch_column); it has arch, acc")
    assert not (project / "results/standalone.parquet").exists()


def test_merge_table_missing_archs(project):
    table_params(project)
    archs = pd.read_parquet(project / "results/archs.parquet")
    pd.DataFrame({"arch": archs["arch"][:1], "accuracy": [91.0]}).to_csv(project / "truth.csv", index=False)
    msg = fails("merge-standalone")
    missing = archs["arch"].tolist()[1:]
    assert msg == f"standalone.table: truth.csv lacks 3 sampled architecture(s), e.g. {', '.join(missing)}"
    assert not (project / "results/standalone.parquet").exists()


def test_merge_table_missing_file(project):
    table_params(project)
    assert fails("merge-standalone") == "standalone.table.path: truth.csv not found"


def test_merge_table_matches_isomorphic_strings(project):
    table_params(project)
    archs = pd.read_parquet(project / "results/archs.parquet")
    rows = []
    for i, arch in enumerate(archs["arch"]):
        # another member of the class where there is one: matched through the canonical form
        other = next((nb201.format(a) for a in nb201.enumerate_all()
                      if nb201.canonical(a) == nb201.canonical(arch) and nb201.format(a) != arch), arch)
        rows.append({"arch": other, "accuracy": 80.0 + i})
    rows.append({"arch": "not a cell", "accuracy": 1.0})  # unparseable rows are ignored
    pd.DataFrame(rows).to_csv(project / "truth.csv", index=False)
    rc, out, err = run("merge-standalone")
    assert rc == 0, err
    assert out.strip() == "wrote results/standalone.parquet"
    merged = pd.read_parquet(project / "results/standalone.parquet")
    assert merged["arch_id"].tolist() == [0, 1, 2, 3]
    assert merged["arch"].tolist() == archs["arch"].tolist()
    assert merged["test_accuracy"].tolist() == [80.0, 81.0, 82.0, 83.0]


# --- datasets -------------------------------------------------------------------------------------------

def test_prepare_cifar_root_missing(bare):
    write_params(bare / "params.yaml", data={"dataset": "cifar10", "root": "no_such_dir"})
    msg = fails("prepare")
    assert msg.startswith("data.root: no_such_dir does not exist (expected the cifar10 batch directory")
    assert not (bare / "data").exists()


def test_prepare_cifar_root_without_batches(bare):
    (bare / "cifar").mkdir()
    write_params(bare / "params.yaml", data={"dataset": "cifar10", "root": "cifar"})
    msg = fails("prepare")
    assert msg.startswith("data.root: cifar/data_batch_1 not found (expected the cifar10 python batches "
                          "(data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5, test_batch)")
    assert not (bare / "data").exists()


def test_prepare_cifar_root_is_a_file(bare):
    (bare / "cifar").write_text("not a directory")
    write_params(bare / "params.yaml", data={"dataset": "cifar10", "root": "cifar"})
    assert fails("prepare").startswith("data.root: cifar is not a directory")


def test_stage_before_prepare(bare):
    assert fails("sample") == "data/prepared/train.parquet: file not found (run `nas prepare` first)"
    assert fails("train-supernet") == \
        "data/prepared/train.parquet: file not found (run the stage that writes it first)"
    assert not (bare / "results").exists()


# --- no half-written artifacts ------------------------------------------------------------------------------

@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError])
def test_interrupted_write_leaves_old_artifact(exc, project, monkeypatch):
    target = project / "results/archs.parquet"
    before = target.read_bytes()

    def half_write(table, where, **kwargs):
        Path(where).write_bytes(b"PAR1 half")
        raise exc("killed mid-write")

    monkeypatch.setattr(nas_io.pq, "write_table", half_write)
    write_params(project / "params.yaml", sample={"archs": 3}, standalone={"shards": 1})
    if exc is KeyboardInterrupt:
        rc, out, err = run("sample")
        assert rc == 130
        assert err.strip() == "nas sample: interrupted; finished work is kept and a rerun resumes"
    else:
        with pytest.raises(RuntimeError, match="killed mid-write"):
            main(["sample"])
    assert target.read_bytes() == before  # the old artifact, untouched
    assert_no_tmp(project)
    monkeypatch.undo()
    pq.read_table(target)  # still readable


def test_check_profile_names_placeholder_and_missing_slurm(tmp_path):
    """The committed Slurm profile still holds EDIT_ME placeholders, and this check runs without Slurm
    on PATH: both problems are named, one line each, exit 2."""
    import os
    import shutil
    import subprocess
    import sys

    profile = tmp_path / "slurm"
    shutil.copytree(REPO / "workflow/profiles/slurm", profile)
    bin_dir = Path(sys.executable).parent
    proc = subprocess.run([str(bin_dir / "nas"), "check-profile", str(profile)], capture_output=True, text=True,
                          env={**os.environ, "PATH": str(bin_dir)}, cwd=tmp_path)
    assert proc.returncode == 2
    err = proc.stderr.strip()
    lines = err.splitlines()
    assert all(line.startswith("nas check-profile: error: ") for line in lines) and "Traceback" not in err
    assert any("default-resources.slurm_partition is still the placeholder 'EDIT_ME'" in line for line in lines)
    assert any("needs sbatch" in line and "not found" in line for line in lines)
    assert len(lines) == len({line for line in lines}) >= 2


def test_check_profile_local_profile_is_ok(tmp_path):
    from nas import profile
    from nas.io import UserError

    assert profile.check_profile(REPO / "workflow/profiles/default") == []
    with pytest.raises(UserError, match="profile not found"):
        profile.check_profile(tmp_path / "nope")


# --- reading the study: --params anywhere, what a stage reads and writes, artifacts from any folder ------

def test_params_after_the_subcommand(bare):
    write_params(bare / "other.yaml", sample={"archs": 3})
    assert run("sample", "--params", "other.yaml")[0] == 2  # no prepared data yet: the stage itself ran
    assert fails("sample", "--params", "missing.yaml") == "missing.yaml: params file not found"
    assert fails("--params", "missing.yaml", "sample") == "missing.yaml: params file not found"


def test_stage_help_lists_what_it_reads_writes_and_tracks(bare):
    rc, out, _ = run("eval-supernet", "--help")
    assert rc == 0
    lines = {line.split(":", 1)[0]: line.split(":", 1)[1] for line in out.splitlines()
             if line.startswith(("reads:", "writes:", "params:"))}
    assert "results/supernet/V/seed-S/weights.pt" in lines["reads"]
    assert "results/supernet/V/seed-S/epoch_scores.parquet" in lines["writes"]
    assert " seed, device, threads, eval," in lines["params"]
    assert "not a stage of this study's DAG" in run("perturb", "--help")[1]


def test_artifacts_load_from_a_subfolder_and_compare_the_workspace(project, monkeypatch):
    import nas
    from nas import artifacts

    (project / "dvc.yaml").write_text("stages: {}\n")
    (project / "notebooks").mkdir()
    monkeypatch.chdir(project / "notebooks")
    assert artifacts.project_root() == str(project)
    assert len(nas.load("archs")) == 4
    assert len(nas.load("archs", rev="workspace", repo=str(project / "notebooks"))) == 4
    (project / "metrics").mkdir(exist_ok=True)
    (project / "metrics/correlation.json").write_text('{"baseline/seed-0": {"kendall_tau": 0.5}}')
    for name in ("selection", "heuristics", "stability"):
        (project / f"metrics/{name}.json").write_text("{}")
    table = artifacts.compare("workspace", "workspace")
    assert table[["variant", "metric", "workspace (a)", "workspace (b)", "diff"]].values.tolist() == [
        ["baseline/seed-0", "kendall_tau", 0.5, 0.5, 0.0]]



def _metrics(folder, tau):
    (folder / "metrics").mkdir(parents=True, exist_ok=True)
    (folder / "metrics/correlation.json").write_text('{"baseline/seed-0": {"kendall_tau": %s}}' % tau)
    for name in ("selection", "heuristics", "stability"):
        (folder / f"metrics/{name}.json").write_text("{}")


def test_a_study_loads_and_compares_with_another_at_a_revision_from_git(project, monkeypatch):
    """A study's tables and metrics are git files of its folder: read in the workspace, at a committed
    revision once the workspace has moved on (no DVC cache involved), and compared between studies."""
    import subprocess

    import nas
    from nas import artifacts

    (project / "dvc.yaml").write_text("stages: {}\n")
    study = project / "studies/other"
    (study / "results").mkdir(parents=True)
    (study / "study.yaml").write_text("seed: 1\n")
    archs = pd.read_parquet(project / "results/archs.parquet")
    archs.head(2).to_parquet(study / "results/archs.parquet")
    _metrics(project, 0.5)
    _metrics(study, 0.25)
    (project / "notebooks").mkdir()
    monkeypatch.chdir(project / "notebooks")
    assert len(nas.load("archs", study="other")) == 2 and len(nas.load("archs")) == 4
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], git + ["commit", "-qm", "v1"], ["git", "tag", "v1"]):
        subprocess.run(cmd, cwd=project, check=True, capture_output=True)
    archs.head(3).to_parquet(study / "results/archs.parquet")
    _metrics(study, 0.75)
    assert len(nas.load("archs", study="other")) == 3
    assert len(nas.load("archs", rev="v1", study="other")) == 2
    table = artifacts.compare("workspace", "v1", study_a=None, study_b="other")
    assert table[["variant", "metric", "default:workspace", "other:v1", "diff"]].values.tolist() == [
        ["baseline/seed-0", "kendall_tau", 0.5, 0.25, -0.25]]
    rc, out, _ = run("compare", "v1", "workspace", "--study", "other")
    assert rc == 0 and "0.2500" in out and "0.7500" in out
    assert "other" not in out.splitlines()[0]  # one study: the columns are the revisions
    assert fails("compare", "v1", "workspace", "--study", "../x") == (
        "study '../x': not a study name (letters, digits, '_' or '-', at most 64)")
    assert fails("compare", "v1", "workspace", "--study", "nope").startswith(
        "studies/nope/metrics/correlation.json at revision 'v1': cannot be read")

# --- the last bad inputs and faults (issue 30): one line each, nothing hangs, nothing orphaned -------------

def test_a_params_file_nested_deep_is_one_line(bare):
    (bare / "params.yaml").write_text("seed: 0\ncorrelate:\n  topk: " + "[" * 400 + "]" * 400 + "\n")
    assert fails("dag") == ("params.yaml: line 3: values nested more than 32 levels deep; a params file is a few "
                            "levels of sections and lists")
    assert not (bare / "dvc.yaml").exists()


@pytest.mark.parametrize("section, key", [("space", "name"), ("supernet", "method"), ("select", "methods")])
def test_a_value_of_a_megabyte_is_cut_in_the_error_line(bare, section, key):
    value = "x" * 10**6
    (bare / "params.yaml").write_text(yaml.safe_dump({section: {key: [value] if key == "methods" else value}}))
    msg = fails("dag")
    assert msg.startswith(f"{section}.{key}: unknown ") and "'xxxx" in msg and len(msg) < 300, msg[:400]


def test_no_error_line_is_longer_than_a_screenful(bare, monkeypatch):
    """Whatever a message quotes, the line is cut (the last guard, behind every message's own cutting)."""
    from nas import stages

    def long(cfg):
        raise nas_io.UserError("a\nb " + "y" * 10**6)

    monkeypatch.setattr(stages, "prepare", long)
    msg = fails("prepare")
    assert msg.startswith("a b yyy") and len(msg) <= 2000


@pytest.mark.parametrize("text, expected", [
    (b"- executor\n- slurm\n", "expected a mapping of Snakemake options (executor: ..., default-resources: ...), "
                               "got a list (['executor', 'slurm'])"),
    (b"\x89PNG\r\n\x1a\n\x00\xff", "not valid YAML (not UTF-8 text: byte "),
    (b"executor: slurm\ndefault-resources: [1, 2]\n", "default-resources is a list ([1, 2]); expected a mapping"),
    (b"executor: slurm\nset-resources: {train_supernet: 4}\n", "set-resources.train_supernet is an int (4); expected "
                                                               "a mapping"),
    (b"executor: slurm\nset-resources: [3]\n", "set-resources entry 3 is not RULE:KEY=VALUE"),
    (b"executor: slurm\nset-resources: 3\n", "set-resources is an int (3); expected a mapping"),
    (b"executor: slurm\ndefault-resources: " + b"[" * 500 + b"]" * 500 + b"\n", "not valid YAML ("),
], ids=["list", "binary", "resources-list", "rule-not-mapping", "rules-list", "rules-int", "nested-500"])
def test_check_profile_of_a_malformed_config_is_one_line(tmp_path, monkeypatch, text, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "config.yaml").write_bytes(text)
    msg = fails("check-profile", "p", command="check-profile")
    assert msg.startswith("p/config.yaml: ") and expected in msg, msg


def test_check_profile_reads_resources_written_as_on_the_command_line(tmp_path, monkeypatch):
    from nas import profile

    monkeypatch.setattr(profile.shutil, "which", lambda c: None)
    (tmp_path / "config.yaml").write_text("executor: slurm\ndefault-resources: [mem_mb=100, slurm_partition=EDIT_ME]\n"
                                          "set-resources: ['train_supernet:slurm_account=EDIT_ME']\n")
    problems = profile.check_profile(tmp_path)
    assert "default-resources.slurm_partition is still the placeholder 'EDIT_ME'" in problems[0]
    assert "set-resources.train_supernet.slurm_account is still the placeholder 'EDIT_ME'" in problems[1]


@pytest.mark.parametrize("content, expected", [
    ("{not json", "metrics/correlation.json at the workspace: not valid JSON ("),
    ("[1, 2]", "metrics/correlation.json at the workspace: expected a JSON object of {run: {metric: value}}, got list"),
    ('{"baseline/seed-0": 3}', "metrics/correlation.json at the workspace: expected a JSON object of {run: {metric: "
                               "value}}, got an entry that is not an object"),
    ("[" * 100_000 + "]" * 100_000, "metrics/correlation.json at the workspace: not valid JSON ("),
], ids=["not-json", "list", "entry-not-object", "nested-100000"])
def test_compare_of_a_metrics_file_that_is_not_an_object_of_runs(bare, content, expected):
    (bare / "dvc.yaml").write_text("stages: {}\n")
    (bare / "metrics").mkdir()
    for name in ("selection", "heuristics", "stability"):
        (bare / f"metrics/{name}.json").write_text("{}")
    (bare / "metrics/correlation.json").write_text(content)
    assert fails("compare", "workspace", "workspace", "--csv", "out.csv").startswith(expected)
    assert not (bare / "out.csv").exists()


# --- outputs that cannot be written: one line, nothing half-written ------------------------------------------

def test_an_unwritable_results_folder_is_one_line(project, monkeypatch):
    """A read-only results/ (simulated where the tests run as root, whom permissions do not stop)."""
    import errno
    import os

    results = project / "results"
    before = (results / "archs.parquet").read_bytes()
    if os.geteuid() != 0:
        results.chmod(0o555)
    else:
        real = nas_io.tempfile.mkstemp

        def mkstemp(dir=None, **kwargs):
            if Path(dir).resolve() == results.resolve():
                raise PermissionError(errno.EACCES, "Permission denied", str(dir))
            return real(dir=dir, **kwargs)
        monkeypatch.setattr(nas_io.tempfile, "mkstemp", mkstemp)
    try:
        assert fails("sample") == "results/archs.parquet: cannot be written (Permission denied); nothing was written"
    finally:
        results.chmod(0o755)
    assert (results / "archs.parquet").read_bytes() == before


def test_a_full_disk_is_one_line_and_leaves_the_old_artifact(project, monkeypatch):
    import errno

    target = project / "results/archs.parquet"
    before = target.read_bytes()

    def full(table, where, **kwargs):
        Path(where).write_bytes(b"PAR1 half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(nas_io.pq, "write_table", full)
    write_params(project / "params.yaml", sample={"archs": 3}, standalone={"shards": 1})
    assert fails("sample") == "results/archs.parquet: cannot be written (No space left on device); nothing was written"
    assert target.read_bytes() == before


def test_a_checkpoint_over_the_file_size_limit_is_one_line(project):
    """A real limit (RLIMIT_FSIZE: the kernel refuses the write, for root too): torch's writer used to
    answer it with three chained tracebacks."""
    import os
    import resource

    weights = project / "results/supernet/baseline/seed-0/weights.pt"
    before = weights.read_bytes()
    proc = subprocess.run([sys.executable, "-m", "nas", "train-supernet"], cwd=project, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) // 2,) * 2))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert re.fullmatch(r"nas train-supernet: error: results/\S+: cannot be written \(File too large\); nothing was "
                        r"written", lines[-1]), lines
    assert weights.read_bytes() == before
    assert_no_tmp(project)


@pytest.mark.parametrize("argv", [["compare", "workspace", "workspace", "--csv", "/proc/missing/out.csv"],
                                  ["dag", "--output", "/proc/missing/dvc.yaml"],
                                  ["dag", "--output", "params.yaml/dvc.yaml"]])
def test_an_output_named_into_a_folder_that_cannot_be_made_is_one_line(project, argv):
    (project / "dvc.yaml").write_text("stages: {}\n")
    (project / "metrics").mkdir(exist_ok=True)
    for name in ("correlation", "selection", "heuristics", "stability"):
        (project / f"metrics/{name}.json").write_text("{}")
    output = argv[-1]
    msg = fails(*argv, command=argv[0])
    assert msg.startswith(f"{output}: cannot be written (") and msg.endswith("); nothing was written"), msg


# --- checked before any work ------------------------------------------------------------------------------------

def test_a_malformed_architecture_in_a_shard_is_refused_before_anything_trains(project):
    path = project / "results/archs.parquet"
    archs = pd.read_parquet(path)
    archs.loc[2, "arch"] = "|nor_conv_3x3~0|+|bogus~0|none~1|+|none~0|none~1|none~2|"
    nas_io.write_parquet(archs, path)
    assert fails("train-standalone", "--shard", "1/2") == (
        "arch_id 2: architecture '|nor_conv_3x3~0|+|bogus~0|none~1|+|none~0|none~1|none~2|': unknown operation "
        "'bogus'; expected one of none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3; nothing was trained")
    assert not list((project / "results").rglob(".progress/**/*.parquet"))


@pytest.mark.parametrize("accuracies, expected", [
    ([1e9, 80.0, 80.0, 80.0], "standalone.table: truth.csv row 1: accuracy 1e+09 is not a percentage in 0..100 "
                              "(column 'accuracy')"),
    ([80.0, -5.0, 80.0, 80.0], "standalone.table: truth.csv row 2: accuracy -5 is not a percentage in 0..100 "
                               "(column 'accuracy')"),
    ([80.0, 81.0, 82.0, 83.0, 70.0], "standalone.table: truth.csv rows 1 and 5 give architecture "),
])
def test_a_table_of_accuracies_out_of_range_or_in_conflict_is_refused(project, accuracies, expected):
    table_params(project)
    archs = pd.read_parquet(project / "results/archs.parquet")["arch"].tolist()
    pd.DataFrame({"arch": (archs + archs)[:len(accuracies)], "accuracy": accuracies}).to_csv(project / "truth.csv",
                                                                                            index=False)
    assert fails("merge-standalone").startswith(expected)
    assert not (project / "results/standalone.parquet").exists()


def test_a_table_may_repeat_an_architecture_with_the_same_accuracy(project):
    table_params(project)
    archs = pd.read_parquet(project / "results/archs.parquet")["arch"].tolist()
    pd.DataFrame({"arch": archs + archs[:1], "accuracy": [80.0, 81.0, 82.0, 83.0, 80.0]}).to_csv(
        project / "truth.csv", index=False)
    assert run("merge-standalone")[0] == 0


@pytest.mark.parametrize("variant, seed", [("../../..", 0), ("/etc", 0), ("a/b", 0), ("x" * 10**6, 0),
                                           ("baseline", -1), ("baseline", "0/../..")],
                         ids=["up", "absolute", "subfolder", "megabyte", "negative-seed", "seed-path"])
def test_load_never_builds_a_path_outside_the_study(project, variant, seed):
    import nas

    (project / "dvc.yaml").write_text("stages: {}\n")
    with pytest.raises(nas_io.UserError) as info:
        nas.load("scores", variant=variant, seed=seed)
    assert len(str(info.value)) < 200 and "\n" not in str(info.value)

def test_openmp_threads_wait_passively_unless_the_user_says_otherwise():
    """`import nas` (every `nas` command) sets OMP_WAIT_POLICY=PASSIVE before torch starts OpenMP, so a
    stage with `threads: 2` never spins on a core another process needs; a value set by the user stays."""
    import os
    import subprocess
    import sys

    code = "import os, nas, torch; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "PASSIVE"
    assert subprocess.run([sys.executable, "-c", code], env={**env, "OMP_WAIT_POLICY": "ACTIVE"}, capture_output=True,
                          text=True, check=True).stdout.strip() == "ACTIVE"
