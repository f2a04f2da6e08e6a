"""Rule convergence_figure: Study A Fig. 4 for the runs of one data set."""

import pandas as pd

from reusebench.curves import read_many
from reusebench.extras import require
from reusebench.plots import save_figure
from reusebench.workflow import logged

with logged(snakemake.log[0]):
    convergence_fits = require("workflow", "reusebench.figures").convergence_fits
    dataset = snakemake.wildcards.dataset
    run_metrics = pd.read_parquet(snakemake.input.metrics)
    run_metrics = run_metrics[run_metrics["dataset"] == dataset]
    curves = read_many(snakemake.input.curves)
    figure = convergence_fits(curves[curves["dataset"] == dataset], run_metrics,
                              f"Convergence predictions, {dataset}")
    save_figure(figure, snakemake.output.png, snakemake.output.svg)
