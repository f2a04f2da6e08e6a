"""Rule tradeoff_tables: Tables 2, 3, 4 and 7 of Study B, per run and over seeds."""

import pandas as pd

from reusebench.glue.workflow import logged
from reusebench.reporting.study_b.tables import read_summaries, study_b_tables, write_table

with logged(snakemake.log[0]) as log:
    runs = pd.read_csv(snakemake.input.runs, dtype={"split": str})
    baselines = pd.DataFrame(read_summaries(snakemake.input.baselines))
    out = snakemake.output
    for name, (title, note, table) in study_b_tables(runs, baselines).items():
        write_table(table, out[f"{name}_csv"], out[name], title, note)
        log.info("%s: %d rows", title, len(table))
