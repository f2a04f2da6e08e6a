rule metrics_summary:
    """Markdown summary of a study's per-run metrics, shown in the Snakemake report."""
    input:
        metrics="results/metrics/{study}/metrics.parquet",
        pairs="results/metrics/{study}/pairs.parquet",
    output:
        report(
            "results/tables/{study}/metrics_summary.md",
            caption="../report/metrics_summary.rst",
            category="Metrics",
            subcategory="{study}",
        ),
    log:
        "results/logs/metrics_summary/{study}.log",
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/metrics_summary.py"
