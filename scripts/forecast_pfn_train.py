"""Rule forecast_pfn_train: the LC-PFN forecaster's weights, trained on the package's prior."""

from reusebench.core.extras import require
from reusebench.glue.workflow import logged

with logged(snakemake.log[0]) as log:
    train = require("forecast", "reusebench.training.pfn.train")
    predict = require("forecast", "reusebench.training.pfn.predict")
    settings = snakemake.params.settings
    state, provenance = train.train_pfn(
        settings["steps"], settings["seed"], settings["device"], size=settings["size"],
        num_threads=snakemake.threads,
        progress=lambda step, loss: log.info("step %d: loss %.4f", step, loss))
    predict.save_weights(snakemake.output.weights, state, provenance,
                         snakemake.output.provenance)
    log.info("PFN %s: %d parameters, %d steps, %.0f s, sha256 %s", settings["size"],
             provenance["parameters"], provenance["steps"], provenance["seconds"],
             provenance["sha256"])
