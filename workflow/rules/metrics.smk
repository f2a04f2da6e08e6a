rule metrics:
    """Per-run metrics (Eq. 1-8), pairs (Eq. 4, 9) and unpaired runs of one study."""
    input:
        curve_files,
    output:
        metrics_csv=res("metrics/{study}/metrics.csv"),
        metrics_parquet=res("metrics/{study}/metrics.parquet"),
        pairs_csv=res("metrics/{study}/pairs.csv"),
        pairs_parquet=res("metrics/{study}/pairs.parquet"),
        unpaired_csv=res("metrics/{study}/unpaired.csv"),
        unpaired_parquet=res("metrics/{study}/unpaired.parquet"),
    params:
        delta=config["metrics"]["delta"],
        fit_points=config["metrics"]["fit_points"],
        diverge_factor=config["metrics"]["diverge_factor"],
        learn_margin=config["metrics"]["learn_margin"],
        definitions=config["metrics"]["definitions"],
    log:
        res("logs/metrics/{study}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/metrics.py"
