"""Glue for the scripts that Snakemake rules call (logging to the rule's log file), and a copy
of the workflow to run in another folder (tests, benchmarks)."""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

from reusebench.core.errors import InputError

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
