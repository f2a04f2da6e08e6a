"""Rule tradeoff_opscore: OpScore ranking of one data set (paper Tables 5 and 6), per run
and as means over seeds."""

import pandas as pd

from reusebench.core.opscore import NOTE
from reusebench.glue.workflow import logged
from reusebench.reporting.markdown import markdown_table
from reusebench.reporting.study_b.tables import (
    SEED_NOTE,
    dataset_ranking,
    ranking_by_seed,
    write_table,
)

with logged(snakemake.log[0]) as log:
    dataset, out = snakemake.wildcards.dataset, snakemake.output
    runs = pd.read_csv(snakemake.input[0], dtype={"split": str})
    table = dataset_ranking(runs, dataset)
    write_table(table, out.csv, out.markdown, f"OpScore ranking: {dataset}", NOTE)
    seeds = ranking_by_seed(table)
    write_table(seeds, out.seeds_csv, out.seeds_markdown,
                f"OpScore ranking: {dataset}, mean over seeds", SEED_NOTE + NOTE)
    log.info("OpScore ranking of %s over seeds:\n%s", dataset, markdown_table(seeds, digits=3))
