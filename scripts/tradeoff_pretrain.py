"""Rule tradeoff_pretrain: backbone weights trained on a synthetic source task or on a Study B
data set's training split (input ``dataset``, when study_b.pretrain.source names one)."""

from reusebench.core.extras import require
from reusebench.glue.workflow import logged

with logged(snakemake.log[0]) as log:
    experiment_module = require("tradeoff", "reusebench.training.keras.experiment")
    PretrainSettings = experiment_module.PretrainSettings
    pretrain_backbone = experiment_module.pretrain_backbone
    settings = dict(snakemake.params.settings)
    device = settings.pop("device")
    dataset = snakemake.input.get("dataset")
    pretrain_backbone(snakemake.wildcards.arch, PretrainSettings(**settings), snakemake.threads,
                      snakemake.output[0], device=device, log=log.info, dataset_path=dataset)
