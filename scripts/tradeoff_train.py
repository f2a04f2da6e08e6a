"""Rule tradeoff_train: one Study B run (technique, training, timing, sizes)."""

from reusebench.tradeoff.experiment import RunSettings, resolve_weights, run_experiment
from reusebench.tradeoff.spec import Run
from reusebench.workflow import logged

with logged(snakemake.log[0]) as log:
    wildcards, settings = snakemake.wildcards, snakemake.params.settings
    run = Run(wildcards.dataset, wildcards.split, wildcards.arch, wildcards.technique,
              wildcards.device)
    weights = resolve_weights(settings["weights"], snakemake.input.get("pretrained"))
    summary = run_experiment(run, snakemake.input.data, weights,
                             RunSettings.from_config(settings), snakemake.threads,
                             snakemake.output, donor_path=snakemake.input.get("donor"),
                             log=log.info)
    log.info("accuracy %.4f, train %.1f s, test %.2f s, size %.2f MB (gzip %.2f MB)",
             summary["accuracy"], summary["train_seconds"], summary["test_seconds"],
             summary["size_mb"], summary["gzip_mb"])
