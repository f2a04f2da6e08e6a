from snakemake.utils import min_version

min_version("9.0")


include: "workflow/rules/common.smk"


check_default_config("config/config.yaml")


configfile: "config/config.yaml"


prepare_config(workflow, config, "config/config.schema.yaml")


include: "workflow/rules/data.smk"
include: "workflow/rules/segmentation.smk"
include: "workflow/rules/curves.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/nasbench.smk"
include: "workflow/rules/tradeoff.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/cards.smk"
include: "workflow/rules/reuse.smk"
include: "workflow/rules/forecast.smk"


rule all:
    input:
        all_outputs(),
    default_target: True
