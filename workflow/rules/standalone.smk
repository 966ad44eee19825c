# The ground truth: the pool's stand-alone results, merged from what the ground-truth source
# (standalone.source, nas/truth/) gives: the shards trained by train-standalone (workflow/rules/own.smk),
# or a table it reads.


rule merge_standalone:
    input:
        code("merge-standalone"),
        stamp("merge-standalone"),
        stage_deps("merge-standalone"),
    output:
        str(L.STANDALONE),
    params:
        tracked=tracked("merge-standalone"),
    log:
        str(L.LOGS / "merge_standalone/merge_standalone.log"),
    benchmark:
        str(L.LOGS / "benchmarks/merge_standalone/merge_standalone.tsv")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "nas merge-standalone > {log} 2>&1"
