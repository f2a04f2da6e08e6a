"""Rule dataset: build one Study A data set from its config entry and save it as .npz."""

from reusebench.data.datasets.build import build_dataset
from reusebench.data.microscopy import save_dataset
from reusebench.glue.workflow import logged
from reusebench.reporting.study_a.tables import dataset_summary

with logged(snakemake.log[0]) as log:
    folder = snakemake.input[0] if len(snakemake.input) else None
    data = build_dataset(snakemake.wildcards.dataset, snakemake.params.spec, folder)
    save_dataset(data, snakemake.output[0])
    log.info("%s", dataset_summary(data))
