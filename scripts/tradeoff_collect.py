"""Rule tradeoff_collect: every run summary as one row of runs.csv."""

from reusebench.core.curves import write_table
from reusebench.glue.workflow import logged
from reusebench.reporting.study_b.tables import read_summaries, runs_table

with logged(snakemake.log[0]) as log:
    runs = runs_table(read_summaries(snakemake.input))
    write_table(runs, snakemake.output[0])
    log.info("%d runs", len(runs))
