"""Rule tradeoff_baseline: scores of uniformly random predictions on a data set."""

import json

from reusebench.io import atomic_write
from reusebench.tradeoff.data import load_npz_dataset
from reusebench.tradeoff.scores import random_baseline
from reusebench.workflow import logged

with logged(snakemake.log[0]) as log:
    data = load_npz_dataset(snakemake.input[0])
    row = random_baseline(data, snakemake.wildcards.dataset, snakemake.params.seed)
    atomic_write(snakemake.output[0], lambda tmp: tmp.write_text(json.dumps(row, indent=2)))
    log.info("random baseline: %s", row)
