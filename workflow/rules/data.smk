# prepare: the dataset's train/valid/test splits; sample: the architectures under study.


rule prepare:
    input:
        code("prepare"),
        [CFG.data.root] if CFG.data.root else [],
    output:
        "data/prepared/train.parquet",
        "data/prepared/valid.parquet",
        "data/prepared/test.parquet",
    params:
        tracked=tracked("prepare"),
    log:
        "logs/prepare/prepare.log",
    benchmark:
        "logs/benchmarks/prepare/prepare.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "nas prepare > {log} 2>&1"


rule sample:
    input:
        code("sample"),
        "data/prepared/train.parquet",
    output:
        "results/archs.parquet",
    params:
        tracked=tracked("sample"),
    log:
        "logs/sample/sample.log",
    benchmark:
        "logs/benchmarks/sample/sample.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "nas sample > {log} 2>&1"
