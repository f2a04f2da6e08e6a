"""Rule forecast_backtest: a curve set's forecasts against what its runs then did."""

from pathlib import Path

from reusebench.core.forecast.backtest import backtest_runs, backtest_summary
from reusebench.core.forecast.targets import read_targets
from reusebench.core.io import atomic_write_all, table_writer
from reusebench.glue.forecast_cli import register_pfn
from reusebench.glue.workflow import logged
from reusebench.reporting.forecast_figures import backtest_markdown, coverage_figure, error_figure
from reusebench.reporting.plots import save_figure

with logged(snakemake.log[0]) as log:
    settings, out = snakemake.params.settings, snakemake.output
    weights = register_pfn(snakemake.input.pfn_weights or None)
    runs, seconds = backtest_runs(read_targets(snakemake.input.curves), settings["observed"],
                                  settings["predictors"], settings["draws"],
                                  seed=settings["seed"], threads=snakemake.threads)
    summary = backtest_summary(runs, seconds)
    markdown = backtest_markdown(summary, snakemake.wildcards.study, weights)
    atomic_write_all({Path(out.summary): table_writer(summary, out.summary),
                      Path(out.runs): table_writer(runs, out.runs),
                      Path(out.markdown): lambda tmp: tmp.write_text(markdown)})
    save_figure(coverage_figure(summary), out.coverage)
    save_figure(error_figure(summary), out.error)
    log.info("\n%s", markdown)
