"""Rule scorecard: every checkable claim of both papers against this run's numbers."""

from reusebench.glue.workflow import logged
from reusebench.reporting.scorecard import scorecard_from_files, scorecard_markdown, write_scorecard

with logged(snakemake.log[0]) as log:
    inputs, params = snakemake.input, snakemake.params
    table = scorecard_from_files(
        params.scale, eq11=inputs.eq11,
        nasbench_claims=dict(zip(params.nasbench_sources, inputs.nasbench, strict=True)),
        runs=inputs.get("runs"), model_sizes=inputs.get("model_sizes"),
        baselines=inputs.baselines, forecast_backtests=inputs.get("forecast"))
    write_scorecard(table, snakemake.output.csv, snakemake.output.markdown)
    log.info("\n%s", scorecard_markdown(table))
