# prepare: the dataset's train/valid/test splits; sample: the architectures under study; zero-cost: their
# training-free scores.


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


# zero-cost: the pool's training-free scores (zerocost.rankers), a stage only when rankers are asked for.
if CFG.zerocost.rankers:

    rule zero_cost:
        input:
            code("zero-cost"),
            stamp("zero-cost"),
            stage_deps("zero-cost"),
        output:
            str(L.ZEROCOST),
        params:
            tracked=tracked("zero-cost"),
        log:
            str(L.LOGS / "zero_cost/zero_cost.log"),
        benchmark:
            str(L.LOGS / "benchmarks/zero_cost/zero_cost.tsv")
        threads: THREADS
        resources:
            mem_mb=4000,
            runtime=60,
            gpu=GPU,
        shell:
            "nas zero-cost > {log} 2>&1"
