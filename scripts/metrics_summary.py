"""Rule metrics_summary: a Markdown digest of a study's metric tables."""

import pandas as pd

from reusebench.glue.workflow import logged
from reusebench.reporting.report import metrics_summary_markdown

with logged(snakemake.log[0]):
    run_metrics = pd.read_parquet(snakemake.input.metrics)
    pairs = pd.read_parquet(snakemake.input.pairs)
    text = metrics_summary_markdown(run_metrics, pairs, snakemake.wildcards.study)
    with open(snakemake.output[0], "w") as stream:
        stream.write(text)
