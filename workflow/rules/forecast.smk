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


rule forecast:
    """Final loss, M_er and ep* of every run of a curve set from its first N epochs."""
    input:
        curves=forecast_curve_files,
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
