# One branch per super-net run (a variant of supernet.variants x a seed of supernet.seeds): train
# its super-net, then score every sampled architecture with the shared weights. Adding a variant or
# a seed runs only its branches (and the aggregate stages), as in DVC. Landmark variants also wait
# for the stand-alone results: their ranking loss needs them.


rule train_supernet:
    input:
        lambda wildcards: code(supernet_stage(wildcards.variant)),
        "data/prepared/train.parquet",
        lambda wildcards: landmark_inputs(wildcards.variant),
    output:
        "results/supernet/{variant}/seed-{seed}/weights.pt",
        "results/supernet/{variant}/seed-{seed}/history.parquet",
        directory("results/supernet/{variant}/seed-{seed}/checkpoints"),
        "metrics/supernet/{variant}/seed-{seed}.json",
    params:
        tracked=lambda wildcards: tracked(supernet_stage(wildcards.variant), wildcards.variant),
    log:
        "logs/train_supernet/{variant}/seed-{seed}.log",
    benchmark:
        "logs/benchmarks/train_supernet/{variant}/seed-{seed}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=GPU,
    shell:
        "nas train-supernet --variant {wildcards.variant} --seed {wildcards.seed} > {log} 2>&1"


rule eval_supernet:
    input:
        code("eval-supernet"),
        "results/supernet/{variant}/seed-{seed}/weights.pt",
        "results/archs.parquet",
        "data/prepared/train.parquet",
        "data/prepared/valid.parquet",
    output:
        "results/supernet/{variant}/seed-{seed}/scores.parquet",
    params:
        tracked=lambda wildcards: tracked("eval-supernet", wildcards.variant),
    log:
        "logs/eval_supernet/{variant}/seed-{seed}.log",
    benchmark:
        "logs/benchmarks/eval_supernet/{variant}/seed-{seed}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=GPU,
    shell:
        "nas eval-supernet --variant {wildcards.variant} --seed {wildcards.seed} > {log} 2>&1"
