"""Leftovers of a killed run: Snakemake's locks and the hidden temp files of atomic writes.

After ``kill -9`` of Snakemake, its locks stay in ``.snakemake/locks`` and the next run of
the same command stops until ``--unlock``; a killed job leaves the hidden temp file of the
output it was writing (``.checkpoint.pt.<8 random characters>.pt``, see
:func:`reusebench.core.io.atomic_write`). Both are removed when no other Snakemake process of
this machine runs in the same folder. Processes on other machines are not seen: do not
start two runs of one folder from two machines of a cluster at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import psutil

TEMP_NAME = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}(?P<suffix>\.[^.]*)?")


def is_atomic_temp(name: str) -> bool:
    """True for the name of a temp file :func:`reusebench.core.io.atomic_write` leaves behind."""
    match = TEMP_NAME.fullmatch(name)
    return bool(match) and match["target"].endswith(match["suffix"] or "")


def other_snakemake_running(folder: str | Path, own_pids: Iterable[int]) -> bool:
    """True when a Snakemake process other than ``own_pids`` runs with ``folder`` as its
    working directory on this machine."""
    folder, own = os.path.realpath(folder), set(own_pids)
    for process in psutil.process_iter(["pid", "cmdline", "cwd"]):
        info = process.info
        if info["pid"] in own or not info["cmdline"] or not info["cwd"]:
            continue
        if any("snakemake" in part for part in info["cmdline"][:3]) \
                and os.path.realpath(info["cwd"]) == folder:
            return True
    return False


def own_process_tree() -> set[int]:
    """This process and its ancestors (the shell and the ``snakemake`` that started it)."""
    process = psutil.Process()
    return {process.pid, *(parent.pid for parent in process.parents())}


def stale_leftovers(folder: str | Path, results: str | Path) -> list[Path]:
    """Lock files of ``folder/.snakemake/locks`` and atomic-write temp files under
    ``results`` (relative to ``folder``)."""
    folder = Path(folder)
    locks = sorted((folder / ".snakemake" / "locks").glob("*.lock"))
    results = folder / results
    temps = sorted(path for path in results.rglob(".*") if path.is_file()
                   and is_atomic_temp(path.name)) if results.is_dir() else []
    return locks + temps


def clear_stale_leftovers(folder: str | Path, results: str | Path) -> list[Path]:
    """Remove the leftovers of a killed run unless another Snakemake runs in ``folder``;
    returns what was removed."""
    leftovers = stale_leftovers(folder, results)
    if not leftovers or other_snakemake_running(folder, own_process_tree()):
        return []
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers
