# The ground truth: every sampled architecture trained from scratch, one job per shard
# (standalone.shards), then merged. With `standalone.source: table` nothing is trained and
# merge-standalone reads the table.


if CFG.standalone.source == "train":

    rule train_standalone:
        input:
            code("train-standalone"),
            stamp("train-standalone"),
            str(L.ARCHS),
            SPLITS,
        output:
            str(L.shard("{k}")),
        params:
            tracked=tracked("train-standalone"),
            shards=SHARDS,
        log:
            str(L.LOGS / "train_standalone/shard-{k}.log"),
        benchmark:
            str(L.LOGS / "benchmarks/train_standalone/shard-{k}.tsv")
        # `nas train-standalone` runs one process per CPU it may use (up to 8), one thread each.
        threads: 8
        resources:
            mem_mb=8000,
            runtime=480,
            gpu=GPU,
        shell:
            "nas train-standalone --shard {wildcards.k}/{params.shards} > {log} 2>&1"


rule merge_standalone:
    input:
        code("merge-standalone"),
        stamp("merge-standalone"),
        str(L.ARCHS),
        (
            [str(L.shard(k)) for k in range(1, SHARDS + 1)]
            if CFG.standalone.source == "train"
            else [CFG.standalone.table]
        ),
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
