"""Rule forecast_nasbench_curves: a NAS-Bench-101 source's cells as a curve table."""

import pandas as pd

from reusebench.core.forecast.targets import nasbench_curves
from reusebench.core.io import write_table
from reusebench.glue.workflow import logged

with logged(snakemake.log[0]) as log:
    curves = nasbench_curves(pd.read_parquet(snakemake.input[0]), snakemake.wildcards.source)
    write_table(curves, snakemake.output[0])  # test_accuracy only: forecast as 1 − accuracy
    log.info("%d cells, %d evaluation points", curves["arch"].nunique(), len(curves))
