# One branch per super-net variant (supernet.variants): train its super-net, then score every
# sampled architecture with the shared weights. Adding a variant runs only its branch (and the
# aggregate stages), as in DVC.


rule train_supernet:
    input:
        code("train-supernet"),
        "data/prepared/train.parquet",
    output:
        "results/supernet/{variant}/weights.pt",
        "results/supernet/{variant}/history.parquet",
        directory("results/supernet/{variant}/checkpoints"),
        "metrics/supernet/{variant}.json",
    params:
        tracked=lambda wildcards: tracked("train-supernet", wildcards.variant),
    log:
        "logs/train_supernet/{variant}.log",
    benchmark:
        "logs/benchmarks/train_supernet/{variant}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=GPU,
    shell:
        "nas train-supernet --variant {wildcards.variant} > {log} 2>&1"


rule eval_supernet:
    input:
        code("eval-supernet"),
        "results/supernet/{variant}/weights.pt",
        "results/archs.parquet",
        "data/prepared/train.parquet",
        "data/prepared/valid.parquet",
    output:
        "results/supernet/{variant}/scores.parquet",
    params:
        tracked=tracked("eval-supernet"),
    log:
        "logs/eval_supernet/{variant}.log",
    benchmark:
        "logs/benchmarks/eval_supernet/{variant}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=GPU,
    shell:
        "nas eval-supernet --variant {wildcards.variant} > {log} 2>&1"
