"""Rule tradeoff_download: fetch an official CIFAR archive and check its md5."""

from reusebench.data.tradeoff_data import fetch_cifar
from reusebench.glue.workflow import logged

with logged(snakemake.log[0]) as log:
    path = fetch_cifar(snakemake.params.name, snakemake.output[0])
    log.info("%s: %s verified", snakemake.params.name, path)
