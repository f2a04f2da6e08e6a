"""Rule recommend: the runs of a study ranked for one reuse task of Study A, Table 1."""

import pandas as pd

from reusebench.glue.workflow import logged
from reusebench.reporting.recommend import (
    candidate_table,
    recommend,
    recommendation_markdown,
    task_of,
    top_rows,
    write_recommendation,
)

with logged(snakemake.log[0]) as log:
    task = task_of(snakemake.wildcards.task)
    candidates = candidate_table(task, pd.read_parquet(snakemake.input.metrics),
                                 pd.read_parquet(snakemake.input.pairs),
                                 snakemake.input.metrics, snakemake.input.pairs)
    result = top_rows(recommend(task, candidates), snakemake.params.top)
    write_recommendation(result, [snakemake.output.csv, snakemake.output.markdown])
    log.info("\n%s", recommendation_markdown(result))
