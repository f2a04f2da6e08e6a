"""Rule convergence_figure: Study A Fig. 4 for the runs of one data set."""

import pandas as pd

from reusebench.core.curves import read_many
from reusebench.core.extras import require
from reusebench.glue.workflow import logged
from reusebench.reporting.plots import save_figure

with logged(snakemake.log[0]):
    convergence_fits = require("workflow", "reusebench.reporting.study_a.figures").convergence_fits
    dataset = snakemake.wildcards.dataset
    run_metrics = pd.read_parquet(snakemake.input.metrics)
    run_metrics = run_metrics[run_metrics["dataset"] == dataset]
    curves = read_many(snakemake.input.curves)
    figure = convergence_fits(curves[curves["dataset"] == dataset], run_metrics,
                              f"Convergence predictions, {dataset}")
    save_figure(figure, snakemake.output.png, snakemake.output.svg)
