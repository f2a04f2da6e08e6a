"""Rule nasbench_table: read NAS-Bench-101 records into one Parquet table."""

from reusebench.data.nasbench.records import convert_nasbench
from reusebench.glue.workflow import logged

with logged(snakemake.log[0]) as log:
    rows, cells, mismatches = convert_nasbench([snakemake.input[0]], snakemake.output[0],
                                               processes=snakemake.threads)
    log.info("%d records, %d cells, %d hash mismatches", rows, cells, mismatches)
