"""Atomic file output: a reader never sees half a file, a failure leaves none behind.

Every output path is checked before anything is created or written (:func:`check_output`),
so a path that cannot be written is one InputError sentence naming it, not a traceback and
not a half-written set of files. A table's format follows its suffix (:func:`write_table`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from reusebench.core.errors import InputError

TABLE_SUFFIXES = (".csv", ".parquet")


def output_problem(path: str | Path, folder: bool = False) -> str | None:
    """Why ``path`` cannot be written as a file (or, with ``folder``, filled as a folder).

    None when it can: the path is absent or of the right kind, and its nearest existing
    ancestor is a folder this process may write to.
    """
    path = Path(path)
    wanted, other = ("folder", "file") if folder else ("file", "folder")
    if path.exists() and path.is_dir() != folder:
        return f"Cannot write {path}: it is an existing {other}, not a {wanted}."
    existing = path if folder and path.is_dir() else next(
        (parent for parent in path.parents if parent.exists()), Path("."))
    if not existing.is_dir():
        return f"Cannot create {path}: {existing} is a file, not a folder."
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"Cannot write {path}: the folder {existing} is not writable."
    return None


def check_output(path: str | Path, folder: bool = False) -> None:
    """InputError naming ``path`` and what is wrong unless it can be written."""
    problem = output_problem(path, folder)
    if problem is not None:
        raise InputError(problem)


def check_table_path(path: str | Path) -> None:
    """InputError unless ``path`` ends in .csv or .parquet and can be written."""
    if Path(path).suffix not in TABLE_SUFFIXES:
        raise InputError(f"{path}: a table must end in .csv or .parquet (the suffix decides "
                         "the format).")
    check_output(path)


def table_writer(table: Any, path: str | Path) -> Callable[[Path], object]:
    """The write function for ``table`` in the format ``path``'s suffix names."""
    check_table_path(path)
    if Path(path).suffix == ".parquet":
        return lambda tmp: table.to_parquet(tmp, index=False)
    return lambda tmp: table.to_csv(tmp, index=False)


def write_table(table: Any, path: str | Path) -> None:
    """Write a DataFrame as CSV or Parquet by ``path``'s suffix, atomically."""
    atomic_write(path, table_writer(table, path))


def _reserve(path: Path) -> Path:
    """A hidden temporary file beside ``path``, with the permissions a new file would get."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix,
                                            dir=path.parent)
    except OSError as error:
        raise InputError(f"Cannot write {path}: {error.strerror or error}.") from error
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_name, 0o666 & ~umask)  # mkstemp makes 0600 files
    return Path(tmp_name)


def _check_all(paths: Iterable[Path]) -> None:
    for path in paths:
        check_output(path)


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_path)`` and move the result onto ``path`` only if it succeeded."""
    atomic_write_all({Path(path): write})


def atomic_write_all(writes: dict[Path, Callable[[Path], object]]) -> None:
    """Write several files so that either all of them appear or none does.

    Every path is checked first (InputError naming the first that cannot be written).
    """
    writes = {Path(path): write for path, write in writes.items()}
    _check_all(writes)
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
