"""Outside training logs (TensorBoard, Keras CSVLogger, Lightning metrics.csv, the Study A
authors' CSV, and the stores of MLflow, W&B, Optuna, Ray Tune and Sacred) → the curve
table, so that ``reusebench metrics`` applies unchanged.

Modules: ``events``, ``csvlogs``, ``mlflow_store``, ``wandb_log``, ``optuna_store`` and
``tune_sacred`` read files into ``runlog.RunLog`` (``discover`` picks the reader);
``tags`` picks the train/test loss (or accuracy), epoch and time tags; ``align`` turns
steps into epochs; ``runkeys`` (with ``archnames``) names the runs; ``convert`` ties them
together.
"""

from reusebench.data.ingest.convert import (
    FORMATS,
    IngestedRun,
    IngestOptions,
    headline,
    ingest_logs,
    ingest_to_file,
    summary_lines,
)
from reusebench.data.ingest.runkeys import KeyOptions

__all__ = ["FORMATS", "IngestOptions", "IngestedRun", "KeyOptions", "headline", "ingest_logs",
           "ingest_to_file", "summary_lines"]
