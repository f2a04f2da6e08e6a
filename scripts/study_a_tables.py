"""Rule study_a_tables: Table 5 and the Eq. 11 check from the Study A metric table."""

import pandas as pd

from reusebench.markdown import markdown_table
from reusebench.study_a import best_per_arch, eq11_check
from reusebench.workflow import logged

with logged(snakemake.log[0]) as log:
    run_metrics = pd.read_parquet(snakemake.input[0])
    out, datasets = snakemake.output, snakemake.params.eq11
    tables = {"table5": best_per_arch(run_metrics),
              "eq11": eq11_check(run_metrics, datasets["easy"], datasets["hard"])}
    for name, table in tables.items():
        table.to_csv(out[name], index=False)
        with open(out[f"{name}_markdown"], "w") as stream:
            stream.write(markdown_table(table))
        log.info("%s:\n%s", name, markdown_table(table))
