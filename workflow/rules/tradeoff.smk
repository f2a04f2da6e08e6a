rule tradeoff_download:
    """An official CIFAR archive (paper scale), md5-checked; offline → one sentence."""
    output:
        "resources/cifar/{archive}",
    wildcard_constraints:
        archive="cifar-10-python[.]tar[.]gz|cifar-100-python[.]tar[.]gz",
    params:
        name=tradeoff_archive_name,
    log:
        res("logs/tradeoff/download_{archive}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/tradeoff_download.py"


rule tradeoff_dataset:
    """A Study B data set in its own train/test split: synthetic, CIFAR archive or npz."""
    input:
        tradeoff_dataset_source,
    output:
        res("tradeoff/data/{dataset}.npz"),
    wildcard_constraints:
        dataset="[A-Za-z0-9_]+",
    params:
        settings=tradeoff_dataset_settings,
    log:
        res("logs/tradeoff/dataset_{dataset}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/tradeoff_dataset.py"


rule tradeoff_pretrain:
    """'Pretrained' backbone weights offline: the model trained on a synthetic source task,
    or on a Study B data set's training split (study_b.pretrain.source)."""
    input:
        unpack(tradeoff_pretrain_inputs),
    output:
        res("tradeoff/pretrained/{arch}.h5"),
    wildcard_constraints:
        arch="[a-z0-9]+",
    params:
        settings=config["study_b"]["pretrain"],
    log:
        res("logs/tradeoff/pretrain_{arch}.log"),
    benchmark:
        res("benchmarks/tradeoff/pretrain_{arch}.tsv")
    threads: 1
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/tradeoff_pretrain.py"


rule tradeoff_train:
    """One Study B configuration for every seed (one job, one folder per seed): curves,
    summary (accuracy, times, sizes) and the deployable model."""
    input:
        unpack(tradeoff_train_inputs),
    output:
        curves=tradeoff_seed_outputs("curves.csv"),
        summary=tradeoff_seed_outputs("summary.json"),
        model=temp(tradeoff_seed_outputs("model.h5")),
    wildcard_constraints:
        dataset="[A-Za-z0-9_]+",
        split="own|[0-9]+-[0-9]+",
        arch="[a-z0-9]+",
        technique="[a-z0-9-]+",
    params:
        settings=tradeoff_train_settings,
    log:
        res("logs/tradeoff/train/{dataset}/{split}/{arch}/{technique}/{device}.log"),
    benchmark:
        res("benchmarks/tradeoff/train/{dataset}/{split}/{arch}/{technique}/{device}.tsv")
    threads: 1
    resources:
        gpu=gpu_count,
        gpu_model=gpu_model,
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/tradeoff_train.py"


rule tradeoff_baseline:
    """The random-prediction baseline of a data set (accuracy ≈ 1/classes)."""
    input:
        res("tradeoff/data/{dataset}.npz"),
    output:
        res("tradeoff/baseline/{dataset}.json"),
    params:
        seed=config["study_b"]["seed"],
    log:
        res("logs/tradeoff/baseline_{dataset}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/tradeoff_baseline.py"


rule tradeoff_collect:
    """All run summaries as one table, one row per run."""
    input:
        tradeoff_summary_files(),
    output:
        res("tradeoff/runs.csv"),
    log:
        res("logs/tradeoff/collect.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/tradeoff_collect.py"


rule tradeoff_model_sizes:
    """Table 1: sizes float32 vs float16, layer and parameter counts of the models used."""
    output:
        csv=res("tables/B/table1_model_sizes.csv"),
        markdown=report(
            res("tables/B/table1_model_sizes.md"),
            caption="../report/tradeoff_table1.rst",
            category="Study B",
            subcategory="Tables",
        ),
    params:
        archs=tradeoff_archs(),
        gzip_level=config["study_b"]["gzip_level"],
    log:
        res("logs/tradeoff/model_sizes.log"),
    threads: 1
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/tradeoff_model_sizes.py"


rule tradeoff_tables:
    """Tables 2, 3, 4 and 7: accuracy scores, split times, technique times, clustering."""
    input:
        runs=res("tradeoff/runs.csv"),
        baselines=tradeoff_baseline_files(),
    output:
        accuracy_csv=res("tables/B/table2_accuracy.csv"),
        accuracy=report(
            res("tables/B/table2_accuracy.md"),
            caption="../report/tradeoff_table2.rst",
            category="Study B",
            subcategory="Tables",
        ),
        splits_csv=res("tables/B/table3_split_times.csv"),
        splits=report(
            res("tables/B/table3_split_times.md"),
            caption="../report/tradeoff_table3.rst",
            category="Study B",
            subcategory="Tables",
        ),
        techniques_csv=res("tables/B/table4_technique_times.csv"),
        techniques=report(
            res("tables/B/table4_technique_times.md"),
            caption="../report/tradeoff_table4.rst",
            category="Study B",
            subcategory="Tables",
        ),
        clustering_csv=res("tables/B/table7_clustering.csv"),
        clustering=report(
            res("tables/B/table7_clustering.md"),
            caption="../report/tradeoff_table7.rst",
            category="Study B",
            subcategory="Tables",
        ),
        accuracy_seeds_csv=res("tables/B/table2_accuracy_by_seed_mean.csv"),
        accuracy_seeds=report(
            res("tables/B/table2_accuracy_by_seed_mean.md"),
            caption="../report/tradeoff_by_seed.rst",
            category="Study B",
            subcategory="Tables over seeds",
        ),
        splits_seeds_csv=res("tables/B/table3_split_times_by_seed_mean.csv"),
        splits_seeds=report(
            res("tables/B/table3_split_times_by_seed_mean.md"),
            caption="../report/tradeoff_by_seed.rst",
            category="Study B",
            subcategory="Tables over seeds",
        ),
        techniques_seeds_csv=res("tables/B/table4_technique_times_by_seed_mean.csv"),
        techniques_seeds=report(
            res("tables/B/table4_technique_times_by_seed_mean.md"),
            caption="../report/tradeoff_by_seed.rst",
            category="Study B",
            subcategory="Tables over seeds",
        ),
        clustering_seeds_csv=res("tables/B/table7_clustering_by_seed_mean.csv"),
        clustering_seeds=report(
            res("tables/B/table7_clustering_by_seed_mean.md"),
            caption="../report/tradeoff_by_seed.rst",
            category="Study B",
            subcategory="Tables over seeds",
        ),
    log:
        res("logs/tradeoff/tables.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/tradeoff_tables.py"


rule tradeoff_opscore:
    """Tables 5 and 6: OpScore ranking of one data set's runs with MIN and MAX rows."""
    input:
        res("tradeoff/runs.csv"),
    output:
        csv=res("tables/B/opscore_{dataset}.csv"),
        markdown=report(
            res("tables/B/opscore_{dataset}.md"),
            caption="../report/tradeoff_opscore.rst",
            category="Study B",
            subcategory="Tables",
        ),
        seeds_csv=res("tables/B/opscore_{dataset}_by_seed_mean.csv"),
        seeds_markdown=report(
            res("tables/B/opscore_{dataset}_by_seed_mean.md"),
            caption="../report/tradeoff_by_seed.rst",
            category="Study B",
            subcategory="Tables over seeds",
        ),
    wildcard_constraints:
        dataset="[A-Za-z0-9_]+(?<!_by_seed_mean)",
    log:
        res("logs/tradeoff/opscore_{dataset}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/tradeoff_opscore.py"


rule tradeoff_figures:
    """Figs. 3, 4, 5 and 8: accuracy curves, per technique, vs unfrozen layers, vs K."""
    input:
        runs=res("tradeoff/runs.csv"),
        curves=tradeoff_curve_files(),
    output:
        curves=report(
            res("figures/B/fig3_accuracy_curves.png"),
            caption="../report/tradeoff_fig3.rst",
            category="Study B",
            subcategory="Figures",
        ),
        curves_svg=res("figures/B/fig3_accuracy_curves.svg"),
        techniques=report(
            res("figures/B/fig4_accuracy_by_technique.png"),
            caption="../report/tradeoff_fig4.rst",
            category="Study B",
            subcategory="Figures",
        ),
        techniques_svg=res("figures/B/fig4_accuracy_by_technique.svg"),
        unfrozen=report(
            res("figures/B/fig5_accuracy_vs_unfrozen.png"),
            caption="../report/tradeoff_fig5.rst",
            category="Study B",
            subcategory="Figures",
        ),
        unfrozen_svg=res("figures/B/fig5_accuracy_vs_unfrozen.svg"),
        clusters=report(
            res("figures/B/fig8_accuracy_vs_clusters.png"),
            caption="../report/tradeoff_fig8.rst",
            category="Study B",
            subcategory="Figures",
        ),
        clusters_svg=res("figures/B/fig8_accuracy_vs_clusters.svg"),
    log:
        res("logs/tradeoff/figures.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/tradeoff_figures.py"


rule tradeoff_bubble:
    """Figs. 6 and 7: inference time vs accuracy, bubble area = size, Pareto front."""
    input:
        res("tradeoff/runs.csv"),
    output:
        png=report(
            res("figures/B/bubble_{dataset}.png"),
            caption="../report/tradeoff_bubble.rst",
            category="Study B",
            subcategory="Figures",
        ),
        svg=res("figures/B/bubble_{dataset}.svg"),
    log:
        res("logs/tradeoff/bubble_{dataset}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/tradeoff_bubble.py"


rule tradeoff_all:
    """Every Study B table and figure: `snakemake tradeoff_all` runs Study B alone."""
    input:
        tradeoff_outputs(),
