"""Rule table4: Study A Table 4 over the data sets of the grid."""

from reusebench.data.microscopy import load_dataset
from reusebench.glue.workflow import logged
from reusebench.reporting.markdown import markdown_table
from reusebench.reporting.study_a.tables import table4

with logged(snakemake.log[0]) as log:
    table = table4([load_dataset(path) for path in snakemake.input])
    table.to_csv(snakemake.output.csv, index=False)
    with open(snakemake.output.markdown, "w") as stream:
        stream.write(markdown_table(table))
    log.info("Table 4:\n%s", markdown_table(table))
