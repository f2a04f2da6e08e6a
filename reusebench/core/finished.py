"""Outputs of the seeds a killed job had already finished, kept so its rerun skips them.

One job trains every seed of a configuration. When it is killed, Snakemake deletes all the
job's outputs before the rerun, finished seeds included. So each finished seed's outputs
are also hard-linked (no extra disk) into a hidden ``.finished`` folder beside them, with
the identity of the run that made them; the rerun of the same configuration links them
back instead of training again, and the job removes the folders once every seed is done.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from reusebench.core.io import atomic_write

FOLDER = ".finished"
IDENTITY = "identity.json"


def restore_finished(out_dir: str | Path, names: Sequence[str], identity: dict) -> bool:
    """Put back the outputs ``names`` a killed job of the same ``identity`` left in
    ``out_dir``; False (nothing changed) when there are none or they are another run's."""
    kept = Path(out_dir) / FOLDER
    try:
        saved = json.loads((kept / IDENTITY).read_text())
    except (OSError, ValueError):
        return False
    if saved != _as_json(identity) or not all((kept / name).is_file() for name in names):
        return False
    for name in names:
        _link(kept / name, Path(out_dir) / name)
    return True


def remember_finished(out_dir: str | Path, names: Sequence[str], identity: dict) -> None:
    """Keep the outputs ``names`` of a finished seed in ``out_dir/.finished``."""
    kept = Path(out_dir) / FOLDER
    shutil.rmtree(kept, ignore_errors=True)
    kept.mkdir()
    for name in names:
        _link(Path(out_dir) / name, kept / name)
    atomic_write(kept / IDENTITY, lambda tmp: tmp.write_text(json.dumps(_as_json(identity))))


def forget_finished(out_dirs: Iterable[str | Path]) -> None:
    """Remove the kept outputs once the whole job has finished."""
    for out_dir in out_dirs:
        shutil.rmtree(Path(out_dir) / FOLDER, ignore_errors=True)


def _as_json(identity: dict) -> object:
    return json.loads(json.dumps(identity, sort_keys=True, default=str))


def _link(source: Path, target: Path) -> None:
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copy2(source, target)
