"""The SLURM profile against a real one-node SLURM on loopback (tests/cluster/start-slurm.sh).

Debian's slurmctld, slurmd, slurm-client and munge are installed with apt-get when missing;
the daemons run for this test session only and are stopped by pid afterwards. Without an
accounting database, jobs are tracked with `squeue` (the cluster keeps finished jobs
listed for MinJobAge = 600 s, more than 3x the 2 s status-check delay used here).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from conftest import copy_workflow

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "tests" / "cluster"
# Three jobs: two synthetic curve tables and the metric stage that reads both.
METRICS_TARGET = "results/metrics/synthetic/metrics.parquet"
METRIC_TABLES = ("metrics", "pairs", "unpaired")
# Test-cluster settings on top of the profile: no accounting database, fast first check.
STATUS_ARGS = ("--slurm-status-command", "squeue",
               "--slurm-init-seconds-before-status-checks", "2")
DAEMONS = ("munged", "slurmctld", "slurmd")
GPU_DEVICES = {"cpu": "", "cuda": "--gpus=1", "a100": "--gpus=a100:1"}
RUN_TIMEOUT_S = 300
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

_spec = importlib.util.spec_from_file_location("listening", CLUSTER / "listening.py")
listening = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(listening)


def snakemake(workdir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run Snakemake in ``workdir``; ``env`` adds variables (a None value removes one)."""
    merged = {**os.environ, **ONE_THREAD, **(env or {})}
    command = [sys.executable, "-m", "snakemake", *args]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S,
                          env={name: value for name, value in merged.items() if value is not None})


def cannot_run_slurm() -> str | None:
    """Why this machine cannot host the test cluster, or None."""
    if not sys.platform.startswith("linux"):
        return "the test SLURM cluster needs Linux"
    if os.geteuid() != 0:
        return "the test SLURM cluster needs root (slurmd launches jobs; packages via apt-get)"
    if shutil.which("slurmd") is None and shutil.which("apt-get") is None:
        return "SLURM is not installed and apt-get is unavailable to install it"
    probe = ["unshare", "--mount", "--propagation", "private", "true"]
    if shutil.which("unshare") is None or subprocess.run(probe, timeout=30).returncode != 0:
        return "cannot create a mount namespace with unshare, which slurmd runs in"
    return None


def is_gone(pid: int, name: str) -> bool:
    """True once the process has exited or is a zombie (waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    command, state = stat.rsplit(")", 1)
    return not command.endswith(f"({name}") or state.split()[0] in ("Z", "X")


def daemon_pids(state: Path) -> dict[str, int]:
    """The pids start-slurm.sh recorded, by daemon name."""
    files = [state / "pids" / name for name in DAEMONS]
    return {file.name: int(file.read_text()) for file in files if file.is_file()}


class SocketWatch(threading.Thread):
    """Samples the listening sockets of the cluster's processes until stopped."""

    def __init__(self, cluster: SimpleNamespace):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.stopped = threading.Event()
        self.seen: set[tuple[str, str, int]] = set()

    def cluster_pids(self) -> list[int]:
        """The daemons plus every job process (they share slurmd's mount namespace)."""
        pids = list(self.cluster.pids.values())
        try:
            namespace = os.readlink(f"/proc/{self.cluster.pids['slurmd']}/ns/mnt")
        except OSError:
            return pids
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    if os.readlink(f"/proc/{entry.name}/ns/mnt") == namespace:
                        pids.append(int(entry.name))
                except OSError:
                    continue
        return pids

    def run(self) -> None:
        while not self.stopped.wait(0.25):
            for _, name, address, port in listening.listening_sockets(self.cluster_pids()):
                self.seen.add((name, address, port))

    def stop(self) -> set[tuple[str, str, int]]:
        self.stopped.set()
        self.join(timeout=10)
        return self.seen


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A running one-node cluster: SLURM_CONF for clients, daemon pids, state directory."""
    reason = cannot_run_slurm()
    if reason:
        pytest.skip(reason)
    state = tmp_path_factory.mktemp("slurm")
    try:
        started = subprocess.run(["bash", str(CLUSTER / "start-slurm.sh"), str(state)],
                                 capture_output=True, text=True, timeout=900)
        print(started.stdout, started.stderr, sep="")
        assert started.returncode == 0, f"start-slurm.sh failed:\n{started.stdout}{started.stderr}"
        yield SimpleNamespace(state=state, pids=daemon_pids(state),
                              env={"SLURM_CONF": str(state / "etc" / "slurm.conf")})
    finally:
        pids = daemon_pids(state)  # read before stop-slurm.sh removes the pid files
        stopped = subprocess.run(["bash", str(CLUSTER / "stop-slurm.sh"), str(state)],
                                 capture_output=True, text=True, timeout=120)
        print(stopped.stdout, stopped.stderr, sep="")
        running = [f"{name} ({pid})" for name, pid in pids.items() if not is_gone(pid, name)]
        assert not running, f"still running after stop-slurm.sh: {running}"


def submitted_jobs(log: str) -> dict[str, str]:
    """SLURM job id -> SLURM log path, from Snakemake's 'has been submitted' lines."""
    pattern = r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)"
    return dict(re.findall(pattern, log))


def job_states(cluster: SimpleNamespace, job_ids) -> dict[str, str]:
    result = subprocess.run(["squeue", "--states=all", "-h", "-o", "%i %T", "-j",
                             ",".join(job_ids)], capture_output=True, text=True, timeout=30,
                            env={**os.environ, **cluster.env})
    return dict(line.split() for line in result.stdout.splitlines())


def sorted_table(path: Path) -> pd.DataFrame:
    table = pd.read_parquet(path)
    keys = [column for column in table.columns if not pd.api.types.is_float_dtype(table[column])]
    return table.sort_values(keys).reset_index(drop=True) if len(table) else table


# --- without a cluster: the profile's resources and the plugin's rendering ---------------


def planned_jobs(log: str, rule: str) -> list[tuple[dict, dict]]:
    """(wildcards, resources) of each job of ``rule`` in a dry run's job listing."""
    jobs = []
    for block in log.split("\nrule ")[1:]:
        if block.startswith(f"{rule}:"):
            fields = dict(line.strip().split(": ", 1)
                          for line in block.split("\n\n", 1)[0].splitlines()[1:]
                          if line.startswith("    ") and ": " in line)
            jobs.append(tuple(dict(item.split("=", 1) for item in fields[key].split(", "))
                              for key in ("wildcards", "resources")))
    return jobs


def rendered_gpus(resources: dict) -> str:
    """The GPU part of the sbatch call the SLURM plugin builds from these resources."""
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    values = {"gpu": int(resources["gpu"]), "gpu_model": resources["gpu_model"]}
    job = SimpleNamespace(resources=SimpleNamespace(get=values.get, **values))
    return set_gres_string(job).strip()


def test_slurm_profile_asks_a_gpu_for_study_a_training_on_a_gpu_device(tmp_path):
    workdir = copy_workflow(tmp_path)
    (workdir / "devices.yaml").write_text("study_a:\n  devices: [cpu, cuda, a100]\n")
    result = snakemake(workdir, "--dry-run", "--workflow-profile", "profiles/slurm",
                       "--configfile", "tiny.yaml", "devices.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = planned_jobs(result.stdout, "train")
    assert len(jobs) == 8 * len(GPU_DEVICES)  # tiny.yaml's 8 configurations per device
    for wildcards, resources in jobs:
        assert rendered_gpus(resources) == GPU_DEVICES[wildcards["device"]], resources
        assert (resources["mem_mb"], resources["runtime"]) == ("16000", "720")


def test_slurm_profile_asks_a_gpu_for_any_rule_with_a_gpu_device_wildcard(tmp_path):
    # the rule declares no resources: the profile's defaults map its device wildcard
    shutil.copy(CLUSTER / "gpu" / "Snakefile", tmp_path / "Snakefile")
    result = snakemake(tmp_path, "--dry-run", "--workflow-profile",
                       str(ROOT / "profiles" / "slurm"))
    assert result.returncode == 0, result.stderr[-3000:]
    rendered = {wildcards["device"]: rendered_gpus(resources)
                for wildcards, resources in planned_jobs(result.stdout, "train")}
    assert rendered == GPU_DEVICES


def test_slurm_partition_and_account_come_from_the_environment(tmp_path):
    shutil.copy(CLUSTER / "gpu" / "Snakefile", tmp_path / "Snakefile")
    profile = ["--dry-run", "--workflow-profile", str(ROOT / "profiles" / "slurm")]
    unset = snakemake(tmp_path, *profile, env={"REUSEBENCH_SLURM_PARTITION": None,
                                               "REUSEBENCH_SLURM_ACCOUNT": None})
    chosen = snakemake(tmp_path, *profile, env={"REUSEBENCH_SLURM_PARTITION": "gpu-long",
                                                "REUSEBENCH_SLURM_ACCOUNT": "proj42"})
    assert unset.returncode == chosen.returncode == 0, unset.stderr[-2000:] + chosen.stderr[-2000:]
    for _, resources in planned_jobs(unset.stdout, "train"):
        assert "slurm_partition" not in resources and "slurm_account" not in resources
    for _, resources in planned_jobs(chosen.stdout, "train"):
        assert (resources["slurm_partition"], resources["slurm_account"]) == ("gpu-long", "proj42")


# --- on the real cluster --------------------------------------------------------------------


@pytest.mark.slurm
def test_cluster_daemons_listen_on_loopback_only(slurm_cluster):
    sockets = listening.listening_sockets(slurm_cluster.pids.values())
    names = {name for _, name, _, _ in sockets}
    assert {"slurmctld", "slurmd"} <= names, sockets
    assert all(listening.is_loopback(address) for _, _, address, _ in sockets), sockets


@pytest.mark.slurm
def test_tiny_metrics_through_sbatch_equal_local_run(slurm_cluster, tmp_path_factory):
    local = copy_workflow(tmp_path_factory.mktemp("local"))
    result = snakemake(local, METRICS_TARGET, "--cores", "2", "--configfile", "tiny.yaml")
    assert result.returncode == 0, result.stderr[-3000:]

    cluster = copy_workflow(tmp_path_factory.mktemp("cluster"))
    watch = SocketWatch(slurm_cluster)
    watch.start()
    try:
        result = snakemake(cluster, METRICS_TARGET, "--configfile", "tiny.yaml",
                           "--workflow-profile", "profiles/slurm", *STATUS_ARGS,
                           env=slurm_cluster.env)
    finally:
        sockets = watch.stop()
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]

    jobs = submitted_jobs(log)
    assert len(jobs) == 3, log[-3000:]  # 2 synthetic_curves + metrics, each via sbatch
    assert set(job_states(slurm_cluster, jobs).values()) == {"COMPLETED"}
    slurm_logs = str(cluster / ".snakemake" / "slurm_logs")
    assert all(path.startswith(slurm_logs) for path in jobs.values()), jobs
    # the daemons and the jobs' srun steps were watched, and all listened on loopback only
    assert {"slurmctld", "slurmd", "srun"} <= {name for name, _, _ in sockets}, sockets
    assert all(listening.is_loopback(address) for _, address, _ in sockets), sockets

    for table in METRIC_TABLES:
        path = Path("results") / "metrics" / "synthetic" / f"{table}.parquet"
        from_slurm, from_local = sorted_table(cluster / path), sorted_table(local / path)
        pd.testing.assert_frame_equal(from_slurm, from_local, check_exact=False,
                                      rtol=1e-9, atol=1e-12)
    assert len(sorted_table(cluster / "results/metrics/synthetic/metrics.parquet")) == 8


@pytest.fixture(scope="module")
def gpu_run(slurm_cluster, tmp_path_factory):
    """The GPU-shaped Snakefile through sbatch, plus one job that fails on purpose."""
    workdir = tmp_path_factory.mktemp("gpu")
    shutil.copy(CLUSTER / "gpu" / "Snakefile", workdir / "Snakefile")
    shutil.copytree(ROOT / "profiles" / "slurm", workdir / "profiles" / "slurm")
    targets = [f"results/{device}.txt" for device in GPU_DEVICES] + ["results/broken.txt"]
    result = snakemake(workdir, *targets, "--workflow-profile", "profiles/slurm", *STATUS_ARGS,
                       "--set-threads", "train=1", "--retries", "0", "--verbose",
                       env=slurm_cluster.env)
    return SimpleNamespace(workdir=workdir, result=result,
                           log=result.stdout + result.stderr)


def sbatch_call(log: str, device: str) -> str:
    calls = [line for line in log.splitlines()
             if line.startswith("sbatch call:") and f"wildcards_{device} " in line]
    assert len(calls) == 1, log[-3000:]
    return calls[0].split("--wrap=", 1)[0]


@pytest.mark.slurm
@pytest.mark.parametrize("device", sorted(GPU_DEVICES))
def test_gpu_device_job_is_submitted_with_gpus_request(gpu_run, device):
    call = sbatch_call(gpu_run.log, device)
    assert re.findall(r"--gpus=\S+", call) == ([GPU_DEVICES[device]] if GPU_DEVICES[device]
                                                else [])


@pytest.mark.slurm
def test_gpu_jobs_run_on_the_fake_gpu_slurm_granted(gpu_run):
    granted = {device: (gpu_run.workdir / "results" / f"{device}.txt").read_text().strip()
               for device in GPU_DEVICES}
    assert granted == {"cpu": "gpus=none", "cuda": "gpus=0", "a100": "gpus=0"}, gpu_run.log[-3000:]


@pytest.mark.slurm
def test_failed_job_fails_the_run_and_its_slurm_log_tail_is_shown(gpu_run):
    assert gpu_run.result.returncode != 0
    assert "SLURM-job" in gpu_run.log and "FAILED" in gpu_run.log
    assert f"Logfile {gpu_run.workdir}/.snakemake/slurm_logs/rule_broken/" in gpu_run.log
    # printed by the job into its SLURM log; the command line shows "$((40 + 2))" instead
    assert "failure marker 42" in gpu_run.log, gpu_run.log[-3000:]
