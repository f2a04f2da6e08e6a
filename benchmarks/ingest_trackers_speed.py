"""Time ``reusebench ingest`` on an MLflow SQLite store of 1,000 runs × 100 epochs.

The store is made the way MLflow makes it where MLflow is installed (its own schema,
created by ``MlflowClient``); the runs are then written straight into its tables with
``sqlite3`` (MLflow's client would take minutes for 200,000 metric values): per run a name,
params lr / arch / seed, and ``train_loss`` / ``val_loss`` per epoch (steps 0..99, ms
timestamps). Without MLflow the tables are made with MLflow's column names. Then the whole
ingest (read, tags, epochs, keys, validation, writing Parquet) is timed, best of
``--repeat``. The target: ≤ 10 s on 2 cores.

    python benchmarks/ingest_trackers_speed.py [--runs 1000] [--epochs 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from reusebench.data.ingest import IngestOptions, headline, ingest_to_file

MINIMAL_SCHEMA = """
create table experiments (experiment_id integer primary key, name varchar(256),
    artifact_location varchar(256), lifecycle_stage varchar(32), creation_time bigint,
    last_update_time bigint);
create table runs (run_uuid varchar(32) primary key, name varchar(250),
    source_type varchar(20), source_name varchar(500), entry_point_name varchar(50),
    user_id varchar(256), status varchar(9), start_time bigint, end_time bigint,
    source_version varchar(50), lifecycle_stage varchar(20), artifact_uri varchar(200),
    experiment_id integer, deleted_time bigint);
create table metrics (key varchar(250), value float, timestamp bigint, run_uuid varchar(32),
    step bigint, is_nan boolean,
    primary key (key, timestamp, step, run_uuid, value, is_nan));
create table params (key varchar(250), value varchar(8000), run_uuid varchar(32),
    primary key (key, run_uuid));
create table tags (key varchar(250), value varchar(8000), run_uuid varchar(32),
    primary key (key, run_uuid));
"""


def make_schema(path: Path) -> str:
    """MLflow's own schema when MLflow is installed (returns how the schema was made)."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        with sqlite3.connect(path) as connection:
            connection.executescript(MINIMAL_SCHEMA)
            connection.execute("insert into experiments values (1, 'bench', '', 'active', 0, 0)")
        return "minimal schema with MLflow's columns (MLflow not installed)"
    import mlflow

    MlflowClient(tracking_uri=f"sqlite:///{path}").create_experiment("bench")
    return f"MLflow {mlflow.__version__} schema"


def fill_store(path: Path, runs: int, epochs: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with sqlite3.connect(path) as connection:
        experiment = connection.execute("select max(experiment_id) from experiments").fetchone()[0]
        start = 1_700_000_000_000
        for index in range(runs):
            run_id = uuid.UUID(int=int(rng.integers(2**63)) * 2**64 + index).hex
            name = f"unet_run{index}"
            connection.execute(
                "insert into runs (run_uuid, name, source_type, source_name, entry_point_name, "
                "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
                "artifact_uri, experiment_id) values (?, ?, 'LOCAL', '', '', 'bench', "
                "'FINISHED', ?, ?, '', 'active', '', ?)",
                (run_id, name, start, start + epochs * 60_000, experiment))
            connection.executemany("insert into params (key, value, run_uuid) values (?, ?, ?)",
                                   [("lr", repr(10.0 ** -rng.integers(2, 5)), run_id),
                                    ("arch", "unet", run_id), ("seed", str(index), run_id)])
            connection.execute("insert into tags (key, value, run_uuid) values (?, ?, ?)",
                               ("mlflow.runName", name, run_id))
            decay = 1.0 / np.arange(1, epochs + 1) ** rng.uniform(0.3, 0.8)
            rows = [(key, float(value), start + 60_000 * (step + 1) + offset, run_id, step, 0)
                    for key, values, offset in (("train_loss", decay * 1.1, 0),
                                                ("val_loss", decay, 5_000))
                    for step, value in enumerate(values)]
            connection.executemany("insert into metrics (key, value, timestamp, run_uuid, step, "
                                   "is_nan) values (?, ?, ?, ?, ?, ?)", rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store, out = Path(folder) / "mlflow.db", Path(folder) / "curves.parquet"
        made = make_schema(store)
        fill_store(store, args.runs, args.epochs)
        times = []
        for _ in range(args.repeat):
            out.unlink(missing_ok=True)
            began = time.perf_counter()
            _, report = ingest_to_file([store], out, IngestOptions(fmt="mlflow"))
            times.append(time.perf_counter() - began)
        print(f"{made}; {os.cpu_count()} CPUs visible")
        print(f"{headline(report)}: ingest best {min(times):.2f} s, "
              f"all {', '.join(f'{t:.2f}' for t in times)} s (target ≤ 10 s on 2 cores)")


if __name__ == "__main__":
    main()
