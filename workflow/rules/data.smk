# prepare: the dataset's train/valid/test splits; sample: the architectures under study.


rule prepare:
    input:
        code("prepare"),
        stamp("prepare"),
        nas_dag.data_root_deps(CFG),
    output:
        SPLITS,
    params:
        tracked=tracked("prepare"),
    log:
        str(L.LOGS / "prepare/prepare.log"),
    benchmark:
        str(L.LOGS / "benchmarks/prepare/prepare.tsv")
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "nas prepare > {log} 2>&1"


rule sample:
    input:
        code("sample"),
        stamp("sample"),
        stage_deps("sample"),
    output:
        str(L.ARCHS),
    params:
        tracked=tracked("sample"),
    log:
        str(L.LOGS / "sample/sample.log"),
    benchmark:
        str(L.LOGS / "benchmarks/sample/sample.tsv")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "nas sample > {log} 2>&1"
