"""Rule a10_download: fetch and unpack the NIST A10 archive named in the config."""

from reusebench.data.microscopy import fetch_a10
from reusebench.glue.workflow import logged

with logged(snakemake.log[0]) as log:
    spec = snakemake.params.spec
    folder = fetch_a10(snakemake.output[0], spec.get("url"), spec.get("sha256"))
    log.info("A10 images and masks in %s", folder)
