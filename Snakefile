from snakemake.utils import min_version

min_version("9.0")


include: "workflow/rules/common.smk"


check_default_config("config/config.yaml")


configfile: "config/config.yaml"


validate_config(config, "config/config.schema.yaml")
resolve_data_root(config, workflow.configfiles)
check_study_a_config(config)
check_downloads(config)
check_config_devices(workflow, config)
clear_killed_run_leftovers(workflow, config)


include: "workflow/rules/data.smk"
include: "workflow/rules/segmentation.smk"
include: "workflow/rules/curves.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/nasbench.smk"
include: "workflow/rules/tradeoff.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/cards.smk"
include: "workflow/rules/reuse.smk"


rule all:
    input:
        all_outputs(),
    default_target: True
