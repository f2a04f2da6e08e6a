"""Rule tradeoff_bubble: accuracy vs inference time, bubble area = size (Figs. 6-7)."""

import pandas as pd

from reusebench.core.extras import require
from reusebench.glue.workflow import logged
from reusebench.reporting.plots import save_figure
from reusebench.reporting.study_b.tables import own_split

with logged(snakemake.log[0]) as log:
    bubble_chart = require("tradeoff", "reusebench.reporting.study_b.figures").bubble_chart
    runs = own_split(pd.read_csv(snakemake.input[0], dtype={"split": str}))
    save_figure(bubble_chart(runs, snakemake.wildcards.dataset), snakemake.output.png,
                snakemake.output.svg)
    log.info("bubble chart of %d runs", len(runs))
