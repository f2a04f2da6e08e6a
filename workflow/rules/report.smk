rule metrics_summary:
    """Markdown summary of a study's per-run metrics, shown in the Snakemake report."""
    input:
        metrics="results/metrics/{study}/metrics.parquet",
        pairs="results/metrics/{study}/pairs.parquet",
    output:
        report(
            "results/tables/{study}/metrics_summary.md",
            caption="../report/metrics_summary.rst",
            category=study_category,
            subcategory="Tables",
        ),
    log:
        "results/logs/metrics_summary/{study}.log",
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/metrics_summary.py"


rule study_a_tables:
    """Study A Table 5 (best M_er and D_unif per architecture), over seeds, and Eq. 11."""
    input:
        "results/metrics/A/metrics.parquet",
    output:
        table5=report(
            "results/tables/A/table5_best_per_arch.csv",
            caption="../report/study_a_table5.rst",
            category="Study A",
            subcategory="Tables",
        ),
        table5_markdown="results/tables/A/table5_best_per_arch.md",
        table5_seeds=report(
            "results/tables/A/table5_over_seeds.csv",
            caption="../report/study_a_table5_seeds.rst",
            category="Study A",
            subcategory="Tables",
        ),
        table5_seeds_markdown="results/tables/A/table5_over_seeds.md",
        eq11=report(
            "results/tables/A/eq11_check.csv",
            caption="../report/study_a_eq11.rst",
            category="Study A",
            subcategory="Tables",
        ),
        eq11_markdown="results/tables/A/eq11_check.md",
    params:
        eq11=config["study_a"]["eq11"],
    log:
        "results/logs/report/study_a_tables.log",
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/study_a_tables.py"


rule dataset_metrics_table:
    """Every metric of every configuration trained on one data set, sorted by M_er."""
    input:
        "results/metrics/A/metrics.parquet",
    output:
        csv=report(
            "results/tables/A/per_dataset/{dataset}_metrics.csv",
            caption="../report/study_a_dataset_metrics.rst",
            category="Study A",
            subcategory="Tables",
        ),
        markdown="results/tables/A/per_dataset/{dataset}_metrics.md",
    log:
        "results/logs/report/metrics_{dataset}.log",
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/dataset_metrics_table.py"


rule convergence_figure:
    """Study A Fig. 4: measured test loss and the six fitted convergence predictions per run."""
    input:
        curves=study_a_curve_files(),
        metrics="results/metrics/A/metrics.parquet",
    output:
        png=report(
            "results/figures/A/fig4_convergence_{dataset}.png",
            caption="../report/study_a_fig4.rst",
            category="Study A",
            subcategory="Figures",
        ),
        svg="results/figures/A/fig4_convergence_{dataset}.svg",
    log:
        "results/logs/report/fig4_{dataset}.log",
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/convergence_figure.py"


rule parallel_coordinates:
    """Study A Fig. 5: parallel coordinates of one data set (static and interactive)."""
    input:
        "results/metrics/A/metrics.parquet",
    output:
        png=report(
            "results/figures/A/fig5_parallel_coordinates_{dataset}.png",
            caption="../report/study_a_fig5.rst",
            category="Study A",
            subcategory="Figures",
        ),
        svg="results/figures/A/fig5_parallel_coordinates_{dataset}.svg",
        html=report(
            "results/figures/A/fig5_parallel_coordinates_{dataset}.html",
            caption="../report/study_a_fig5_html.rst",
            category="Study A",
            subcategory="Figures",
        ),
    log:
        "results/logs/report/fig5_{dataset}.log",
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/parallel_coordinates.py"


rule stability_figure:
    """Study A Fig. 6: M_stab per architecture, one panel per data set."""
    input:
        "results/metrics/A/metrics.parquet",
    output:
        png=report(
            "results/figures/A/fig6_stability.png",
            caption="../report/study_a_fig6.rst",
            category="Study A",
            subcategory="Figures",
        ),
        svg="results/figures/A/fig6_stability.svg",
    log:
        "results/logs/report/fig6.log",
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/stability_figure.py"
