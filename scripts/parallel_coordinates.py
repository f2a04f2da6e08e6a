"""Rule parallel_coordinates: Study A Fig. 5 for one data set, PNG/SVG and interactive HTML."""

import pandas as pd

from reusebench.core.extras import require
from reusebench.core.io import atomic_write
from reusebench.glue.workflow import logged
from reusebench.reporting.plots import save_figure

with logged(snakemake.log[0]):
    figures_module = require("workflow", "reusebench.reporting.study_a.figures")
    parallel_coordinates = figures_module.parallel_coordinates
    parallel_coordinates_html = figures_module.parallel_coordinates_html
    dataset = snakemake.wildcards.dataset
    run_metrics = pd.read_parquet(snakemake.input[0])
    run_metrics = run_metrics[run_metrics["dataset"] == dataset].reset_index(drop=True)
    title = f"Parallel coordinates, {dataset}"
    save_figure(parallel_coordinates(run_metrics, title), snakemake.output.png,
                snakemake.output.svg)
    html = parallel_coordinates_html(run_metrics, title)
    atomic_write(snakemake.output.html, lambda tmp: tmp.write_text(html))
