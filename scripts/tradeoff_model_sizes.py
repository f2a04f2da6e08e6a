"""Rule tradeoff_model_sizes: Table 1, the models' sizes in float32 and float16."""

from reusebench.core.extras import require
from reusebench.glue.workflow import logged
from reusebench.reporting.study_b.tables import write_table

with logged(snakemake.log[0]) as log:
    model_sizes = require("tradeoff", "reusebench.training.keras.experiment").model_sizes
    table = model_sizes(snakemake.params.archs, snakemake.params.gzip_level, snakemake.threads)
    write_table(table, snakemake.output.csv, snakemake.output.markdown,
                "Table 1: model sizes, float32 vs float16 (no top)",
                "Keras HDF5 files of the backbones without their top, MB = 10^6 bytes; "
                "gzip at the configured level.")
    log.info("\n%s", table.to_string())
