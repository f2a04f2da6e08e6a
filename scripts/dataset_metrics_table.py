"""Rule dataset_metrics_table: the full metric table of one Study A data set."""

import pandas as pd

from reusebench.glue.workflow import logged
from reusebench.reporting.markdown import markdown_table
from reusebench.reporting.study_a.tables import per_dataset_tables

with logged(snakemake.log[0]):
    table = per_dataset_tables(pd.read_parquet(snakemake.input[0]))[snakemake.wildcards.dataset]
    table.to_csv(snakemake.output.csv, index=False)
    with open(snakemake.output.markdown, "w") as stream:
        stream.write(markdown_table(table))
