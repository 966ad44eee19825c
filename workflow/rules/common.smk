# Shared by the rules: the validated params, the variant and shard lists, and the per-stage code
# files and params values, all taken from nas.dag (the module that writes dvc.yaml).

import re

import yaml

from nas import config as nas_config
from nas import dag as nas_dag
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

VARIANTS = CFG.variants
SEEDS = CFG.supernet.seeds
RUNS = [f"{v}/seed-{s}" for v, s in CFG.runs]
SHARDS = CFG.standalone.shards
# A GPU per training/scoring job only where params ask for CUDA explicitly; on Slurm with
# `device: auto`, request one with `set-resources` in the profile instead.
GPU = 1 if CFG.device.startswith("cuda") else 0


wildcard_constraints:
    variant="|".join(re.escape(v) for v in VARIANTS),
    seed=r"\d+",
    k=r"\d+",


def code(stage):
    """The library modules the DVC stage lists as deps (nas/spaces expanded to its .py files)."""
    return nas_dag.code_deps(CFG, stage)


def tracked(stage, item=None):
    """{params key: value} for exactly the keys the DVC stage lists; a change reruns the rule."""
    return nas_dag.param_values(CFG, stage, item)


def supernet_stage(variant):
    """train-supernet, or train-supernet-landmarks for a variant with landmarks (as in dvc.yaml)."""
    return nas_dag.supernet_stage(CFG, variant)


def landmark_inputs(variant):
    """The extra inputs of a landmark variant: the stand-alone results its ranking loss reads."""
    stage = nas_dag.stage_spec(CFG, supernet_stage(variant))
    return [d for d in stage["deps"] if d.startswith("results/")]
