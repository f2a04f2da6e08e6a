"""SQLite files of trackers (MLflow's ``mlflow.db``, Optuna's RDB storage), opened read-only
with the standard library, and told apart by their tables."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from reusebench.core.errors import InputError

SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
MLFLOW_TABLES = frozenset({"experiments", "runs", "metrics", "params"})
OPTUNA_TABLES = frozenset({"studies", "trials", "trial_params", "trial_intermediate_values"})


def is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as stream:
            return stream.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def open_sqlite(path: Path) -> sqlite3.Connection:
    """A read-only connection (a store being written by a live run is not changed)."""
    try:
        connection = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
        connection.execute("select count(*) from sqlite_master").fetchone()
    except sqlite3.Error as error:
        raise InputError(f"{path} cannot be opened as an SQLite database ({error}).") from error
    return connection


def table_names(connection: sqlite3.Connection) -> set[str]:
    return {row[0] for row in connection.execute(
        "select name from sqlite_master where type = 'table'")}


def store_kind(path: Path) -> str:
    """``mlflow`` or ``optuna``; InputError naming the file when it is neither."""
    if not is_sqlite(path):
        raise InputError(f"{path} is not an SQLite database (an MLflow mlflow.db or an Optuna "
                         "storage starts with 'SQLite format 3').")
    connection = open_sqlite(path)
    try:
        tables = table_names(connection)
    finally:
        connection.close()
    if tables >= MLFLOW_TABLES:
        return "mlflow"
    if tables >= OPTUNA_TABLES:
        return "optuna"
    found = ", ".join(sorted(tables)[:8]) or "none"
    raise InputError(f"{path} is an SQLite database but neither an MLflow tracking store "
                     "(tables experiments, runs, metrics, params) nor an Optuna storage "
                     f"(tables studies, trials, …); tables found: {found}.")


def query(connection: sqlite3.Connection, path: Path, sql: str,
          parameters: tuple = ()) -> list[tuple]:
    """All rows of a query; InputError naming the file when the store cannot answer it."""
    try:
        return connection.execute(sql, parameters).fetchall()
    except sqlite3.Error as error:
        raise InputError(f"{path} cannot be read as a tracker store ({error}).") from error
