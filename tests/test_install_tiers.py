"""Install tiers: the core (`pip install reusebench`) runs metrics, ingest, the NAS-Bench-101
reader, recommend and cards without PyTorch or TensorFlow; a missing extra is one sentence.

Two levels. The cheap one runs the CLI in a subprocess of this venv in which torch,
torchvision, segmentation_models_pytorch, tensorflow, tf_keras and tfmot cannot be imported
(a meta-path finder refuses them). The real one (marker ``install``) pip-installs the core
alone into a fresh venv from the package index, measures it and runs the commands there on the
real files of ``../shared/data``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2

from reusebench.core.curves import write_curves
from reusebench.core.errors import InputError
from reusebench.core.extras import EXTRAS, missing_extra_message, require
from reusebench.data.nasbench.graph import cell_hash
from reusebench.data.nasbench.proto import encode_model_metrics
from reusebench.data.nasbench.records import encode_record
from reusebench.data.nasbench.tfrecord import write_tfrecord

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
PETS = SHARED / "training_logs" / "tensorboard_pets_unet" / "runs"
ECNAS = SHARED / "nasbench101" / "ecnas_energy_4V9E.tfrecord"
EXPORT = SHARED / "nasbench101" / "nasbench-vis_data-1k.json"

FRAMEWORKS = ("torch", "torchvision", "segmentation_models_pytorch", "tensorflow", "tf_keras",
              "tensorflow_model_optimization")
CORE_LIMIT_MB = 600  # MB = 10^6 bytes of disk, as `du` counts it
INSTALL_TIMEOUT_S = 1800

# Runs `reusebench` commands in one process: argv: a JSON list of command lines. With
# BLOCK=1 the frameworks cannot be imported (as if not installed). Prints one JSON object:
# each command's exit status and stdout, and which frameworks ended up in sys.modules.
RUNNER = textwrap.dedent("""
    import contextlib, io, json, os, sys
    FRAMEWORKS = set(json.loads(os.environ["FRAMEWORKS"]))

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in FRAMEWORKS:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    if os.environ.get("BLOCK") == "1":
        sys.meta_path.insert(0, Refuse())
    from reusebench.glue.cli import main
    results = []
    for argv in json.loads(sys.argv[1]):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = main(argv)
        results.append({"argv": argv, "status": status, "stdout": out.getvalue()})
    loaded = sorted(m for m in FRAMEWORKS if m in sys.modules)
    print(json.dumps({"results": results, "loaded": loaded}))
""")


def run_commands(commands: list[list[str]], block: bool, python: str = sys.executable,
                 cwd: Path = ROOT) -> dict:
    env = {**os.environ, "FRAMEWORKS": json.dumps(FRAMEWORKS), "BLOCK": "1" if block else "0"}
    done = subprocess.run([python, "-c", RUNNER, json.dumps(commands)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


# ---- files the commands read, written here (no framework needed) ------------------------------

def study_a_tree(root: Path) -> tuple[Path, list[Path]]:
    """A results tree of two Study A runs as the train rule writes them; (a run dir, curves)."""
    epoch = np.arange(1, 13, dtype=float)
    curve_files = []
    for init, scale in (("random", 1.0), ("pretrained", 0.8)):
        run_dir = root / "runs" / "A" / "easy" / "unet" / init / "lr0.001" / "s0" / "cpu"
        write_curves(pd.DataFrame({
            "study": "A", "dataset": "easy", "arch": "unet", "init": init, "lr": 0.001,
            "seed": 0, "device": "cpu", "epoch": epoch.astype(int),
            "train_loss": 1.1 * scale * epoch**-0.5, "test_loss": scale * epoch**-0.5,
            "epoch_seconds": 2.0}), run_dir / "curves.csv")
        (run_dir / "provenance.json").write_text(json.dumps({
            "config": {"study": "A", "arch": "unet", "init": init, "lr": 0.001, "seed": 0,
                       "device": "cpu", "epochs": 12, "batch_size": 4},
            "dataset": {"name": "easy", "n_classes": 2, "image_shape": [32, 32, 1],
                        "n_train": 5, "n_test": 1},
            "versions": {"python": "3.11"}, "device": {"name": "x86_64"}, "host": "builder",
            "platform": "Linux", "start": "2026-01-01T00:00:00+00:00",
            "end": "2026-01-01T00:01:00+00:00"}))
        (run_dir / "checkpoint.pt").write_bytes(b"\0" * 1000)
        curve_files.append(run_dir / "curves.csv")
    return curve_files[1].parent, curve_files


def event_run(folder: Path, epochs: int = 6) -> Path:
    """A TensorBoard run: Event protobufs (the tensorboard package's classes) in a TFRecord file.

    (TensorBoard's own EventFileWriter would import TensorFlow here, where it is installed;
    the real files of the shared data are read in the tests below.)
    """
    events = [event_pb2.Event(wall_time=1e9, file_version="brain.Event:2")]
    for step in range(epochs):
        values = [summary_pb2.Summary.Value(tag="loss", simple_value=1.0 / (step + 1)),
                  summary_pb2.Summary.Value(tag="val_loss", simple_value=1.2 / (step + 1))]
        events.append(event_pb2.Event(wall_time=1e9 + 10 * (step + 1), step=step,
                                      summary=summary_pb2.Summary(value=values)))
    folder.mkdir(parents=True)
    write_tfrecord(folder / "events.out.tfevents.1000000000.builder",
                   [event.SerializeToString() for event in events])
    return folder


def nasbench_file(path: Path) -> Path:
    """Two NAS-Bench-101 records of one cell (108 epochs, two repeats)."""
    matrix = np.array([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]])
    ops = ["input", "conv1x1-bn-relu", "conv3x3-bn-relu", "output"]
    records = []
    for repeat in range(2):
        evaluations = [{"current_epoch": epoch, "training_time": 2.0 * epoch,
                        "train_accuracy": 0.5 + epoch / 400, "validation_accuracy": 0.5,
                        "test_accuracy": 0.5 - repeat / 100} for epoch in (0.0, 54.0, 108.0)]
        records.append(encode_record(cell_hash(matrix, ops), 108, matrix, ops,
                                     encode_model_metrics(evaluations, 1000, 216.0)))
    write_tfrecord(path, records)
    return path


def core_commands(tmp: Path) -> list[list[str]]:
    """The CLI commands of the core, on files written here."""
    results = tmp / "results"
    run_dir, curve_files = study_a_tree(results)
    events = event_run(tmp / "logs" / "adam_lr1e-3")
    tfrecord = nasbench_file(tmp / "cells.tfrecord")
    metrics = results / "metrics" / "A"
    return [
        ["metrics", *map(str, curve_files), "-o", str(metrics)],
        ["recommend", "--task", "robustness", "--metrics", str(metrics / "metrics.parquet"),
         "-o", str(tmp / "robustness.csv")],
        ["card", str(run_dir)],
        ["ingest", str(events), "-o", str(tmp / "ingested.csv"), "--dataset", "mine"],
        ["metrics", str(tmp / "ingested.csv"), "-o", str(tmp / "ingested_metrics")],
        ["nasbench", str(tfrecord), "-o", str(tmp / "records.parquet")],
    ]


def check_core_commands(tmp: Path, block: bool, python: str = sys.executable,
                        cwd: Path = ROOT) -> dict:
    """Run the core commands; check their exit status and what they wrote (not their wording,
    which other tests pin)."""
    report = run_commands(core_commands(tmp), block, python, cwd)
    for result in report["results"]:
        assert result["status"] == 0, result
    metrics = pd.read_parquet(tmp / "results" / "metrics" / "A" / "metrics.parquet")
    assert len(metrics) == 2
    assert len(pd.read_parquet(tmp / "results" / "metrics" / "A" / "pairs.parquet")) == 1
    assert len(pd.read_csv(tmp / "robustness.csv")) == 2
    assert (tmp / "results" / "runs" / "A" / "easy" / "unet" / "pretrained" / "lr0.001" / "s0"
            / "cpu" / "README.md").is_file()
    assert list(pd.read_csv(tmp / "ingested.csv")["epoch"]) == [1, 2, 3, 4, 5, 6]
    assert len(pd.read_parquet(tmp / "ingested_metrics" / "metrics.parquet")) == 1
    records = pd.read_parquet(tmp / "records.parquet")
    assert len(records) == 2 and records["hash_verified"].all()
    return report


def check_real_tables(curves_path: Path, records_path: Path, n_records: int) -> None:
    """The 18 real TensorBoard runs (591 epochs) and the NAS-Bench-101 rows, every hash right."""
    curves = pd.read_parquet(curves_path)
    assert curves["run_id"].nunique() == 18 and len(curves) == 591
    records = pd.read_parquet(records_path)
    assert len(records) == n_records and records["hash_verified"].all()


# ---- the core without the frameworks, in this venv -------------------------------------------

@pytest.mark.parametrize("block", [True, False], ids=["frameworks-blocked", "frameworks-present"])
def test_core_commands_never_import_torch_or_tensorflow(tmp_path, block):
    report = check_core_commands(tmp_path, block)
    assert report["loaded"] == []  # not even where they are installed


@pytest.mark.skipif(not PETS.is_dir() or not ECNAS.is_file(),
                    reason=f"the real TensorBoard runs / EC-NAS file are not under {SHARED}")
def test_core_commands_read_the_real_files_with_the_frameworks_blocked(tmp_path):
    report = run_commands([
        ["ingest", str(PETS), "-o", str(tmp_path / "pets.parquet"), "--dataset", "pets"],
        ["nasbench", str(ECNAS), "-o", str(tmp_path / "ecnas.parquet")]], block=True)
    assert [result["status"] for result in report["results"]] == [0, 0], report
    check_real_tables(tmp_path / "pets.parquet", tmp_path / "ecnas.parquet", 1092)


def test_the_nasbench_cell_space_needs_no_torch_and_the_network_names_the_extra():
    code = textwrap.dedent(f"""
        import sys
        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] in {FRAMEWORKS!r}:
                    raise ModuleNotFoundError(name, name=name)
        sys.meta_path.insert(0, Refuse())
        from reusebench.data.nasbench import records
        from reusebench.data.nasbench import space
        from reusebench.core.errors import InputError
        assert space.cell_family([[0, 1], [0, 0]]) == space.RESNET_LIKE
        for module in ("reusebench.training.nasbench.mini", "reusebench.training.seg.train",
                       "reusebench.training.keras.experiment"):
            extra = "tradeoff" if "keras" in module else "seg"
            try:
                __import__("reusebench.core.extras").core.extras.require(extra, module)
            except InputError as error:
                print(error)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == [missing_extra_message("seg", "torch"),
                                        missing_extra_message("seg", "torch"),
                                        missing_extra_message("tradeoff", "tensorflow")]


@pytest.mark.parametrize(("script", "extra", "missing"), [
    ("train.py", "seg", "torch"), ("pretrain.py", "seg", "torch"),
    ("mini_nasbench.py", "seg", "torch"), ("tradeoff_train.py", "tradeoff", "tensorflow"),
    ("tradeoff_pretrain.py", "tradeoff", "tensorflow"),
    ("tradeoff_model_sizes.py", "tradeoff", "tensorflow")])
def test_a_rule_whose_extra_is_missing_stops_with_one_sentence_in_its_log(tmp_path, script,
                                                                          extra, missing):
    log = tmp_path / "rule.log"
    code = textwrap.dedent(f"""
        import runpy, sys, types
        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] in {FRAMEWORKS!r}:
                    raise ModuleNotFoundError(name, name=name)
        sys.meta_path.insert(0, Refuse())
        rule = types.SimpleNamespace(log=[{str(log)!r}])
        runpy.run_path({str(ROOT / "scripts" / script)!r}, init_globals={{"snakemake": rule}})
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    sentence = missing_extra_message(extra, missing)
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr == f"error: {sentence}\n"
    assert log.read_text() == f"error: {sentence}\n"


def test_check_config_without_the_workflow_extra_names_it():
    code = textwrap.dedent("""
        import sys
        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "jsonschema":
                    raise ModuleNotFoundError(name, name=name)
        sys.meta_path.insert(0, Refuse())
        from reusebench.glue.cli import main
        sys.exit(main(["check-config", "config/config.yaml"]))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 2
    assert done.stderr == (f"reusebench: error: "
                           f"{missing_extra_message('workflow', 'jsonschema')}\n")


# ---- the require helper ----------------------------------------------------------------------

def test_a_missing_package_of_the_extra_is_one_sentence_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import of torchvision fails
    with pytest.raises(InputError) as raised:
        require("seg", "torchvision")
    message = str(raised.value)
    assert message == ("torchvision is not installed; it comes with the [seg] extra for Study A "
                       "segmentation training and the mini NAS-Bench-101: "
                       "pip install 'reusebench[seg]'.")
    assert message.count(". ") == 0 and message.endswith(".")


def test_require_returns_the_module_and_lets_other_import_errors_through(monkeypatch):
    assert require("workflow", "reusebench.core.errors").InputError is InputError
    monkeypatch.setitem(sys.modules, "not_an_extra_package", None)
    with pytest.raises(ModuleNotFoundError):
        require("seg", "not_an_extra_package")
    with pytest.raises(ValueError, match="unknown extra"):
        require("gpu", "torch")


# ---- the tiers in pyproject.toml, the conda env and the README -------------------------------

def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def names(requirements: list[str]) -> set[str]:
    return {req.split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower()
            for req in requirements}


def test_core_holds_no_framework_and_each_extra_holds_its_packages():
    meta = project()
    extras = meta["optional-dependencies"]
    core = names(meta["dependencies"])
    assert not core & {"torch", "torchvision", "segmentation-models-pytorch", "tensorflow",
                       "tf-keras", "tensorflow-model-optimization", "snakemake"}
    assert {"numpy", "scipy", "pandas", "pyarrow", "matplotlib", "pyyaml", "tensorboard",
            "huggingface-hub"} <= core
    assert {"torchvision", "segmentation-models-pytorch", "nvidia-ml-py"} <= names(extras["seg"])
    assert "reusebench[forecast]" in extras["seg"] and names(extras["forecast"]) == {"torch"}
    assert {"tensorflow", "tf-keras", "tensorflow-model-optimization"} <= names(extras["tradeoff"])
    assert {"snakemake", "snakemake-executor-plugin-slurm"} <= names(extras["workflow"])
    assert extras["all"] == ["reusebench[seg,tradeoff,workflow]"]
    assert "reusebench[all]" in extras["test"]  # CI's `.[test]` installs everything
    assert set(EXTRAS) == {"seg", "tradeoff", "workflow", "keras", "lightning", "forecast"}
    pins = [req for group in extras.values() for req in group if not req.startswith("reusebench")]
    pins += meta["dependencies"]
    assert len(names(pins)) == len(pins)  # each package pinned in one place


def test_the_conda_env_and_the_readme_install_the_right_extras():
    assert "- -e ..[all]" in (ROOT / "envs" / "reusebench.yaml").read_text()
    readme = (ROOT / "README.md").read_text()
    assert '.venv/bin/pip install -e ".[all]" && .venv/bin/snakemake --cores 2' in readme
    test_command = ('python3 -m venv .venv && .venv/bin/pip install -q -e ".[test]" && '
                    ".venv/bin/python -m pytest")
    assert test_command in readme and test_command in (ROOT / ".ci" / "run").read_text()


# ---- the real thing: the core alone in a fresh venv ------------------------------------------

def disk_bytes(folder: Path) -> int:
    """Disk usage as `du` counts it (allocated blocks, hard links once)."""
    seen, total = set(), 0
    for path in [folder, *folder.rglob("*")]:
        stat = path.lstat()
        if (stat.st_dev, stat.st_ino) not in seen:
            seen.add((stat.st_dev, stat.st_ino))
            total += stat.st_blocks * 512
    return total


def source_copy(target: Path) -> Path:
    """What a wheel is built from (no compiled extension, no caches), outside the checkout."""
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, target / name)
    shutil.copytree(ROOT / "reusebench", target / "reusebench",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info"))
    return target


@dataclass(frozen=True)
class CoreVenv:
    path: Path
    installed_bytes: int  # right after the install, before anything ran in it

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory) -> CoreVenv:
    """`pip install` of the core alone (no extras) into a fresh venv, from the package index.

    ``--no-compile``: the size counts the installed files; Python writes the bytecode caches
    of the modules a command imports when it first runs (pip's default install compiles all
    of them ahead: about 140 MB more for this core, mostly pandas' and scipy's).
    """
    if importlib.util.find_spec("ensurepip") is None:
        pytest.skip("this Python has no ensurepip, so `python -m venv` cannot make a venv "
                    "with pip")
    tmp = tmp_path_factory.mktemp("core")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    probe = subprocess.run([*pip, "download", "--no-deps", "-d", str(tmp / "probe"),
                            "PyYAML>=6.0"], capture_output=True, text=True, timeout=300)
    if probe.returncode != 0:
        pytest.skip(f"pip cannot reach a package index: {probe.stderr.strip()[-300:]}")
    (tmp / "src").mkdir()
    done = subprocess.run([*pip, "install", "-q", "--no-compile", str(source_copy(tmp / "src"))],
                          capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    return CoreVenv(venv, disk_bytes(venv))


@pytest.mark.install
def test_the_core_venv_is_small_and_holds_no_framework(core_venv):
    size_mb = core_venv.installed_bytes / 1e6
    print(f"core venv: {size_mb:.0f} MB installed at {core_venv.path}")
    assert size_mb <= CORE_LIMIT_MB, f"the core venv takes {size_mb:.0f} MB"
    check = ("import importlib.util, json; print(json.dumps("
             f"[m for m in {(*FRAMEWORKS, 'snakemake')!r} if importlib.util.find_spec(m)]))")
    found = subprocess.run([core_venv.python, "-c", check], capture_output=True, text=True,
                           check=True, cwd="/")
    assert json.loads(found.stdout) == []


@pytest.mark.install
def test_the_core_venv_runs_the_core_commands(core_venv, tmp_path):
    # cwd outside the checkout: the installed package is imported, not ./reusebench
    check_core_commands(tmp_path, block=False, python=core_venv.python, cwd=tmp_path)


@pytest.mark.install
@pytest.mark.skipif(not PETS.is_dir() or not ECNAS.is_file() or not EXPORT.is_file(),
                    reason=f"the real TensorBoard runs / NAS-Bench-101 files are not under "
                           f"{SHARED}")
def test_the_core_venv_reads_real_tensorboard_runs_and_nasbench_files(core_venv, tmp_path):
    reusebench = str(core_venv.path / "bin" / "reusebench")

    def run(*args: str) -> str:
        done = subprocess.run([reusebench, *args], capture_output=True, text=True,
                              cwd=tmp_path, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    run("ingest", str(PETS), "-o", "pets.parquet", "--dataset", "pets")
    run("metrics", "pets.parquet", "-o", "metrics")
    run("nasbench", str(ECNAS), str(EXPORT), "-o", "nasbench.parquet")
    check_real_tables(tmp_path / "pets.parquet", tmp_path / "nasbench.parquet", 5092)
    metrics = pd.read_parquet(tmp_path / "metrics" / "metrics.parquet")
    assert len(metrics) == 18 and metrics["m_er"].notna().all()


@pytest.mark.install
def test_the_core_venv_names_the_extra_a_rule_needs(core_venv):
    done = subprocess.run([core_venv.python, "-c",
                           "from reusebench.core.extras import require; "
                           "require('seg', 'reusebench.training.nasbench.mini')"],
                          capture_output=True, text=True, cwd="/", timeout=300)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "reusebench.core.errors.InputError: " + missing_extra_message("seg", "torch"))
    check = subprocess.run([str(core_venv.path / "bin" / "reusebench"), "check-config",
                            str(ROOT / "config" / "config.yaml")], capture_output=True, text=True,
                           cwd="/", timeout=300)
    assert check.returncode == 2
    assert check.stderr == (f"reusebench: error: "
                            f"{missing_extra_message('workflow', 'jsonschema')}\n")
