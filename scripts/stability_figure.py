"""Rule stability_figure: Study A Fig. 6."""

import pandas as pd

from reusebench.core.extras import require
from reusebench.glue.workflow import logged
from reusebench.reporting.plots import save_figure

with logged(snakemake.log[0]):
    figures = require("workflow", "reusebench.reporting.study_a.figures")
    stability_by_arch = figures.stability_by_arch
    figure = stability_by_arch(pd.read_parquet(snakemake.input[0]))
    save_figure(figure, snakemake.output.png, snakemake.output.svg)
