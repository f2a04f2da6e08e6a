rule mini_nasbench:
    """Train a handful of NAS-Bench-101 cells offline and write NAS-Bench-101 records."""
    output:
        "results/nasbench/mini/records.tfrecord",
    params:
        settings=config["nasbench"]["mini"],
    log:
        "results/logs/nasbench/mini_train.log",
    benchmark:
        "results/benchmarks/nasbench/mini_train.tsv"
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/mini_nasbench.py"


rule nasbench_download:
    """An official NAS-Bench-101 file (paper scale); offline → one sentence."""
    output:
        "resources/nasbench/{name}.tfrecord",
    params:
        source=nasbench_download_source,
    log:
        "results/logs/nasbench/download_{name}.log",
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/nasbench_download.py"


rule nasbench_table:
    """NAS-Bench-101 records (TFRecord or JSON export) as one Parquet table."""
    input:
        nasbench_source_file,
    output:
        "results/nasbench/{source}/records.parquet",
    log:
        "results/logs/nasbench/table_{source}.log",
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/nasbench_table.py"


rule nasbench_analysis:
    """Study A Fig. 7 paragraph: families, contours, D_unif, Δ(fit), D_init(graph), claims."""
    input:
        "results/nasbench/{source}/records.parquet",
    output:
        summary=report(
            "results/tables/nasbench/{source}/family_summary.csv",
            caption="../report/nasbench_summary.rst",
            category="NAS-Bench-101",
            subcategory="{source}",
        ),
        metrics=report(
            "results/tables/nasbench/{source}/family_metrics.csv",
            caption="../report/nasbench_metrics.rst",
            category="NAS-Bench-101",
            subcategory="{source}",
        ),
        contours=report(
            "results/tables/nasbench/{source}/contours.csv",
            caption="../report/nasbench_contours.rst",
            category="NAS-Bench-101",
            subcategory="{source}",
        ),
        claims=report(
            "results/tables/nasbench/{source}/claims.md",
            caption="../report/nasbench_claims.rst",
            category="NAS-Bench-101",
            subcategory="{source}",
        ),
        claims_csv="results/tables/nasbench/{source}/claims.csv",
        figure_png=report(
            "results/figures/nasbench/{source}/fig7_accuracy_by_budget.png",
            caption="../report/nasbench_fig7.rst",
            category="NAS-Bench-101",
            subcategory="{source}",
        ),
        figure_svg="results/figures/nasbench/{source}/fig7_accuracy_by_budget.svg",
    params:
        split=config["nasbench"]["split"],
    log:
        "results/logs/nasbench/analysis_{source}.log",
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/nasbench_analysis.py"
