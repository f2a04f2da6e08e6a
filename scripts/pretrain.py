"""Rule pretrain: train an architecture on the source data set; its checkpoint is the
'pretrained' init of the grid."""

from reusebench.core.curves import write_curves
from reusebench.core.extras import require
from reusebench.data.microscopy import load_dataset
from reusebench.glue.workflow import logged

with logged(snakemake.log[0]) as log:
    pretrain_run = require("seg", "reusebench.training.seg.train").pretrain_run
    settings, training = snakemake.params.settings, snakemake.params.training
    curves = pretrain_run(load_dataset(snakemake.input[0]), snakemake.wildcards.arch,
                          settings["lr"], settings["seed"], settings["device"],
                          settings["epochs"], training["batch_size"],
                          snakemake.output.checkpoint, nvml_rate_hz=training["nvml_rate_hz"],
                          log=log.info, num_threads=snakemake.threads,
                          precise_bn=training["precise_bn"])
    write_curves(curves, snakemake.output.curves)
