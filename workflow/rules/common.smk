# Shared by the rules: the validated params, the variant and shard lists, and the per-stage code
# files and params values, all taken from nas.dag (the module that writes dvc.yaml).

import re
import sys

import yaml

from nas import config as nas_config
from nas import dag as nas_dag
from nas import engines as nas_engines
from nas import layout as L
from nas.io import UserError

try:
    CFG = nas_config.from_dict(config)
except UserError as exc:
    raise WorkflowError(f"params.yaml: {exc}") from None

# The `nas` commands read params.yaml themselves: settings given only to Snakemake (--config,
# --configfile) would be tracked here but not used there, so they are refused.
with open("params.yaml") as f:
    if config != yaml.safe_load(f):
        raise WorkflowError(
            "the nas commands read params.yaml, not Snakemake's --config/--configfile: "
            "edit params.yaml instead"
        )

# DVC and Snakemake never run at once in one project (nas/engines.py): a real run's main process
# enters itself in DVC's lock table (DVC then refuses to run a stage) and refuses while dvc runs;
# before the params stamps below are written.
if workflow.is_main_process and not nas_engines.dry_run(sys.argv):
    try:
        nas_engines.claim_for_snakemake()
    except nas_engines.EngineBusy as exc:
        raise WorkflowError(str(exc)) from None

VARIANTS = CFG.variants
SEEDS = CFG.supernet.seeds
RUNS = [L.Run(v, s) for v, s in CFG.runs]
RUN = L.SNAKEMAKE_RUN  # the run of a rule: {variant}, {seed}
SPLITS = [str(L.split(s)) for s in L.SPLITS]
# Every stage that runs torch sets its intra-op thread count from params (`threads`), under
# Snakemake and DVC alike; the rules declare the same number so the scheduler reserves it.
THREADS = CFG.threads
# A GPU per training/scoring job only where params ask for CUDA explicitly; on Slurm with
# `device: auto`, request one with `set-resources` in the profile instead.
GPU = 1 if CFG.device.startswith("cuda") else 0
# eval-supernet jobs per run (eval.shards): above 1, each scores every N-th architecture and
# merge_scores joins a run's shards.
EVAL_SHARDS = CFG.eval.shards


wildcard_constraints:
    variant="|".join(re.escape(v) for v in VARIANTS),
    seed=r"\d+",
    k=r"\d+",
    shard=r"\d+",


def each_run(path):
    """`path(run)` for every run of the study, as strings."""
    return [str(path(run)) for run in RUNS]


def stage_deps(stage):
    """The stage's file deps in dvc.yaml other than code (its data and artifacts)."""
    code_files = set(code(stage))
    return [d for d in nas_dag.stage_spec(CFG, stage)["deps"] if d not in code_files]


def code(stage):
    """The code files the DVC stage lists as deps (derived from its entry point's imports)."""
    return nas_dag.code_deps(CFG, stage)


# Params stamps (nas/dag.py): each rule's stamp input holds the values of the params it tracks and
# is rewritten here when they change, so it is newer than the outputs and the rule reruns, even for
# outputs that `dvc repro` or `dvc pull` wrote and Snakemake has no record of.
nas_dag.stamp_all(CFG)


def stamp(stage, variant=None):
    """The stage's params stamp, an input of its rule."""
    return str(L.params_stamp(stage, nas_dag.stamp_item(CFG, stage, variant)))


def tracked(stage, item=None):
    """{params key: value} for exactly the keys the DVC stage lists; a change reruns the rule."""
    return nas_dag.param_values(CFG, stage, item)


def supernet_stage(variant):
    """train-supernet, or train-supernet-landmarks for a variant with landmarks (as in dvc.yaml)."""
    return nas_dag.supernet_stage(CFG, variant)


def supernet_data(variant):
    """The splits a variant's super-net trains on: train, and valid for methods with alpha steps."""
    stage = nas_dag.stage_spec(CFG, supernet_stage(variant))
    return [d for d in stage["deps"] if d.startswith(f"{L.PREPARED.as_posix()}/")]


def result_inputs(variant):
    """The results a variant's training reads: the stand-alone results (landmarks' ranking loss) and
    the pool (dense scoring)."""
    stage = nas_dag.stage_spec(CFG, supernet_stage(variant))
    return [d for d in stage["deps"] if d.startswith(f"{L.RESULTS.as_posix()}/")]
