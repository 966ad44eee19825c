# The stages a registered piece adds (nas/registry.py): the ground-truth source's (train-standalone,
# one job per shard) and the selection methods' (perturb, one job per super-net run it applies to).
# One rule each, made from the stage's DVC spec (nas dag): the same command, files and params.


def own_pattern(text):
    """A dvc.yaml path or command with its matrix/foreach items as Snakemake wildcards."""
    return (text.replace("${item.variant}", "{variant}").replace("${item.seed}", "{seed}")
            .replace("${item}", "{k}"))


for _name, (_own, _piece) in nas_dag.own_stages(CFG).items():
    _spec = nas_dag.stage_spec(CFG, _name)
    _per_run = _own.per == "run"
    _where = "{variant}/seed-{seed}" if _per_run else "shard-{k}"

    rule:
        name:
            _own.rule
        input:
            code(_name),
            (
                (lambda wildcards, s=_name: stamp(s, wildcards.variant))
                if _per_run
                else stamp(_name)
            ),
            [own_pattern(d) for d in stage_deps(_name)],
        output:
            [own_pattern(o) for o in nas_dag.paths(_spec["outs"])],
        params:
            tracked=(
                (lambda wildcards, s=_name: tracked(s, wildcards.variant))
                if _per_run
                else tracked(_name)
            ),
            # The command, bound now: a `shell:` expression is evaluated when the job runs, when the
            # loop's variables name the last stage.
            command=lambda wildcards, c=own_pattern(_spec["cmd"]): c.format(**dict(wildcards.items())),
        log:
            str(L.LOGS / f"{_own.rule}/{_where}.log"),
        benchmark:
            str(L.LOGS / f"benchmarks/{_own.rule}/{_where}.tsv")
        threads: THREADS if _own.threads == "params" else _own.threads
        resources:
            mem_mb=_own.mem_mb,
            runtime=_own.runtime,
            gpu=GPU,
        shell:
            "{params.command} > {log} 2>&1"
