"""Rule stability_figure: Study A Fig. 6."""

import pandas as pd

from reusebench.extras import require
from reusebench.plots import save_figure
from reusebench.workflow import logged

with logged(snakemake.log[0]):
    stability_by_arch = require("workflow", "reusebench.figures").stability_by_arch
    figure = stability_by_arch(pd.read_parquet(snakemake.input[0]))
    save_figure(figure, snakemake.output.png, snakemake.output.svg)
