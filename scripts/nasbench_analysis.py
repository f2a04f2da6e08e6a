"""Rule nasbench_analysis: family statistics, contour metrics, claims and Fig. 7."""

import pandas as pd

from reusebench.glue.workflow import logged
from reusebench.reporting.markdown import markdown_table
from reusebench.reporting.nasbench.analysis import analyse
from reusebench.reporting.nasbench.figure import accuracy_by_budget
from reusebench.reporting.plots import save_figure

with logged(snakemake.log[0]) as log:
    tables = analyse(pd.read_parquet(snakemake.input[0]), snakemake.params.split)
    out = snakemake.output
    tables["summary"].to_csv(out.summary, index=False)
    tables["metrics"].to_csv(out.metrics, index=False)
    tables["contours"].to_csv(out.contours, index=False)
    tables["claims"].to_csv(out.claims_csv, index=False)
    with open(out.claims, "w") as stream:
        stream.write(markdown_table(tables["claims"]))
    save_figure(accuracy_by_budget(tables["summary"], snakemake.params.split),
                out.figure_png, out.figure_svg)
    log.info("claims:\n%s", markdown_table(tables["claims"]))
