"""Helpers of the workflow (config validation, input functions, target lists)."""

import sys

import jsonschema
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

def validate_config(config, schema):
    """Validate and fill defaults; a bad key or value stops with one sentence naming it."""
    with open(schema) as stream:
        validator = jsonschema.Draft202012Validator(yaml.safe_load(stream))
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        print(f"Error: invalid configuration key '{key}' (see {schema}): {error.message}.",
              file=sys.stderr)
        sys.exit(2)
    validate(config, schema)


def synthetic_datasets():
    return config["synthetic_curves"]["datasets"]


def synthetic_curve_files():
    return expand("results/curves/synthetic/{dataset}.csv", dataset=synthetic_datasets())


def curve_files(wildcards):
    """Curve tables the metric stage of a study reads."""
    if wildcards.study == "synthetic":
        return synthetic_curve_files()
    raise WorkflowError(f"Unknown study '{wildcards.study}' in a metrics target.")


def nasbench_sources():
    return config["nasbench"]["sources"]


def nasbench_source_file(wildcards):
    """The records file behind a NAS-Bench source name."""
    source = wildcards.source
    if source == "mini":
        return "results/nasbench/mini/records.tfrecord"
    if source in config["nasbench"]["files"]:
        return config["nasbench"]["files"][source]
    if source in config["nasbench"]["downloads"]:
        return f"resources/nasbench/{source}.tfrecord"
    raise WorkflowError(f"NAS-Bench source '{source}' is neither 'mini' nor a key of "
                        "nasbench.files or nasbench.downloads in the config.")


def nasbench_download_source(wildcards):
    return config["nasbench"]["downloads"][wildcards.name]


def nasbench_outputs():
    return expand("results/tables/nasbench/{source}/claims.md", source=nasbench_sources())


def all_outputs():
    metric_tables = expand("results/metrics/{study}/{table}.{ext}", study=["synthetic"],
                           table=["metrics", "pairs", "unpaired"], ext=["csv", "parquet"])
    summaries = expand("results/tables/{study}/metrics_summary.md", study=["synthetic"])
    return [*metric_tables, *summaries, *nasbench_outputs()]
