"""A killed run: its stale locks and temp files go, and the same command finishes it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from conftest import copy_workflow

from reusebench.recovery import clear_stale_leftovers, is_atomic_temp, stale_leftovers


def test_atomic_write_temp_names_are_told_from_other_hidden_files():
    assert is_atomic_temp(".checkpoint.pt.k3_9az0q.pt")
    assert is_atomic_temp(".curves.csv.abcdefgh.csv")
    assert not is_atomic_temp(".gitignore")
    assert not is_atomic_temp(".checkpoint.pt.k3_9az0q.csv")  # suffix of another target
    assert not is_atomic_temp("checkpoint.pt.k3_9az0q.pt")


def test_stale_locks_and_temp_files_are_removed_when_no_snakemake_runs_here(tmp_path):
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("a\n")
    run = tmp_path / "results" / "runs" / "x"
    run.mkdir(parents=True)
    temp, kept = run / ".checkpoint.pt.k3_9az0q.pt", run / "checkpoint.pt"
    temp.write_bytes(b"trunc")
    kept.write_bytes(b"whole")
    assert stale_leftovers(tmp_path, "results") == [locks / "0.input.lock", temp]
    assert clear_stale_leftovers(tmp_path, "results") == [locks / "0.input.lock", temp]
    assert not temp.exists() and not (locks / "0.input.lock").exists() and kept.exists()


def test_a_running_snakemake_keeps_its_locks(tmp_path):
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.output.lock").write_text("a\n")
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)  # snakemake"],
                                cwd=tmp_path)
    try:
        time.sleep(0.5)
        assert clear_stale_leftovers(tmp_path, "results") == []
        assert (locks / "0.output.lock").exists()
    finally:
        stand_in.kill()
        stand_in.wait()


def _wait_for_training(workdir: Path, process: subprocess.Popen, seconds: float = 300) -> None:
    """Until a Study A training job has logged an epoch (locks are held by then)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        logs = list((workdir / "results" / "logs" / "train").rglob("*.log"))
        if any("epoch 2/" in log.read_text(errors="replace") for log in logs):
            return
        time.sleep(0.5)
    raise AssertionError("no training epoch was logged before the deadline")


def test_kill_9_then_the_same_command_finishes_with_an_uninterrupted_runs_numbers(
        tmp_path, finished_run):
    workdir = copy_workflow(tmp_path)
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "tiny.yaml"]
    first = subprocess.Popen(command, cwd=workdir, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_training(workdir, first)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert list((workdir / ".snakemake" / "locks").glob("*.lock"))
    rerun = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=1200)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "leftovers of a killed run" in rerun.stderr
    leftovers = [path for path in (workdir / "results").rglob(".*") if is_atomic_temp(path.name)]
    assert not leftovers
    columns = ["run_id", "m_er", "ep_star", "d_unif", "n_epochs"]
    resumed = pd.read_csv(workdir / "results" / "metrics" / "A" / "metrics.csv")[columns]
    whole = pd.read_csv(finished_run / "results" / "metrics" / "A" / "metrics.csv")[columns]
    pd.testing.assert_frame_equal(resumed.sort_values("run_id").reset_index(drop=True),
                                  whole.sort_values("run_id").reset_index(drop=True),
                                  rtol=1e-6)
