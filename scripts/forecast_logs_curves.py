"""Rule forecast_logs_curves: training logs a user has (TensorBoard, CSV, tracker stores) as
a curve table, read as `reusebench ingest` reads them."""

from reusebench.data.ingest import headline, ingest_to_file, summary_lines
from reusebench.glue.workflow import logged

with logged(snakemake.log[0]) as log:
    _, report = ingest_to_file([snakemake.input[0]], snakemake.output[0])
    log.info("%s\n%s", headline(report), "\n".join(summary_lines(report)))
