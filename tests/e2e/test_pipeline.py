"""End to end: the real pipeline under real DVC on a tiny config."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers import env, make_project, run, write_params

pytestmark = pytest.mark.e2e

ARTIFACTS = [
    "data/prepared/train.parquet", "data/prepared/valid.parquet", "data/prepared/test.parquet",
    "results/archs.parquet", "results/supernet/baseline/seed-0/weights.pt",
    "results/supernet/baseline/seed-1/weights.pt",
    "results/supernet/baseline/seed-0/history.parquet", "results/supernet/baseline/seed-0/scores.parquet",
    "results/supernet/baseline/seed-1/scores.parquet",
    "results/supernet/baseline/seed-0/checkpoints/epoch-0001.pt",
    "results/standalone/shard-1.parquet", "results/standalone/shard-2.parquet",
    "results/standalone.parquet", "results/zerocost.parquet", "results/correlation.parquet", "metrics/correlation.json",
    "results/picks.parquet", "results/picks_standalone.parquet",
    "results/selection.parquet", "metrics/selection.json", "results/heuristics.parquet",
    "metrics/heuristics.json", "results/report/index.html", "results/report/scatter.png",
    "results/report/heuristics.png", "plots/scatter.csv", "plots/curves.csv",
    "plots/heuristics.csv",
]


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="module")
def study(dvc_tiny):
    project, out, _ = dvc_tiny
    return project, out


def test_repro_writes_every_artifact(study):
    project, out = study
    for a in ARTIFACTS:
        assert (project / a).is_file(), a
    assert {"prepare", "sample", "zero-cost", "train-supernet@baseline-0", "train-supernet@baseline-1",
            "eval-supernet@baseline-0", "eval-supernet@baseline-1", "train-standalone@1", "train-standalone@2",
            "merge-standalone", "correlate", "stability", "pick", "train-picks", "select", "heuristics",
            "report"} == stages_run(out)
    archs = pd.read_parquet(project / "results/archs.parquet")
    assert list(archs.columns) == ["arch_id", "arch", "canonical", "params", "flops"] and len(archs) == 6
    sa = pd.read_parquet(project / "results/standalone.parquet")
    assert len(sa) == 12 and set(sa.seed) == {0, 1}
    scores = pd.read_parquet(project / "results/supernet/baseline/seed-0/scores.parquet")
    assert list(scores.columns) == ["arch_id", "accuracy", "loss"] and len(scores) == 6
    history = pd.read_parquet(project / "results/supernet/baseline/seed-1/history.parquet")
    assert list(history.epoch) == [1, 2]
    heuristics = pd.read_parquet(project / "results/heuristics.parquet")
    assert set(heuristics.variant) == {"baseline"} and (heuristics.n[heuristics.metric == "kendall_tau"] == 2).all()


def test_metrics_show_and_plots(study):
    project, _ = study
    shown = run(["dvc", "metrics", "show", "--json"], project).stdout
    metrics = json.loads(shown)
    flat = json.dumps(metrics)
    assert "kendall_tau" in flat and "regret" in flat and "seed_to_seed_kendall_tau" in flat
    # one small metrics file (headline.json): a handful of columns, no other pipeline's (studies are
    # DVC sub-repositories)
    assert list(metrics[""]["data"]) == ["metrics/headline.json"], list(metrics[""]["data"])
    assert all(len(line) < 300 for line in run(["dvc", "metrics", "show"], project).stdout.splitlines())
    heuristics = json.loads((project / "metrics/heuristics.json").read_text())
    assert not [k for v in heuristics.values() for k in v if k.endswith(("_diff", "_p"))]  # no diff/p clutter
    assert "sparse_kendall_tau_range" in heuristics["baseline"]  # lists are in the file; `dvc metrics show` skips them
    plots = json.loads(run(["dvc", "plots", "show", "--json"], project).stdout)["data"]
    assert set(plots) == {"supernet-vs-standalone", "supernet-training-loss", "heuristics-skdt"}  # no noise charts
    scatter = plots["supernet-vs-standalone"][0]["content"]
    assert scatter["encoding"]["color"]["field"] == "run"  # one colour per run
    assert {row["run"] for row in scatter["data"]["values"]} == {"baseline/seed-0", "baseline/seed-1"}
    page = project / "plots-page"
    run(["dvc", "plots", "show", "-o", str(page)], project)
    html = (page / "index.html").read_text()
    assert "cdn.jsdelivr" not in html and "window.vegaEmbed" in html and "<script src=" not in html  # offline


def test_summary_reads_in_a_few_lines(study):
    """`nas summary` (the last step of `make study`): tau and regret per variant with intervals, the
    ground-truth reference and the report's path, in a few narrow lines."""
    project, _ = study
    out = run(["nas", "summary"], project).stdout
    lines = out.splitlines()
    assert len(lines) <= 8 and max(len(line) for line in lines) < 200, out
    assert lines[0].startswith("ground truth: perfect-ranker reference Kendall τ")
    assert any(line.split()[:2] == ["baseline", "2"] and "(range" in line for line in lines), out
    assert "regret supernet" in out and "regret random" in out and "regret oracle" not in out
    assert "training-free rankers, Kendall τ: params " in out and "naswot" in out
    assert lines[-1] == "report: results/report/index.html"


def test_second_repro_does_nothing(study):
    project, _ = study
    out = run(["dvc", "repro"], project).stdout
    assert stages_run(out) == set(), out
    assert "up to date" in out


def test_correlate_param_reruns_only_downstream(study):
    project, _ = study
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["correlate"]["topk"] = [1, 2]
    write_params(project / "params.yaml", params)
    out = run(["dvc", "repro"], project).stdout
    # select does not read correlate's output or keys, so it rightly stays cached.
    assert stages_run(out) == {"correlate", "heuristics", "report"}, out
    corr = pd.read_parquet(project / "results/correlation.parquet")
    assert set(corr.k.dropna()) == {1, 2}


def test_code_change_reruns_that_stage_and_downstream(study):
    project, _ = study
    metrics_py = project / "nas/metrics.py"
    original, lock = metrics_py.read_text(), (project / "dvc.lock").read_text()
    metrics_py.write_text(original + "\n# a comment: the file's hash changes\n")
    try:
        out = run(["dvc", "repro"], project).stdout
        # Every stage that imports nas/metrics.py (its code deps are derived from the imports) reruns;
        # their outputs are the same bytes, so DVC (content-addressed) keeps what follows cached.
        stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
        importers = {name for name, spec in stages.items() if "nas/metrics.py" in spec.get("do", spec)["deps"]}
        assert {"correlate", "stability", "select", "heuristics"} <= importers
        ran = {name.split("@")[0] for name in stages_run(out)}
        assert ran == importers, out
    finally:
        # The outputs are the bytes they were (content addressing kept the rest cached): the old code
        # and the old lock describe them again, with no second run.
        metrics_py.write_text(original)
        (project / "dvc.lock").write_text(lock)
    assert stages_run(run(["dvc", "repro"], project).stdout) == set()


def test_new_variant_trains_only_its_branch(study):
    """A landmark variant: its two seeds train after the stand-alone results (their ranking loss
    needs them), and nothing else trains."""
    project, _ = study
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["supernet"]["variants"]["lm"] = {"landmarks": 2}
    write_params(project / "params.yaml", params)
    run(["nas", "dag"], project)
    out = run(["dvc", "repro"], project).stdout
    assert stages_run(out) == {"train-supernet-landmarks@lm-0", "train-supernet-landmarks@lm-1",
                               "eval-supernet@lm-0", "eval-supernet@lm-1", "correlate", "stability", "pick",
                               "train-picks", "select", "heuristics", "report"}, out
    corr = pd.read_parquet(project / "results/correlation.parquet")
    assert {"baseline", "lm"} <= set(corr.variant)
    assert len(pd.read_parquet(project / "results/supernet/lm/seed-0/scores.parquet")) == 4  # landmarks unscored
    table = pd.read_parquet(project / "results/heuristics.parquet")
    assert list(table.variant.unique()) == ["baseline", "lm"]
    del params["supernet"]["variants"]["lm"]
    write_params(project / "params.yaml", params)
    run(["nas", "dag"], project)
    out = run(["dvc", "repro"], project).stdout
    # The aggregates forget the variant: rerun, or restored from DVC's run-cache (the same params ran before).
    restored = set(re.findall(r"Stage '([^']+)' is cached", out))
    assert stages_run(out) | restored == {"correlate", "stability", "pick", "train-picks", "select", "heuristics",
                                          "report"}, out
    variants = set(pd.read_parquet(project / "results/correlation.parquet").variant)
    assert variants == {"baseline", "standalone"} | {f"zero-cost:{r}" for r in params["zerocost"]["rankers"]}
    # DVC keeps the outputs and the dvc.lock entries of a stage that no longer exists; remove them, so the
    # tests that follow find the project as a run of these params leaves it.
    import shutil
    shutil.rmtree(project / "results/supernet/lm")
    shutil.rmtree(project / "logs/timings/lm", ignore_errors=True)
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    stale = [name for name in lock["stages"] if name.endswith(("@lm-0", "@lm-1"))]
    assert stale, sorted(lock["stages"])
    for name in stale:
        del lock["stages"][name]
    (project / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))


def test_killed_shard_resumes_byte_identical(study, tmp_path):
    """SIGKILL a stand-alone shard mid-way; the rerun trains only what is missing and writes the same bytes."""
    project, _ = study
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["standalone"]["shards"] = 1
    other = make_project(tmp_path, params)
    run(["dvc", "repro", "sample"], other)
    progress = other / "results/.progress/standalone"
    proc = subprocess.Popen(["nas", "train-standalone", "--shard", "1/1", "--workers", "1"], cwd=other,
                            env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(progress.glob("*/*.parquet"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list(progress.glob("*/*.parquet")))
    assert 3 <= done < 12, done
    assert not (other / "results/standalone/shard-1.parquet").exists()
    resumed = run(["nas", "train-standalone", "--shard", "1/1", "--workers", "1"], other)
    assert f"train-standalone {done + 1}/12" in resumed.stderr  # counting resumes after the finished ones
    run(["nas", "merge-standalone"], other)
    assert (other / "results/standalone.parquet").read_bytes() == (project / "results/standalone.parquet").read_bytes()


def test_killed_shard_leaves_no_workers(study, tmp_path):
    """SIGKILL the stage while its worker processes train: the workers exit too (no orphans left
    training on a cluster node)."""
    project, _ = study
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["standalone"]["shards"] = 1
    params["standalone"]["epochs"] = 20  # long enough to be killed mid-way
    other = make_project(tmp_path, params)
    run(["dvc", "repro", "sample"], other)
    proc = subprocess.Popen(["nas", "train-standalone", "--shard", "1/1", "--workers", "2"], cwd=other,
                            env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: list[int] = []
    deadline = time.time() + 60
    while time.time() < deadline and len(children) < 2:
        out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout
        children = [int(p) for p in out.split()]
        time.sleep(0.2)
    assert len(children) >= 2, "workers did not start"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 20
    alive = children
    while time.time() < deadline and alive:
        alive = [p for p in alive if Path(f"/proc/{p}").exists() and "zombie" not in _state(p)]
        time.sleep(0.2)
    assert not alive, f"orphaned workers still running: {alive}"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


def test_darts_beside_spos_with_magnitude_selection(dvc_darts):
    """A DARTS variant next to the SPOS baseline under real DVC: it trains alpha on the valid split,
    writes alpha per epoch into its history, is scored like any super-net, and only its runs get
    magnitude and perturbation (DARTS-PT) picks (SPOS runs have no architecture weights)."""
    project, out = dvc_darts
    assert "Running stage 'perturb@darts-0'" in out
    dvc = yaml.safe_load((project / "dvc.yaml").read_text())
    assert "data/prepared/valid.parquet" in dvc["stages"]["train-supernet"]["deps"]
    assert "supernet.darts" not in dvc["stages"]["train-supernet"]["params"]  # written only under a variant
    history = pd.read_parquet(project / "results/supernet/darts/seed-0/history.parquet")
    assert "alpha[3<-2][skip_connect]" in history.columns and "param_free_edges" in history.columns
    picks = pd.read_parquet(project / "results/picks.parquet")
    assert sorted(zip(picks["variant"], picks["method"])) == [("baseline", "supernet"), ("darts", "magnitude"),
                                                              ("darts", "perturbation"), ("darts", "supernet")]
    assert list(dvc["stages"]["perturb"]["matrix"]["variant"]) == ["darts"]  # SPOS runs have no alpha
    log = pd.read_parquet(project / "results/supernet/darts/seed-0/perturbation.parquet")
    assert len(log) == 60 and log[log["decision"] > 0].groupby("decision")["chosen"].sum().eq(1).all()
    selection = pd.read_parquet(project / "results/selection.parquet")
    assert {"magnitude", "supernet", "oracle", "random"} <= set(selection["method"])
    scores = pd.read_parquet(project / "results/supernet/darts/seed-0/scores.parquet")
    assert scores["accuracy"].notna().all()
    summary = pd.read_parquet(project / "results/selection_summary.parquet")
    assert {("darts", "perturbation", "param_free"), ("baseline", "supernet", "accuracy")} <= set(
        zip(summary["variant"], summary["method"], summary["metric"]))
    assert (project / "results/report/alpha_damage.png").is_file() and (project / "results/report/alpha.png").is_file()


def test_weight_sharing_study_scores_epochs_and_steps_and_measures_stability(dvc_sharing):
    """The tiny weight-sharing study under real DVC: full sharing, prefix sharing and groups on the
    64-child space; each run's ranking at its scored epochs and last steps, the stability table per run
    and per variant, interference by shared operations, and the report's stability figures."""
    project, out = dvc_sharing
    assert "Running stage 'stability'" in out
    run0 = project / "results/supernet/k1/seed-0"
    steps = pd.read_parquet(run0 / "step_scores.parquet")
    assert sorted(steps["step"].unique()) == [4, 5, 6] and len(steps) == 3 * 8  # 3 steps an epoch, 2 epochs
    epochs = pd.read_parquet(run0 / "epoch_scores.parquet")
    assert sorted(epochs["epoch"].unique()) == [1, 2]
    final = epochs[epochs["epoch"] == 2].drop(columns="epoch").reset_index(drop=True)
    pd.testing.assert_frame_equal(final, pd.read_parquet(run0 / "scores.parquet"))
    table = pd.read_parquet(project / "results/stability.parquet")
    summary = table[table["series"] == "summary"]
    assert set(summary["variant"]) == {"baseline", "k1", "g4"}
    assert {"tau_truth", "seed_tau", "distinct_top1", "epoch_consecutive_tau", "step_consecutive_tau",
            "passes"} <= set(summary["statistic"])
    per_run = table[(table["seed"] == 0) & (table["variant"] == "g4")]
    assert set(per_run["series"]) == {"epoch", "step"}
    effects = pd.read_parquet(project / "results/interference.parquet")
    assert len(effects) == 6 * 6 and set(effects["shared"]) <= {0, 1, 2}
    metrics = json.loads((project / "metrics/stability.json").read_text())
    assert "tau_truth_range" in metrics["k1"] and any(k.startswith("interference@") for k in metrics["g4"])
    for figure in ("stability.png", "ranks.png", "sharing.png", "interference.png"):
        assert (project / "results/report" / figure).is_file(), figure
    assert "Ranking stability and the degree of sharing" in (project / "results/report/index.html").read_text()


def test_scoring_in_shards_writes_the_bytes_of_one_job(dvc_tiny, tmp_path):
    """eval.shards: two eval-supernet jobs, each every other architecture, joined by merge-scores, give
    the scores (and the kept epochs' scores) one job wrote; under DVC the sharded stages are what run."""
    import shutil

    from nas import layout as L

    _, _, pristine = dvc_tiny
    project = tmp_path / "p"
    shutil.copytree(pristine, project, symlinks=True)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["eval"]["shards"] = 2
    write_params(project / "params.yaml", params)
    run_ = L.Run("baseline", 0)
    one = {p: (project / p).read_bytes() for p in (run_.scores, run_.epoch_scores)}
    for k in (1, 2):
        run(["nas", "eval-supernet", "--variant", "baseline", "--seed", "0", "--shard", f"{k}/2"], project)
    shard = pd.read_parquet(project / run_.scores_shard(2))
    assert shard["arch_id"].tolist() == list(range(1, 6, 2))  # every other architecture
    (project / run_.scores).unlink()
    run(["nas", "merge-scores", "--variant", "baseline", "--seed", "0"], project)
    assert {p: (project / p).read_bytes() for p in one} == one
    run(["nas", "dag"], project)
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    assert stages["eval-supernet"]["matrix"]["shard"] == [1, 2] and "merge-scores" in stages
    bad = run(["nas", "eval-supernet", "--shard", "1/3"], project, check=False)
    assert bad.returncode == 2 and bad.stderr.strip().endswith("--shard 1/3: N must equal eval.shards (2)")
