"""A killed run: its stale locks and temp files go, and the same command finishes it."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
from conftest import copy_workflow

from reusebench.glue.recovery import clear_stale_leftovers, is_atomic_temp, stale_leftovers


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


def _wait_for(workdir: Path, process: subprocess.Popen, logs: str, text: str,
              seconds: float = 600) -> None:
    """Until a log matching ``logs`` under results/logs holds ``text``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        if any(text in log.read_text(errors="replace")
               for log in (workdir / "results" / "logs").glob(logs)):
            return
        time.sleep(0.2)
    raise AssertionError(f"no {logs} log held {text!r} before the deadline")


def _job_running(process: subprocess.Popen, script: str, seconds: float = 600) -> psutil.Process:
    """The first job process of Snakemake ``process`` seen running rule script ``script``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        for child in psutil.Process(process.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if any(part.endswith(script) for part in child.cmdline()):
                    return child
        time.sleep(0.05)
    raise AssertionError(f"no job ran {script} before the deadline")


def test_kill_9_at_three_points_then_the_same_command_gives_an_uninterrupted_runs_numbers(
        tmp_path, finished_run):
    workdir = copy_workflow(tmp_path)
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "tiny.yaml"]

    def start() -> subprocess.Popen:
        return subprocess.Popen(command, cwd=workdir, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # 1: all of Snakemake, while the pretrained init of Study A trains
    run = start()
    _wait_for(workdir, run, "pretrain/*/*.log", "epoch 1/")
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert list((workdir / ".snakemake" / "locks").glob("*.lock"))
    # 2: one Study A training job alone; Snakemake stops by itself
    run = start()
    _job_running(run, ".train.py").kill()
    assert run.wait(timeout=600) != 0
    # 3: all of Snakemake, while a Study B job trains
    run = start()
    _job_running(run, ".tradeoff_train.py")
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert list((workdir / ".snakemake" / "locks").glob("*.lock"))
    rerun = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=1200)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "leftovers of a killed run" in rerun.stderr
    leftovers = [path for path in (workdir / "results").rglob(".*")
                 if is_atomic_temp(path.name) or path.name == ".finished"]
    assert not leftovers
    for study, columns in (("A", ["run_id", "m_er", "ep_star", "d_unif", "n_epochs"]),
                           ("B", ["run_id", "m_er", "ep_star"])):
        resumed, whole = (pd.read_csv(root / "results" / "metrics" / study / "metrics.csv")
                          [columns].sort_values("run_id").reset_index(drop=True)
                          for root in (workdir, finished_run))
        pd.testing.assert_frame_equal(resumed, whole, rtol=1e-6)
