"""Rule train: one Study A configuration (dataset × arch × init × lr × device), every seed of
study_a.seeds in this one process, each into its own run folder."""

from pathlib import Path

from reusebench.core.extras import require
from reusebench.data.microscopy import load_dataset
from reusebench.glue.workflow import logged

with logged(snakemake.log[0]) as log:
    train_seeds = require("seg", "reusebench.training.seg.train").train_seeds
    run, training = snakemake.wildcards, snakemake.params.training
    train_seeds(load_dataset(snakemake.input.data), training["seeds"],
                [Path(curves).parent for curves in snakemake.output.curves],
                arch=run.arch, lr=float(run.lr), init=run.init, device=run.device,
                epochs=training["epochs"], batch_size=training["batch_size"],
                pretrained_checkpoint=snakemake.input.pretrained or None,
                nvml_rate_hz=training["nvml_rate_hz"], log=log.info,
                num_threads=snakemake.threads, torch_home=training["torch_home"],
                precise_bn=training["precise_bn"],
                keep_optimizer_state=training["keep_optimizer_state"],
                checkpoint_dtype=training["checkpoint_dtype"])
