rule mini_nasbench:
    """Train a handful of NAS-Bench-101 cells offline and write NAS-Bench-101 records, and the
    per-epoch curves of each cell's longest-budget runs (the forecast stage reads those)."""
    output:
        records=res("nasbench/mini/records.tfrecord"),
        curves=res(MINI_EPOCH_CURVES),
    params:
        settings=config["nasbench"]["mini"],
    log:
        res("logs/nasbench/mini_train.log"),
    benchmark:
        res("benchmarks/nasbench/mini_train.tsv")
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
        res("logs/nasbench/download_{name}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/nasbench_download.py"


rule nasbench_table:
    """NAS-Bench-101 records (TFRecord or JSON export) as one Parquet table."""
    input:
        nasbench_source_file,
    output:
        res("nasbench/{source}/records.parquet"),
    log:
        res("logs/nasbench/table_{source}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/nasbench_table.py"


rule nasbench_analysis:
    """Study A Fig. 7 paragraph: families, contours, D_unif, Δ(fit), D_init(graph), claims."""
    input:
        res("nasbench/{source}/records.parquet"),
    output:
        summary=report(
            res("tables/nasbench/{source}/family_summary.csv"),
            caption="../report/nasbench_summary.rst",
            category="NAS-Bench-101",
            subcategory="{source}",
        ),
        metrics=report(
            res("tables/nasbench/{source}/family_metrics.csv"),
            caption="../report/nasbench_metrics.rst",
            category="NAS-Bench-101",
            subcategory="{source}",
        ),
        contours=report(
            res("tables/nasbench/{source}/contours.csv"),
            caption="../report/nasbench_contours.rst",
            category="NAS-Bench-101",
            subcategory="{source}",
        ),
        claims=report(
            res("tables/nasbench/{source}/claims.md"),
            caption="../report/nasbench_claims.rst",
            category="NAS-Bench-101",
            subcategory="{source}",
        ),
        claims_csv=res("tables/nasbench/{source}/claims.csv"),
        figure_png=report(
            res("figures/nasbench/{source}/fig7_accuracy_by_budget.png"),
            caption="../report/nasbench_fig7.rst",
            category="NAS-Bench-101",
            subcategory="{source}",
        ),
        figure_svg=res("figures/nasbench/{source}/fig7_accuracy_by_budget.svg"),
    params:
        split=config["nasbench"]["split"],
    log:
        res("logs/nasbench/analysis_{source}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/nasbench_analysis.py"
