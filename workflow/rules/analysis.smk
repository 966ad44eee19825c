# Aggregates over all runs (variants x seeds): rank correlation, ranking stability (over epochs, steps
# and seeds; interference), selection (each method's pick, the stand-alone training of picks outside
# the pool, the selection table), the heuristics table (each variant over its seeds, against the
# baseline), and the report.


rule correlate:
    input:
        code("correlate"),
        stamp("correlate"),
        stage_deps("correlate"),
    output:
        str(L.CORRELATION),
        str(L.CORRELATION_JSON),
    params:
        tracked=tracked("correlate"),
    log:
        str(L.LOGS / "correlate/correlate.log"),
    benchmark:
        str(L.LOGS / "benchmarks/correlate/correlate.tsv")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "nas correlate > {log} 2>&1"


rule stability:
    input:
        code("stability"),
        stamp("stability"),
        stage_deps("stability"),
    output:
        str(L.STABILITY),
        str(L.STABILITY_RANKS),
        str(L.INTERFERENCE),
        str(L.STABILITY_JSON),
    params:
        tracked=tracked("stability"),
    log:
        str(L.LOGS / "stability/stability.log"),
    benchmark:
        str(L.LOGS / "benchmarks/stability/stability.tsv")
    threads: THREADS
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPU,
    shell:
        "nas stability > {log} 2>&1"


rule pick:
    input:
        code("pick"),
        stamp("pick"),
        stage_deps("pick"),
    output:
        str(L.PICKS),
    params:
        tracked=tracked("pick"),
    log:
        str(L.LOGS / "pick/pick.log"),
    benchmark:
        str(L.LOGS / "benchmarks/pick/pick.tsv")
    threads: THREADS
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPU,
    shell:
        "nas pick > {log} 2>&1"


rule train_picks:
    input:
        code("train-picks"),
        stamp("train-picks"),
        stage_deps("train-picks"),
    output:
        str(L.PICKS_STANDALONE),
    params:
        tracked=tracked("train-picks"),
    log:
        str(L.LOGS / "train_picks/train_picks.log"),
    benchmark:
        str(L.LOGS / "benchmarks/train_picks/train_picks.tsv")
    # Like train-standalone: one process per CPU it may use (up to 8), one thread each.
    threads: 8
    resources:
        mem_mb=8000,
        runtime=480,
        gpu=GPU,
    shell:
        "nas train-picks > {log} 2>&1"


rule select:
    input:
        code("select"),
        stamp("select"),
        stage_deps("select"),
    output:
        str(L.SELECTION),
        str(L.SELECTION_SUMMARY),
        str(L.SELECTION_JSON),
    params:
        tracked=tracked("select"),
    log:
        str(L.LOGS / "select/select.log"),
    benchmark:
        str(L.LOGS / "benchmarks/select/select.tsv")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "nas select > {log} 2>&1"


rule heuristics:
    input:
        code("heuristics"),
        stamp("heuristics"),
        str(L.CORRELATION),
        str(L.SELECTION),
        each_run(lambda r: r.history),
    output:
        str(L.HEURISTICS),
        str(L.HEURISTICS_JSON),
        str(L.HEADLINE_JSON),
    params:
        tracked=tracked("heuristics"),
    log:
        str(L.LOGS / "heuristics/heuristics.log"),
    benchmark:
        str(L.LOGS / "benchmarks/heuristics/heuristics.tsv")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "nas heuristics > {log} 2>&1"


rule report:
    input:
        code("report"),
        stamp("report"),
        stage_deps("report"),
    output:
        directory(str(L.REPORT)),
        str(L.SCATTER_CSV),
        str(L.CURVES_CSV),
        str(L.HEURISTICS_CSV),
    params:
        tracked=tracked("report"),
    log:
        str(L.LOGS / "report/report.log"),
    benchmark:
        str(L.LOGS / "benchmarks/report/report.tsv")
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "nas report > {log} 2>&1"
