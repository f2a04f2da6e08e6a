"""Rule tradeoff_collect: every run summary as one row of runs.csv."""

from reusebench.curves import write_table
from reusebench.tradeoff.tables import read_summaries, runs_table
from reusebench.workflow import logged

with logged(snakemake.log[0]) as log:
    runs = runs_table(read_summaries(snakemake.input))
    write_table(runs, snakemake.output[0])
    log.info("%d runs", len(runs))
