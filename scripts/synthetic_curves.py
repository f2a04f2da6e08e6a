"""Rule synthetic_curves: write one dataset's synthetic curve table."""

import zlib

from reusebench.core.curves import write_curves
from reusebench.data.synthetic import synthetic_curves, synthetic_grid
from reusebench.glue.workflow import logged

with logged(snakemake.log[0]) as log:
    settings = snakemake.params.settings
    dataset = snakemake.wildcards.dataset
    keys = synthetic_grid([dataset], settings["archs"], settings["lrs"], settings["inits"],
                          settings["seeds"])
    curves = synthetic_curves(keys, settings["epochs"], seed=zlib.crc32(dataset.encode()),
                              diverging_fraction=settings["diverging_fraction"])
    write_curves(curves, snakemake.output[0])
    log.info("%d runs × %d epochs -> %s", len(keys), settings["epochs"], snakemake.output[0])
