"""Rule nasbench_download: fetch an official NAS-Bench-101 file and check its records."""

from reusebench.data.nasbench.download import fetch_nasbench
from reusebench.glue.workflow import logged

with logged(snakemake.log[0]) as log:
    source = snakemake.params.source
    records = fetch_nasbench(source["url"], snakemake.output[0], source.get("sha256"),
                             source.get("records"))
    log.info("%s: %d records verified", snakemake.output[0], records)
