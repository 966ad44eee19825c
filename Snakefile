# The study's DAG for Snakemake: the same stages, commands, files and params as dvc.yaml
# (tests/e2e/test_snakemake.py checks the two agree). Settings come from params.yaml, as for DVC: edit
# it, not --config (the `nas` commands read params.yaml, so other config is refused). Every path
# comes from nas/layout.py.
#
#   snakemake --profile workflow/profiles/default          # local, all cores
#   snakemake --profile workflow/profiles/slurm            # one Slurm job per rule (edit the profile first)
#   snakemake --profile workflow/profiles/default -n       # what would run, and why
#
# A rule reruns when its inputs are newer than its outputs, when the params keys its DVC stage lists
# change (each rule's `params: tracked`), or when its library code in nas/ changes (listed as input,
# derived from the imports of the stage's entry point: nas/codedeps.py).
# Logs go to logs/<rule>/, per-job timings to logs/benchmarks/<rule>/.


configfile: "params.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/supernet.smk"
include: "workflow/rules/standalone.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/own.smk"


rule all:
    input:
        str(L.REPORT),
        str(L.CORRELATION_JSON),
        str(L.SELECTION_JSON),
        str(L.HEURISTICS_JSON),
        str(L.HEADLINE_JSON),
        str(L.STABILITY_JSON),
        str(L.SCATTER_CSV),
        str(L.CURVES_CSV),
        str(L.HEURISTICS_CSV),
    default_target: True
