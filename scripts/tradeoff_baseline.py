"""Rule tradeoff_baseline: scores of uniformly random predictions on a data set."""

import json

from reusebench.core.io import atomic_write
from reusebench.core.task_scores import random_baseline
from reusebench.data.tradeoff_data import load_npz_dataset
from reusebench.glue.workflow import logged

with logged(snakemake.log[0]) as log:
    data = load_npz_dataset(snakemake.input[0])
    row = random_baseline(data, snakemake.wildcards.dataset, snakemake.params.seed)
    atomic_write(snakemake.output[0], lambda tmp: tmp.write_text(json.dumps(row, indent=2)))
    log.info("random baseline: %s", row)
