"""The workflow's config, checked before any job: every problem is one sentence (InputError).

``workflow/rules/common.smk`` calls these through :mod:`reusebench.glue.workflow` and turns
an InputError into ``Error: …`` and exit status 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from contextlib import redirect_stderr
from io import StringIO
from pathlib import Path

import yaml

from reusebench.core.errors import InputError
from reusebench.data.datasets.build import check_dataset_names
from reusebench.data.download import check_download
from reusebench.glue.configcheck import schema_problem, typed_strings
from reusebench.glue.devices import check_devices, visible_gpu_names
from reusebench.glue.recovery import clear_stale_leftovers

DATA_ROOT_FIELD = "{data_root}"


def typed_config(config: dict, schema_path: str | Path) -> dict:
    """``config`` with --config strings typed by the schema; InputError naming a bad key."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    typed = typed_strings(config, schema, schema)
    problem = schema_problem(typed, schema_path)
    if problem is not None:
        raise InputError(problem)
    return typed


def resolve_data_root(config: dict, configfiles: Sequence[str | Path]) -> dict:
    """The config with "{data_root}" in every string replaced by config["data_root"];
    InputError when it is unset or a path then does not exist."""
    named: list[tuple[str, str]] = []

    def substitute(value: object, key: str) -> object:
        if isinstance(value, dict):
            return {name: substitute(item, f"{key}.{name}" if key else name)
                    for name, item in value.items()}
        if isinstance(value, list):
            return [substitute(item, f"{key}[{index}]") for index, item in enumerate(value)]
        if isinstance(value, str) and DATA_ROOT_FIELD in value:
            resolved = value.replace(DATA_ROOT_FIELD, str(config["data_root"]))
            named.append((key, resolved))
            return resolved
        return value

    resolved = substitute({key: value for key, value in config.items() if key != "data_root"},
                          "")
    where = ", ".join(str(path) for path in configfiles) or "the config"
    if named and not config.get("data_root"):
        raise InputError(f"{where} uses {DATA_ROOT_FIELD} (key {named[0][0]}) but data_root is "
                         "not set: pass --config data_root=FOLDER (the folder of the real "
                         "data).")
    for key, path in named:
        if not os.path.exists(path):
            raise InputError(f"Configuration key {key} names {path}, which does not exist "
                             f"under data_root {config['data_root']} ({where}).")
    return {**config, **resolved}


def check_study_a(config: dict) -> None:
    """Data set names the Study A grid refers to must exist."""
    settings = config["study_a"]
    check_dataset_names(settings["datasets"], settings["targets"],
                        settings["pretrain"]["source"], settings["eq11"], settings["inits"])


def trains_pfn(config: dict) -> bool:
    """Whether the workflow trains the pfn predictor's weights (pfn asked for, none given)."""
    forecast = config["forecast"]
    return (forecast["enabled"] and "pfn" in forecast["predictors"]
            and not forecast["pfn"]["weights"])


def check_forecast(config: dict) -> None:
    """Training logs listed under forecast.logs and weights given for the pfn predictor must
    exist, and the pfn device must be a torch device."""
    forecast = config["forecast"]
    if not forecast["enabled"]:
        return
    for name, path in forecast["logs"].items():
        if not os.path.exists(path):
            raise InputError(f"Configuration key forecast.logs.{name} names {path}, which does "
                             "not exist; give a folder or file of training logs that "
                             "`reusebench ingest` reads.")
    if "pfn" not in forecast["predictors"]:
        return
    weights, device = forecast["pfn"]["weights"], forecast["pfn"]["device"]
    if weights and not Path(weights).is_file():
        raise InputError(f"Configuration key forecast.pfn.weights names {weights}, which is "
                         "not a file; give a checkpoint of `reusebench forecast-pfn-train`, or "
                         "null to let the pipeline train one.")
    if not (device in ("cpu", "cuda") or device.removeprefix("cuda:").isdigit()):
        raise InputError(f"Configuration key forecast.pfn.device is {device!r}; use cpu, cuda "
                         "or cuda:N.")


def check_downloads(config: dict) -> None:
    """Every configured download: http(s), and a SHA-256 (or sha256: skip, or a NAS-Bench-101
    record count)."""
    entries = [(f"study_a.datasets.{name}", spec, False)
               for name, spec in config["study_a"]["datasets"].items()
               if spec.get("kind") == "a10" and spec.get("url")]
    entries += [(f"nasbench.downloads.{name}", spec, spec.get("records") is not None)
                for name, spec in config["nasbench"]["downloads"].items()]
    for key, spec, verified in entries:
        check_download(spec["url"], spec.get("sha256"), key, verified)


def named_devices(config: dict) -> list[tuple[str, str]]:
    """(config key, device) for every device the config names."""
    study_a, study_b = config["study_a"], config["study_b"]
    named = [(f"study_a.devices[{i}]", device) for i, device in enumerate(study_a["devices"])]
    named.append(("study_a.pretrain.device", study_a["pretrain"]["device"]))
    named.append(("study_b.pretrain.device", study_b["pretrain"]["device"]))
    named += [(f"study_b.runs[{i}].devices", device)
              for i, grid in enumerate(study_b["runs"]) for device in grid["devices"]]
    if trains_pfn(config):
        named.append(("forecast.pfn.device", config["forecast"]["pfn"]["device"]))
    return named


def check_devices_here(config: dict, argv: Sequence[str]) -> None:
    """Devices the config names must exist here when jobs run here (local executor, dry run
    included). Cluster runs check on the compute node."""
    if not (config["check_devices"] and runs_jobs_here(argv)):
        return
    problem = check_devices(named_devices(config), visible_gpu_names())
    if problem is not None:
        raise InputError(problem)


def runs_jobs_here(argv: Sequence[str]) -> bool:
    """False when the Snakemake command line (profile included) submits jobs to a cluster
    executor, or only unlocks."""
    from snakemake.cli import parse_args

    if "--unlock" in argv:
        return False
    try:
        with redirect_stderr(StringIO()):
            _, args = parse_args(list(argv[1:]))
    except (Exception, SystemExit):
        return True
    return getattr(args, "executor", None) in (None, "local", "dryrun", "touch")


def clear_killed_run_leftovers(config: dict, argv: Sequence[str]) -> None:
    """Locks and temp files a killed run left, removed when no other Snakemake process of
    this machine runs here (so the same command reruns without --unlock)."""
    if "--unlock" in argv:
        return
    removed = clear_stale_leftovers(".", config["results_dir"])
    if removed:
        print(f"Removed {len(removed)} leftovers of a killed run (stale locks in "
              f".snakemake/locks, temp files of unfinished writes), e.g. {removed[0]}.",
              file=sys.stderr)
