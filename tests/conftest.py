"""Shared helpers: build small curve tables by hand, write them as CSV, bad-input cases, and
the one tiny end-to-end run of the workflow (``finished_run``) that several test files read."""

from __future__ import annotations

import contextlib

# One pytest process runs the PyTorch and the TensorFlow tests. Importing triton (which torch
# loads lazily) after TensorFlow segfaults; triton first, then TensorFlow, works. Test modules
# import TensorFlow at collection, so load torch and triton here, before them.
import torch  # noqa: F401

with contextlib.suppress(ImportError):  # CPU-only torch builds come without triton
    import triton  # noqa: F401

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reusebench.glue import workflow

ROOT = Path(__file__).resolve().parents[1]

KEYS = {"study": "A", "dataset": "a10", "arch": "unet", "init": "random", "lr": 0.001,
        "seed": 0, "device": "cpu"}
PER_EPOCH = {"seconds": "epoch_seconds", "gpu_mem": "gpu_mem_max_mb",
             "gpu_util": "gpu_util_mean_pct"}


def run(train, test, *, epochs=None, **keys_and_columns):
    """One run's rows: ``train``/``test`` losses per epoch, run keys and per-epoch extras.

    Per-epoch extras: ``seconds``, ``gpu_mem``, ``gpu_util`` (lists as long as the curve).
    """
    assert len(train) == len(test)
    columns = {PER_EPOCH[name]: keys_and_columns.pop(name)
               for name in list(keys_and_columns) if name in PER_EPOCH}
    keys = {**KEYS, **keys_and_columns}
    table = pd.DataFrame({
        **{key: [value] * len(test) for key, value in keys.items()},
        "epoch": list(epochs) if epochs is not None else list(range(1, len(test) + 1)),
        "train_loss": np.asarray(train, dtype="float64"),
        "test_loss": np.asarray(test, dtype="float64"),
    })
    for column, values in columns.items():
        table[column] = np.asarray(values, dtype="float64")
    return table


def curves(*runs):
    """A raw (unvalidated) curve table from runs built with :func:`run`."""
    return pd.concat(runs, ignore_index=True)


@pytest.fixture(scope="session")
def make_run():
    return run


@pytest.fixture(scope="session")
def make_curves():
    return curves


@pytest.fixture
def write_csv(tmp_path):
    """Write a DataFrame (or raw CSV text) to ``tmp_path/name`` and return the path."""

    def write(table, name="curves.csv"):
        path = tmp_path / name
        if isinstance(table, str):
            path.write_text(table)
        else:
            table.to_csv(path, index=False)
        return path

    return write


# --- bad input shared by test_curves.py and test_cli.py ------------------------------------
# Two runs; the problem is always in the second one (arch "fcn"), so a message that names
# the wrong run fails. ``fragments`` must all appear in the error message besides the path.
HEADER = "study,dataset,arch,init,lr,seed,device,epoch,train_loss,test_loss\n"
GOOD_RUN = "A,a10,unet,random,0.001,0,cpu,1,0.9,0.8\nA,a10,unet,random,0.001,0,cpu,2,0.7,0.6\n"
BAD_RUN = "A,a10,fcn,random,0.001,0"  # the second run; its tail varies per case
BAD_CSV = {
    "missing_column": (
        "study,dataset,arch,init,lr,seed,device,epoch,train_loss\n"
        "A,a10,unet,random,0.001,0,cpu,1,0.9\n",
        ["'test_loss'", "missing"]),
    "non_numeric_loss": (
        HEADER + GOOD_RUN + f"{BAD_RUN},cpu,1,0.9,0.8\n{BAD_RUN},cpu,2,0.7,abc\n",
        ["A/a10/fcn/random", "'test_loss'", "'abc'"]),
    "duplicate_epoch": (
        HEADER + GOOD_RUN + f"{BAD_RUN},cpu,1,0.9,0.8\n{BAD_RUN},cpu,1,0.7,0.6\n",
        ["A/a10/fcn/random", "'epoch'", "duplicate"]),
    "non_increasing_epochs": (
        HEADER + GOOD_RUN + f"{BAD_RUN},cpu,2,0.9,0.8\n{BAD_RUN},cpu,1,0.7,0.6\n",
        ["A/a10/fcn/random", "'epoch'", "do not increase"]),
    "empty_table": (HEADER, ["no curve rows"]),
    "zero_byte_file": ("", ["cannot be read"]),
    "run_with_all_losses_empty": (
        HEADER + GOOD_RUN + f"{BAD_RUN},cpu,1,,\n{BAD_RUN},cpu,2,,\n",
        ["A/a10/fcn/random", "'test_loss'", "empty"]),
    "empty_key_value": (
        HEADER + GOOD_RUN + "A,a10,fcn,random,0.001,0,,1,0.9,0.8\n",
        ["row 3", "'device'"]),
    "epoch_zero": (
        HEADER + GOOD_RUN + f"{BAD_RUN},cpu,0,0.9,0.8\n{BAD_RUN},cpu,1,0.7,0.6\n",
        ["A/a10/fcn/random", "has 0.0 in column 'epoch'", "positive"]),
    "non_integer_epoch": (
        HEADER + GOOD_RUN + f"{BAD_RUN},cpu,1.5,0.9,0.8\n",
        ["A/a10/fcn/random", "has 1.5 in column 'epoch'"]),
}


@pytest.fixture(params=sorted(BAD_CSV))
def bad_csv(request, write_csv):
    """(path of a bad curve CSV, fragments its error message must contain)."""
    text, fragments = BAD_CSV[request.param]
    return write_csv(text, name=f"bad_{request.param}.csv"), fragments


# --- the workflow end to end (tests/configs/tiny.yaml) --------------------------------------
def copy_workflow(target: Path) -> Path:
    """A fresh copy of the workflow (and tiny.yaml) in ``target``."""
    workflow.copy_workflow(ROOT, target)
    shutil.copy(ROOT / "tests" / "configs" / "tiny.yaml", target / "tiny.yaml")
    return target


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """ONE tiny run of the whole workflow, shared by every test that reads its results."""
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow"))
    result = snakemake(workdir, "--configfile", "tiny.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir



@pytest.fixture(params=["compiled", "numpy"])
def reader_paths(request, monkeypatch):
    """Run a NAS-Bench reader test with the compiled extension, then without it (the numpy /
    Python route a machine without a C compiler takes)."""
    from reusebench.data.nasbench import cellhash, graph, hashhelpers, layout, md5rows, tfrecord

    if request.param == "compiled" and cellhash.accel is None:
        pytest.skip("the compiled extension reusebench.data.nasbench._accel was not built")
    if request.param == "numpy":
        for module in (cellhash, graph, hashhelpers, layout, md5rows, tfrecord):
            monkeypatch.setattr(module, "accel", None)
    return request.param


@pytest.fixture
def http_folder(tmp_path):
    """A real HTTP server on localhost serving ``tmp_path``; yields its base URL."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
