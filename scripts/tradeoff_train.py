"""Rule tradeoff_train: one Study B configuration for every seed (one folder per seed)."""

from reusebench.core.extras import require
from reusebench.core.tradeoff_runs import Run
from reusebench.glue.workflow import logged

with logged(snakemake.log[0]) as log:
    experiment_module = require("tradeoff", "reusebench.training.keras.experiment")
    RunSettings = experiment_module.RunSettings
    resolve_weights = experiment_module.resolve_weights
    run_seeds = experiment_module.run_seeds
    wildcards, settings = snakemake.wildcards, snakemake.params.settings
    run = Run(wildcards.dataset, wildcards.split, wildcards.arch, wildcards.technique,
              wildcards.device)
    weights = resolve_weights(settings["weights"], snakemake.input.get("pretrained"))
    outputs = {key: list(snakemake.output[key]) for key in ("curves", "summary", "model")}
    donors = snakemake.input.get("donor")
    summaries = run_seeds(run, settings["seeds"], snakemake.input.data, weights,
                          RunSettings.from_config(settings), snakemake.threads, outputs,
                          donor_paths=None if donors is None else list(donors), log=log.info)
    for summary in summaries:
        log.info("seed %d: accuracy %.4f (p %.2g), train %.1f s, test %.2f s, size %.2f MB",
                 summary["seed"], summary["accuracy"], summary["above_chance_p"],
                 summary["train_seconds"], summary["test_seconds"], summary["size_mb"])
