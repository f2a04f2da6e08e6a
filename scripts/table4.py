"""Rule table4: Study A Table 4 over the data sets of the grid."""

from reusebench.datasets.build import table4
from reusebench.datasets.microscopy import load_dataset
from reusebench.markdown import markdown_table
from reusebench.workflow import logged

with logged(snakemake.log[0]) as log:
    table = table4([load_dataset(path) for path in snakemake.input])
    table.to_csv(snakemake.output.csv, index=False)
    with open(snakemake.output.markdown, "w") as stream:
        stream.write(markdown_table(table))
    log.info("Table 4:\n%s", markdown_table(table))
