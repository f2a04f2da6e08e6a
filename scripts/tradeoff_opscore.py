"""Rule tradeoff_opscore: OpScore ranking of one data set (paper Tables 5 and 6)."""

import pandas as pd

from reusebench.markdown import markdown_table
from reusebench.tradeoff.opscore import NOTE
from reusebench.tradeoff.tables import dataset_ranking, write_table
from reusebench.workflow import logged

with logged(snakemake.log[0]) as log:
    dataset = snakemake.wildcards.dataset
    runs = pd.read_csv(snakemake.input[0], dtype={"split": str})
    table = dataset_ranking(runs, dataset)
    write_table(table, snakemake.output.csv, snakemake.output.markdown,
                f"OpScore ranking: {dataset}", NOTE)
    log.info("OpScore ranking of %s:\n%s", dataset, markdown_table(table, digits=3))
