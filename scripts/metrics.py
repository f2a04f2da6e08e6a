"""Rule metrics: per-run and pairwise metrics of every curve table of a study."""

from pathlib import Path

from reusebench.core.metric_tables import compute_metric_files
from reusebench.glue.workflow import logged

with logged(snakemake.log[0]) as log:
    out_dir = Path(snakemake.output.metrics_csv).parent
    params = snakemake.params
    tables = compute_metric_files(snakemake.input, out_dir, params.delta, params.fit_points,
                                  params.diverge_factor, params.learn_margin,
                                  params.definitions)
    for name, table in tables.items():
        log.info("%s: %d rows", name, len(table))
