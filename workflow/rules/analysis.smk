# Aggregates over all runs (variants x seeds): rank correlation, selection, the heuristics table
# (each variant over its seeds, against the baseline), and the report.


rule correlate:
    input:
        code("correlate"),
        "results/standalone.parquet",
        expand("results/supernet/{run}/scores.parquet", run=RUNS),
    output:
        "results/correlation.parquet",
        "metrics/correlation.json",
    params:
        tracked=tracked("correlate"),
    log:
        "logs/correlate/correlate.log",
    benchmark:
        "logs/benchmarks/correlate/correlate.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "nas correlate > {log} 2>&1"


rule select:
    input:
        code("select"),
        "results/standalone.parquet",
        expand("results/supernet/{run}/scores.parquet", run=RUNS),
    output:
        "results/selection.parquet",
        "metrics/selection.json",
    params:
        tracked=tracked("select"),
    log:
        "logs/select/select.log",
    benchmark:
        "logs/benchmarks/select/select.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "nas select > {log} 2>&1"


rule heuristics:
    input:
        code("heuristics"),
        "results/correlation.parquet",
        "results/selection.parquet",
        expand("results/supernet/{run}/history.parquet", run=RUNS),
    output:
        "results/heuristics.parquet",
        "metrics/heuristics.json",
    params:
        tracked=tracked("heuristics"),
    log:
        "logs/heuristics/heuristics.log",
    benchmark:
        "logs/benchmarks/heuristics/heuristics.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "nas heuristics > {log} 2>&1"


rule report:
    input:
        code("report"),
        "results/archs.parquet",
        "results/standalone.parquet",
        "results/correlation.parquet",
        "results/selection.parquet",
        expand("results/supernet/{run}/scores.parquet", run=RUNS),
        expand("results/supernet/{run}/history.parquet", run=RUNS),
    output:
        directory("results/report"),
        expand("plots/scatter/{run}.csv", run=RUNS),
        expand("plots/curves/{run}.csv", run=RUNS),
        "plots/heuristics.csv",
    params:
        tracked=tracked("report"),
    log:
        "logs/report/report.log",
    benchmark:
        "logs/benchmarks/report/report.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "nas report > {log} 2>&1"
