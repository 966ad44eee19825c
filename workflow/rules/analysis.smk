# Aggregates over all variants: rank correlation, selection, and the report.


rule correlate:
    input:
        code("correlate"),
        "results/standalone.parquet",
        expand("results/supernet/{variant}/scores.parquet", variant=VARIANTS),
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
        expand("results/supernet/{variant}/scores.parquet", variant=VARIANTS),
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


rule report:
    input:
        code("report"),
        "results/archs.parquet",
        "results/standalone.parquet",
        "results/correlation.parquet",
        "results/selection.parquet",
        expand("results/supernet/{variant}/scores.parquet", variant=VARIANTS),
        expand("results/supernet/{variant}/history.parquet", variant=VARIANTS),
    output:
        directory("results/report"),
        expand("plots/scatter/{variant}.csv", variant=VARIANTS),
        expand("plots/curves/{variant}.csv", variant=VARIANTS),
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
