"""Outside training logs (TensorBoard, Keras CSVLogger, Lightning metrics.csv, the Study A
authors' CSV) → the curve table, so that ``reusebench metrics`` applies unchanged.

Modules: ``events`` and ``csvlogs`` read files into ``runlog.RunLog``; ``tags`` picks the
train/test loss, epoch and time tags; ``align`` turns steps into epochs; ``runkeys`` names
the runs; ``convert`` ties them together.
"""

from reusebench.ingest.convert import (
    FORMATS,
    IngestedRun,
    IngestOptions,
    ingest_logs,
    ingest_to_file,
    summary_lines,
)
from reusebench.ingest.runkeys import KeyOptions

__all__ = ["FORMATS", "IngestOptions", "IngestedRun", "KeyOptions", "ingest_logs",
           "ingest_to_file", "summary_lines"]
