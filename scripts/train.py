"""Rule train: one Study A configuration (dataset × arch × init × lr × seed × device)."""

from pathlib import Path

from reusebench.datasets.microscopy import load_dataset
from reusebench.seg.train import train_run
from reusebench.workflow import logged

with logged(snakemake.log[0]) as log:
    run, training = snakemake.wildcards, snakemake.params.training
    pretrained = snakemake.input.pretrained or None
    train_run(load_dataset(snakemake.input.data), run.arch, float(run.lr), run.init,
              int(run.seed), run.device, training["epochs"], training["batch_size"],
              Path(snakemake.output.curves).parent, pretrained_checkpoint=pretrained,
              nvml_rate_hz=training["nvml_rate_hz"], log=log.info,
              num_threads=snakemake.threads, torch_home=training["torch_home"],
              precise_bn=training["precise_bn"])
