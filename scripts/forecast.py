"""Rule forecast: final loss, M_er and ep* of every run of a curve set from its first N epochs,
with intervals calibrated on the other runs' backtest (leave one run out)."""

from pathlib import Path

from reusebench.core.forecast.conformal import calibrate_each_run
from reusebench.core.forecast.predict import forecast_table, read_forecast_table
from reusebench.core.forecast.targets import read_targets
from reusebench.core.io import atomic_write_all, table_writer
from reusebench.glue.forecast_cli import register_pfn
from reusebench.glue.workflow import logged
from reusebench.reporting.forecast_figures import forecast_markdown

with logged(snakemake.log[0]) as log:
    settings, out = snakemake.params.settings, snakemake.output
    weights = register_pfn(snakemake.input.pfn_weights or None)
    table = forecast_table(read_targets(snakemake.input.curves), settings["observed"],
                           settings["predictors"], settings["draws"], seed=settings["seed"],
                           threads=snakemake.threads)
    table = calibrate_each_run(table, read_forecast_table(snakemake.input.backtest_runs))
    markdown = forecast_markdown(table, snakemake.wildcards.study, weights)
    atomic_write_all({Path(out.table): table_writer(table, out.table),
                      Path(out.markdown): lambda tmp: tmp.write_text(markdown)})
    log.info("%s", table["status"].value_counts().to_dict())
