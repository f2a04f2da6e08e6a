rule metrics_summary:
    """Markdown summary of a study's per-run metrics, shown in the Snakemake report."""
    input:
        metrics=res("metrics/{study}/metrics.parquet"),
        pairs=res("metrics/{study}/pairs.parquet"),
    output:
        report(
            res("tables/{study}/metrics_summary.md"),
            caption="../report/metrics_summary.rst",
            category=study_category,
            subcategory="Tables",
        ),
    log:
        res("logs/metrics_summary/{study}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/metrics_summary.py"


rule study_a_tables:
    """Study A Table 5 (best M_er and D_unif per architecture), over seeds, and Eq. 11
    (its easy data set named, or the one of higher contrast CV in Table 4)."""
    input:
        metrics=res("metrics/A/metrics.parquet"),
        table4=res("tables/A/table4_datasets.csv"),
    output:
        table5=report(
            res("tables/A/table5_best_per_arch.csv"),
            caption="../report/study_a_table5.rst",
            category="Study A",
            subcategory="Tables",
        ),
        table5_markdown=res("tables/A/table5_best_per_arch.md"),
        table5_seeds=report(
            res("tables/A/table5_over_seeds.csv"),
            caption="../report/study_a_table5_seeds.rst",
            category="Study A",
            subcategory="Tables",
        ),
        table5_seeds_markdown=res("tables/A/table5_over_seeds.md"),
        eq11=report(
            res("tables/A/eq11_check.csv"),
            caption="../report/study_a_eq11.rst",
            category="Study A",
            subcategory="Tables",
        ),
        eq11_markdown=res("tables/A/eq11_check.md"),
    params:
        eq11=config["study_a"]["eq11"],
    log:
        res("logs/report/study_a_tables.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/study_a_tables.py"


rule dataset_metrics_table:
    """Every metric of every configuration trained on one data set, sorted by M_er."""
    input:
        res("metrics/A/metrics.parquet"),
    output:
        csv=report(
            res("tables/A/per_dataset/{dataset}_metrics.csv"),
            caption="../report/study_a_dataset_metrics.rst",
            category="Study A",
            subcategory="Tables",
        ),
        markdown=res("tables/A/per_dataset/{dataset}_metrics.md"),
    log:
        res("logs/report/metrics_{dataset}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/dataset_metrics_table.py"


rule convergence_figure:
    """Study A Fig. 4: measured test loss and the six fitted convergence predictions per run."""
    input:
        curves=study_a_curve_files(),
        metrics=res("metrics/A/metrics.parquet"),
    output:
        png=report(
            res("figures/A/fig4_convergence_{dataset}.png"),
            caption="../report/study_a_fig4.rst",
            category="Study A",
            subcategory="Figures",
        ),
        svg=res("figures/A/fig4_convergence_{dataset}.svg"),
    log:
        res("logs/report/fig4_{dataset}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/convergence_figure.py"


rule parallel_coordinates:
    """Study A Fig. 5: parallel coordinates of one data set (static and interactive)."""
    input:
        res("metrics/A/metrics.parquet"),
    output:
        png=report(
            res("figures/A/fig5_parallel_coordinates_{dataset}.png"),
            caption="../report/study_a_fig5.rst",
            category="Study A",
            subcategory="Figures",
        ),
        svg=res("figures/A/fig5_parallel_coordinates_{dataset}.svg"),
        html=report(
            res("figures/A/fig5_parallel_coordinates_{dataset}.html"),
            caption="../report/study_a_fig5_html.rst",
            category="Study A",
            subcategory="Figures",
        ),
    log:
        res("logs/report/fig5_{dataset}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/parallel_coordinates.py"


rule stability_figure:
    """Study A Fig. 6: M_stab per architecture, one panel per data set."""
    input:
        res("metrics/A/metrics.parquet"),
    output:
        png=report(
            res("figures/A/fig6_stability.png"),
            caption="../report/study_a_fig6.rst",
            category="Study A",
            subcategory="Figures",
        ),
        svg=res("figures/A/fig6_stability.svg"),
    log:
        res("logs/report/fig6.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/stability_figure.py"
