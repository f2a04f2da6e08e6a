from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


validate_config(config, "config/config.schema.yaml")


include: "workflow/rules/curves.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/nasbench.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_outputs(),
    default_target: True
