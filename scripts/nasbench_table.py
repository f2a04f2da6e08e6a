"""Rule nasbench_table: read NAS-Bench-101 records into one Parquet table."""

from reusebench.nasbench.records import read_nasbench, write_nasbench_table
from reusebench.workflow import logged

with logged(snakemake.log[0]) as log:
    table = read_nasbench([snakemake.input[0]])
    write_nasbench_table(table, snakemake.output[0])
    mismatches = int((~table["hash_verified"]).sum())
    log.info("%d records, %d cells, %d hash mismatches", len(table),
             table["module_hash"].nunique(), mismatches)
