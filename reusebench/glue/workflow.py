"""Glue for the workflow: what its rule files use (config checks, the Study B run grid),
logging of the scripts rules call, and a copy of the workflow to run in another folder."""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

from reusebench.core.errors import InputError
from reusebench.core.tradeoff_runs import (
    SYNTHETIC_CLASSES,
    Run,
    donor_run,
    expand_runs,
    parse_technique,
    run_epochs,
)
from reusebench.data.tradeoff_data import CIFAR
from reusebench.glue.configcheck import load_config_file
from reusebench.glue.workflow_config import (
    check_devices_here,
    check_downloads,
    check_forecast,
    check_study_a,
    clear_killed_run_leftovers,
    resolve_data_root,
    typed_config,
)

# workflow/rules/common.smk imports what it uses from here and no other library module
__all__ = ["CIFAR", "SYNTHETIC_CLASSES", "WORKFLOW_PARTS", "InputError", "Run",
           "check_devices_here", "check_downloads", "check_forecast", "check_study_a",
           "clear_killed_run_leftovers", "copy_workflow", "donor_run", "expand_runs",
           "load_config_file", "logged", "parse_technique", "resolve_data_root", "run_epochs",
           "typed_config"]

WORKFLOW_PARTS = ("Snakefile", "config", "workflow", "scripts", "envs", "profiles")


@contextlib.contextmanager
def logged(log_path: str | Path) -> Iterator[logging.Logger]:
    """Send prints, warnings and errors of the block to the rule's log file.

    Bad input is logged as its one sentence; any other error with its traceback.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", buffering=1) as stream, contextlib.redirect_stdout(stream), \
            contextlib.redirect_stderr(stream):
        logging.basicConfig(stream=stream, level=logging.INFO, force=True,
                            format="%(asctime)s %(levelname)s %(message)s")
        logging.captureWarnings(True)
        try:
            yield logging.getLogger("reusebench")
        except InputError as error:
            print(f"error: {error}", file=stream)
            print(f"error: {error}", file=sys.__stderr__)
            raise SystemExit(2) from None
        except Exception:
            traceback.print_exc(file=stream)
            raise


def copy_workflow(checkout: str | Path, target: str | Path) -> Path:
    """Copy the workflow files of a checkout of this repository into ``target`` (results
    written there stay there); returns ``target``."""
    checkout, target = Path(checkout), Path(target)
    for part in WORKFLOW_PARTS:
        source = checkout / part
        if source.is_dir():
            shutil.copytree(source, target / part)
        else:
            shutil.copy(source, target / part)
    return target

