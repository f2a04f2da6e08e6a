"""Rule study_a_tables: Table 5, its aggregate over seeds and the Eq. 11 check (Study A)."""

import pandas as pd

from reusebench.glue.workflow import logged
from reusebench.reporting.markdown import markdown_table
from reusebench.reporting.study_a.tables import (
    best_per_arch,
    eq11_check,
    resolve_eq11,
    seed_aggregate,
    seed_notes,
    table5_notes,
)

with logged(snakemake.log[0]) as log:
    run_metrics = pd.read_parquet(snakemake.input.metrics)
    out = snakemake.output
    easy, hard, reason = resolve_eq11(snakemake.params.eq11,
                                      pd.read_csv(snakemake.input.table4))
    tables = {"table5": (best_per_arch(run_metrics), table5_notes(run_metrics)),
              "table5_seeds": (seed_aggregate(run_metrics), seed_notes(run_metrics)),
              "eq11": (eq11_check(run_metrics, easy, hard), [reason])}
    for name, (table, notes) in tables.items():
        table.to_csv(out[name], index=False)
        text = "".join(f"{note}\n\n" for note in notes) + markdown_table(table)
        with open(out[f"{name}_markdown"], "w") as stream:
            stream.write(text)
        log.info("%s:\n%s", name, text)
