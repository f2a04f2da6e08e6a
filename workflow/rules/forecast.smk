rule forecast_nasbench_curves:
    """A NAS-Bench-101 source's cells as curves: accuracy at each evaluation epoch."""
    input:
        res("nasbench/{source}/records.parquet"),
    output:
        res("forecast/curves/nasbench-{source}.csv"),
    log:
        res("logs/forecast/curves_nasbench-{source}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/forecast_nasbench_curves.py"


rule forecast_logs_curves:
    """Training logs a user has (forecast.logs) as a curve table, read like reusebench ingest."""
    input:
        forecast_logs_source,
    output:
        res("forecast/curves/logs-{name}.csv"),
    log:
        res("logs/forecast/curves_logs-{name}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/forecast_logs_curves.py"


rule forecast_pfn_train:
    """The LC-PFN forecaster's weights, trained on the package's prior of loss curves."""
    output:
        weights=res(PFN_WEIGHTS),
        provenance=res("forecast/pfn/provenance.json"),
    params:
        settings=pfn_training_settings(),
    resources:
        gpu=pfn_gpu_count,
    log:
        res("logs/forecast/pfn_train.log"),
    benchmark:
        res("benchmarks/forecast/pfn_train.tsv")
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/forecast_pfn_train.py"


rule forecast:
    """Final loss, M_er and ep* of every run of a curve set from its first N epochs, with
    conformal intervals calibrated on the backtest of the set's other runs."""
    input:
        curves=forecast_curve_files,
        pfn_weights=forecast_pfn_weights,
        backtest_runs=res("forecast/{study}/backtest_runs.csv"),
    output:
        table=res("forecast/{study}/forecast.csv"),
        markdown=report(
            res("tables/forecast/{study}/forecast.md"),
            caption="../report/forecast_table.rst",
            category=forecast_category,
            subcategory=forecast_subcategory,
        ),
    wildcard_constraints:
        study="[A-Za-z0-9_-]+",
    params:
        settings=forecast_settings(),
    log:
        res("logs/forecast/forecast_{study}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/forecast.py"


rule forecast_backtest:
    """The forecasts of a curve set against what its runs then did: errors, coverage, CRPS."""
    input:
        curves=forecast_curve_files,
        pfn_weights=forecast_pfn_weights,
    output:
        summary=res("tables/forecast/{study}/backtest.csv"),
        markdown=report(
            res("tables/forecast/{study}/backtest.md"),
            caption="../report/forecast_backtest.rst",
            category=forecast_category,
            subcategory=forecast_subcategory,
        ),
        runs=res("forecast/{study}/backtest_runs.csv"),
        coverage=report(
            res("figures/forecast/{study}/backtest_coverage.png"),
            caption="../report/forecast_coverage.rst",
            category=forecast_category,
            subcategory=forecast_subcategory,
        ),
        error=report(
            res("figures/forecast/{study}/backtest_error.png"),
            caption="../report/forecast_error.rst",
            category=forecast_category,
            subcategory=forecast_subcategory,
        ),
    wildcard_constraints:
        study="[A-Za-z0-9_-]+",
    params:
        settings=forecast_settings(),
    log:
        res("logs/forecast/backtest_{study}.log"),
    conda:
        "../../envs/reusebench.yaml"
    script:
        "../../scripts/forecast_backtest.py"
