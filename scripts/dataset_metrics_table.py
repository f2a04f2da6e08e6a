"""Rule dataset_metrics_table: the full metric table of one Study A data set."""

import pandas as pd

from reusebench.markdown import markdown_table
from reusebench.study_a import per_dataset_tables
from reusebench.workflow import logged

with logged(snakemake.log[0]):
    table = per_dataset_tables(pd.read_parquet(snakemake.input[0]))[snakemake.wildcards.dataset]
    table.to_csv(snakemake.output.csv, index=False)
    with open(snakemake.output.markdown, "w") as stream:
        stream.write(markdown_table(table))
