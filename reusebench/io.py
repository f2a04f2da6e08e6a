"""Atomic file output: a reader never sees half a file, a failure leaves none behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def _reserve(path: Path) -> Path:
    """A hidden temporary file beside ``path``, with the permissions a new file would get."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix,
                                        dir=path.parent)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_name, 0o666 & ~umask)  # mkstemp makes 0600 files
    return Path(tmp_name)


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_path)`` and move the result onto ``path`` only if it succeeded."""
    path = Path(path)
    tmp = _reserve(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_all(writes: dict[Path, Callable[[Path], object]]) -> None:
    """Write several files so that either all of them appear or none does."""
    staged: dict[Path, Path] = {}
    try:
        for path, write in writes.items():
            staged[path] = _reserve(path)
            write(staged[path])
        for path, tmp in staged.items():
            os.replace(tmp, path)
    finally:
        for tmp in staged.values():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
