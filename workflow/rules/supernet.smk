# One branch per super-net run (a variant of supernet.variants x a seed of supernet.seeds): train
# its super-net, then score every sampled architecture with the shared weights. Adding a variant or
# a seed runs only its branches (and the aggregate stages), as in DVC. Landmark variants also wait
# for the stand-alone results: their ranking loss needs them.


rule train_supernet:
    input:
        lambda wildcards: code(supernet_stage(wildcards.variant)),
        lambda wildcards: stamp(supernet_stage(wildcards.variant), wildcards.variant),
        lambda wildcards: supernet_data(wildcards.variant),
        lambda wildcards: result_inputs(wildcards.variant),
    output:
        str(RUN.weights),
        str(RUN.history),
        str(RUN.step_scores),
        directory(str(RUN.checkpoints)),
    params:
        tracked=lambda wildcards: tracked(supernet_stage(wildcards.variant), wildcards.variant),
    log:
        str(L.LOGS / "train_supernet/{variant}/seed-{seed}.log"),
    benchmark:
        str(L.LOGS / "benchmarks/train_supernet/{variant}/seed-{seed}.tsv")
    threads: THREADS
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=GPU,
    shell:
        "nas train-supernet --variant {wildcards.variant} --seed {wildcards.seed} > {log} 2>&1"


# eval.shards: one job per run, or one per (run, shard) and a merge (nas/dag.py writes the same).
if EVAL_SHARDS == 1:

    rule eval_supernet:
        input:
            code("eval-supernet"),
            lambda wildcards: stamp("eval-supernet", wildcards.variant),
            str(RUN.weights),
            str(RUN.checkpoints),
            str(L.ARCHS),
            str(L.split("train")),
            str(L.split("valid")),
        output:
            str(RUN.scores),
            str(RUN.epoch_scores),
        params:
            tracked=lambda wildcards: tracked("eval-supernet", wildcards.variant),
        log:
            str(L.LOGS / "eval_supernet/{variant}/seed-{seed}.log"),
        benchmark:
            str(L.LOGS / "benchmarks/eval_supernet/{variant}/seed-{seed}.tsv")
        threads: THREADS
        resources:
            mem_mb=8000,
            runtime=60,
            gpu=GPU,
        shell:
            "nas eval-supernet --variant {wildcards.variant} --seed {wildcards.seed} > {log} 2>&1"

else:

    rule eval_supernet:
        input:
            code("eval-supernet"),
            lambda wildcards: stamp("eval-supernet", wildcards.variant),
            str(RUN.weights),
            str(RUN.checkpoints),
            str(L.ARCHS),
            str(L.split("train")),
            str(L.split("valid")),
        output:
            str(RUN.scores_shard("{shard}")),
            str(RUN.epoch_scores_shard("{shard}")),
        params:
            tracked=lambda wildcards: tracked("eval-supernet", wildcards.variant),
        log:
            str(L.LOGS / "eval_supernet/{variant}/seed-{seed}/shard-{shard}.log"),
        benchmark:
            str(L.LOGS / "benchmarks/eval_supernet/{variant}/seed-{seed}/shard-{shard}.tsv")
        threads: THREADS
        resources:
            mem_mb=8000,
            runtime=60,
            gpu=GPU,
        shell:
            "nas eval-supernet --variant {wildcards.variant} --seed {wildcards.seed} "
            f"--shard {{wildcards.shard}}/{EVAL_SHARDS} > {{log}} 2>&1"

    rule merge_scores:
        input:
            code("merge-scores"),
            lambda wildcards: stamp("merge-scores", wildcards.variant),
            [str(path(k)) for k in range(1, EVAL_SHARDS + 1)
             for path in (RUN.scores_shard, RUN.epoch_scores_shard)],
        output:
            str(RUN.scores),
            str(RUN.epoch_scores),
        params:
            tracked=lambda wildcards: tracked("merge-scores", wildcards.variant),
        log:
            str(L.LOGS / "merge_scores/{variant}/seed-{seed}.log"),
        benchmark:
            str(L.LOGS / "benchmarks/merge_scores/{variant}/seed-{seed}.tsv")
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        shell:
            "nas merge-scores --variant {wildcards.variant} --seed {wildcards.seed} > {log} 2>&1"
