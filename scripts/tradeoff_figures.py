"""Rule tradeoff_figures: Figs. 3, 4, 5 and 8 of Study B."""

import pandas as pd

from reusebench.core.curves import read_many
from reusebench.core.extras import require
from reusebench.glue.workflow import logged
from reusebench.reporting.plots import save_figure

with logged(snakemake.log[0]) as log:
    figures = require("tradeoff", "reusebench.reporting.study_b.figures")
    runs = pd.read_csv(snakemake.input.runs, dtype={"split": str})
    out = snakemake.output
    save_figure(figures.accuracy_curves(read_many(snakemake.input.curves)), out.curves,
                out.curves_svg)
    save_figure(figures.accuracy_by_technique(runs), out.techniques, out.techniques_svg)
    save_figure(figures.accuracy_vs_unfrozen(runs), out.unfrozen, out.unfrozen_svg)
    save_figure(figures.accuracy_vs_clusters(runs), out.clusters, out.clusters_svg)
    log.info("figures of %d runs", len(runs))
