"""Rule tradeoff_dataset: a Study B data set (synthetic, CIFAR archive or npz) as one npz."""

import numpy as np

from reusebench.data.tradeoff_data import prepare_dataset, write_dataset
from reusebench.glue.workflow import logged

with logged(snakemake.log[0]) as log:
    source = snakemake.input[0] if len(snakemake.input) else None
    data = prepare_dataset(snakemake.wildcards.dataset, snakemake.params.settings, source)
    write_dataset(data, snakemake.output[0])
    log.info("%s: %d train / %d test images %s, %d classes, train class counts %s",
             snakemake.wildcards.dataset, len(data["y_train"]), len(data["y_test"]),
             data["x_train"].shape[1:], len(data["class_names"]),
             np.bincount(data["y_train"]).tolist())
