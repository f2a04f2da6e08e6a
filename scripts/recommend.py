"""Rules recommend and recommend_forecast: the runs of a study ranked for one reuse task of
Study A, Table 1 (refine by the predicted M_er too where a forecast table is given)."""

import pandas as pd

from reusebench.core.forecast.predict import read_forecast_table
from reusebench.glue.workflow import logged
from reusebench.reporting.recommend import (
    candidate_table,
    recommend,
    recommendation_markdown,
    task_of,
    top_rows,
    with_forecast,
)
from reusebench.reporting.recommend import write_recommendation as write

with logged(snakemake.log[0]) as log:
    files, forecast = snakemake.input, hasattr(snakemake.input, "forecast")
    task = task_of("refine" if forecast else snakemake.wildcards.task)
    candidates = candidate_table(task, pd.read_parquet(files.metrics),
                                 pd.read_parquet(files.pairs), files.metrics, files.pairs)
    if forecast:
        task, candidates = with_forecast(task, candidates, read_forecast_table(files.forecast))
    result = top_rows(recommend(task, candidates), snakemake.params.top)
    write(result, [snakemake.output.csv, snakemake.output.markdown])
    log.info("\n%s", recommendation_markdown(result))
