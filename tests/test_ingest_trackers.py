"""`reusebench ingest` of experiment trackers' files: MLflow, W&B, Optuna, Ray Tune, Sacred.

Every store is written by the tracker itself (a library that is not installed skips its
test with the reason) and read back by reusebench without it; the values in the curve
table must equal what was logged, exactly. Sacred 0.8.x pins wrapt<2, which this
environment's wrapt 2 rules out, so its writer test skips and its folder is also written
in the layout Sacred's FileStorageObserver writes (metrics.json, config.json, run.json).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reusebench.core.curves import read_curves
from reusebench.data.ingest import IngestOptions, ingest_logs
from reusebench.data.ingest.align import align_run
from reusebench.data.ingest.archnames import arch_from_name, arch_from_value
from reusebench.data.ingest.convert import _align_by_order
from reusebench.data.ingest.runkeys import keys_from_params
from reusebench.data.ingest.runlog import RunLog, make_series
from reusebench.data.ingest.tags import choose_tags
from reusebench.data.ingest.wandb_log import frame_records
from reusebench.glue import cli

TRAIN = [0.9, 0.6, 0.45, 0.41]
VAL = [1.0, 0.7, 0.5, 0.52]
ACCURACY = [0.31, 0.55, 0.72, 0.8]


def ingest(*args) -> int:
    return cli.main(["ingest", *map(str, args)])


def by_init(curves: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {init: rows.reset_index(drop=True) for init, rows in curves.groupby("init")}


def assert_one_sentence(capsys, *fragments: str) -> str:
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("reusebench: error: "), error
    assert error.rstrip().endswith("."), error
    for fragment in fragments:
        assert fragment in error, error
    return error


# --- MLflow ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mlflow_db(tmp_path_factory) -> Path:
    """An MLflow SQLite store: two loss runs (one diverging to NaN and inf), one accuracy
    run, one deleted run and one run without metrics."""
    tracking = pytest.importorskip("mlflow.tracking", reason="mlflow is not installed")
    from mlflow.entities import Metric, Param

    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    client = tracking.MlflowClient(tracking_uri=f"sqlite:///{path}")
    experiment = client.create_experiment("segmentation")

    def run(name: str, params: dict, metrics: dict[str, list[float]]) -> str:
        run_id = client.create_run(experiment, run_name=name).info.run_id
        stamp = int(time.time() * 1000)
        client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()],
                         metrics=[Metric(key, value, stamp + 1000 * (step + 1), step)
                                  for key, values in metrics.items()
                                  for step, value in enumerate(values)])
        client.set_terminated(run_id)
        return run_id

    run("DeepLabV3ResNet101_coco", {"lr": 0.01, "pretrained": True, "seed": 7,
                                    "batch_size": 4}, {"train_loss": TRAIN, "val_loss": VAL})
    run("fcn_resnet50_scratch", {"learning_rate": 0.001, "seed": 1},
        {"train_loss": TRAIN, "val_loss": [*VAL[:2], math.nan, math.inf]})
    run("resnet50_acc", {"lr": 0.1}, {"train_accuracy": ACCURACY,
                                      "val_accuracy": ACCURACY[::-1]})
    client.delete_run(run("unet_deleted", {"lr": 0.1}, {"train_loss": TRAIN,
                                                        "val_loss": VAL}))
    run("unet_crashed_at_start", {"lr": 0.1}, {})
    return path


def test_mlflow_sqlite_runs_become_curves_with_the_logged_values(mlflow_db, tmp_path, capsys):
    out = tmp_path / "curves.parquet"
    assert ingest(mlflow_db, "-o", out, "--dataset", "voc") == 0
    printed = capsys.readouterr().out
    assert printed.startswith("3 runs, 12 epochs, 2 runs skipped (1 deleted, 1 no metrics) ->")
    runs = by_init(read_curves(out))
    deeplab = runs["pretrained"]
    assert deeplab["train_loss"].tolist() == TRAIN and deeplab["test_loss"].tolist() == VAL
    assert (deeplab["arch"] == "deeplab101").all() and (deeplab["lr"] == 0.01).all()
    assert (deeplab["seed"] == 7).all() and (deeplab["run_state"] == "FINISHED").all()
    np.testing.assert_allclose(deeplab["epoch_seconds"].iloc[1:], 1.0)  # 1 s between values
    assert 0 < deeplab["epoch_seconds"].iloc[0] < 60  # from the run's start
    fcn = runs["random"]  # "scratch" in the name → random
    assert fcn["arch"].iloc[0] == "fcn50" and fcn["lr"].iloc[0] == 0.001
    assert math.isnan(fcn["test_loss"].iloc[2]) and fcn["test_loss"].iloc[3] == math.inf
    accuracy = runs["resnet50_acc"]
    assert accuracy["train_loss"].tolist() == [1.0 - value for value in ACCURACY]
    assert accuracy["test_accuracy"].tolist() == ACCURACY[::-1]
    assert set(accuracy["loss_kind"]) == {"1 - accuracy"} and set(deeplab["loss_kind"]) == {"loss"}
    assert "train loss 1 − 'train_accuracy', test loss 1 − 'val_accuracy'" in printed


def test_mlflow_metric_names_can_be_given(mlflow_db, tmp_path):
    out = tmp_path / "curves.csv"
    assert ingest(mlflow_db, "-o", out, "--train-tag", "val_loss", "--test-tag",
                  "train_loss") == 0  # the two runs with losses; the accuracy run is left out
    curves = read_curves(out)
    assert curves["run_id"].nunique() == 2
    assert by_init(curves)["pretrained"]["test_loss"].tolist() == TRAIN


def test_mlflow_file_store_is_read_as_text(tmp_path, monkeypatch):
    tracking = pytest.importorskip("mlflow.tracking", reason="mlflow is not installed")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = tmp_path / "mlruns"
    client = tracking.MlflowClient(tracking_uri=store.as_uri())
    run_id = client.create_run(client.create_experiment("pets"),
                               run_name="unet_seed3").info.run_id
    client.log_param(run_id, "lr", "0.0003")
    for step, (train, val) in enumerate(zip(TRAIN, VAL, strict=True)):
        client.log_metric(run_id, "train/loss", train, step=step)  # a key with "/"
        client.log_metric(run_id, "val/loss", val, step=step)
    client.set_terminated(run_id)
    out = tmp_path / "curves.csv"
    assert ingest(store, "-o", out) == 0
    curves = read_curves(out)
    assert curves["train_loss"].tolist() == TRAIN and curves["test_loss"].tolist() == VAL
    assert curves["arch"].iloc[0] == "unet" and curves["seed"].iloc[0] == 3
    assert curves["lr"].iloc[0] == 0.0003 and curves["run_state"].iloc[0] == "FINISHED"


# --- W&B -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wandb_file(tmp_path_factory) -> Path:
    wandb = pytest.importorskip("wandb", reason="wandb is not installed")
    folder = tmp_path_factory.mktemp("wandb")
    os.environ.setdefault("WANDB_SILENT", "true")
    run = wandb.init(mode="offline", dir=str(folder), project="seg", name="deeplabv3_resnet50",
                     config={"optimizer": {"lr": 0.002}, "seed": 11, "pretrained": "imagenet"},
                     settings=wandb.Settings(console="off"))
    for epoch, (train, val, accuracy) in enumerate(zip(TRAIN, VAL, ACCURACY, strict=True)):
        run.log({"epoch": epoch, "train/loss": train, "val/loss": val, "val/acc": accuracy})
    run.finish()
    wandb.teardown()  # finish() can return before wandb-core has written the file
    (path,) = folder.glob("wandb/offline-run-*/run-*.wandb")
    return path


def test_wandb_offline_run_is_read_without_wandb_sync(wandb_file, tmp_path, capsys):
    out = tmp_path / "curves.csv"
    assert ingest(wandb_file.parents[1], "-o", out) == 0
    assert "epochs: epoch tag 'epoch'" in capsys.readouterr().out
    curves = read_curves(out)
    assert curves["epoch"].tolist() == [1, 2, 3, 4]
    assert curves["train_loss"].tolist() == TRAIN and curves["test_loss"].tolist() == VAL
    assert curves["test_accuracy"].tolist() == ACCURACY
    keys = curves.iloc[0]
    assert (keys["arch"], keys["lr"], keys["seed"], keys["init"]) == ("deeplab50", 0.002, 11,
                                                                      "imagenet")
    assert keys["run_state"] == "finished" and (curves["epoch_seconds"] >= 0).all()


def test_a_cut_wandb_file_names_the_record_offset_unless_partial_reading_is_asked(
        wandb_file, tmp_path, capsys):
    data = wandb_file.read_bytes()
    offsets = [offset for offset, _ in frame_records(data, wandb_file)]
    cut = tmp_path / "run-cut.wandb"
    cut.write_bytes(data[:offsets[len(offsets) * 3 // 4] + 5])  # inside a record's header
    out = tmp_path / "curves.csv"
    assert ingest(cut, "-o", out) == 2
    assert_one_sentence(capsys, str(cut), "byte offset", "truncated", "--keep-partial")
    assert not out.exists()
    assert ingest(cut, "-o", out, "--keep-partial") == 0
    curves = read_curves(out)
    kept = len(curves)
    assert 1 <= kept <= 4 and curves["test_loss"].tolist() == VAL[:kept]


def test_a_corrupt_wandb_record_is_an_error(wandb_file, tmp_path, capsys):
    data = bytearray(wandb_file.read_bytes())
    offsets = [offset for offset, _ in frame_records(bytes(data), wandb_file)]
    data[offsets[len(offsets) // 2] + 9] ^= 0xFF  # a byte of a record's data
    bad = tmp_path / "run-bad.wandb"
    bad.write_bytes(bytes(data))
    assert ingest(bad, "-o", tmp_path / "curves.csv") == 2
    assert_one_sentence(capsys, str(bad), "byte offset", "corrupt")


# --- Optuna ----------------------------------------------------------------------------------

def optuna_storage(path: Path, direction: str, curve: list[float]) -> Path:
    optuna = pytest.importorskip("optuna", reason="optuna is not installed")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(storage=f"sqlite:///{path}", study_name="seg_unet",
                                direction=direction)

    def objective(trial):
        trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        trial.suggest_categorical("arch", ["unet", "fcn_resnet101"])
        if trial.number == 3:
            raise ValueError("failed before reporting")
        for step, value in enumerate(curve):
            trial.report(value * (1 + trial.number), step)
            if trial.number == 1 and step == 1:
                raise optuna.TrialPruned()
        if trial.number == 2:
            raise ValueError("failed after reporting")
        return curve[-1]

    study.optimize(objective, n_trials=4, catch=(ValueError,))
    return path


def test_optuna_trials_become_test_curves_with_their_state(tmp_path, capsys):
    storage = optuna_storage(tmp_path / "optuna.db", "minimize", VAL)
    out = tmp_path / "curves.csv"
    assert ingest(storage, "-o", out) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("3 runs, 10 epochs, 1 run skipped (1 no intermediate values "
                              "(fail)) ->")
    curves = read_curves(out)
    trials = {init: rows for init, rows in curves.groupby("init")}
    assert trials["seg_unet/trial_0"]["test_loss"].tolist() == VAL
    assert trials["seg_unet/trial_1"]["test_loss"].tolist() == [v * 2 for v in VAL[:2]]
    assert trials["seg_unet/trial_2"]["test_loss"].tolist() == [v * 3 for v in VAL]
    assert curves["train_loss"].isna().all()
    states = curves.drop_duplicates("init").set_index("init")["run_state"].to_dict()
    assert states == {"seg_unet/trial_0": "COMPLETE", "seg_unet/trial_1": "PRUNED",
                      "seg_unet/trial_2": "FAIL"}
    connection = sqlite3.connect(storage)
    lrs = dict(connection.execute("select t.number, p.param_value from trial_params p join "
                                  "trials t using (trial_id) where p.param_name = 'lr'"))
    read_lrs = curves.drop_duplicates("init").set_index("init")["lr"]
    assert [read_lrs[f"seg_unet/trial_{number}"] for number in range(3)] == [lrs[0], lrs[1],
                                                                            lrs[2]]
    assert set(curves["arch"]) <= {"unet", "fcn101"}


@pytest.mark.parametrize(("direction", "option", "kind"), [
    ("maximize", [], "accuracy"), ("minimize", ["--value-is", "accuracy"], "accuracy"),
    ("maximize", ["--value-is", "loss"], "loss")])
def test_optuna_values_are_a_loss_or_an_accuracy(tmp_path, direction, option, kind):
    storage = optuna_storage(tmp_path / "optuna.db", direction, [a / 4 for a in ACCURACY])
    out = tmp_path / "curves.csv"
    assert ingest(storage, "-o", out, *option) == 0
    first = read_curves(out).groupby("init").get_group("seg_unet/trial_0")
    logged = [a / 4 for a in ACCURACY]
    expected = [1.0 - value for value in logged] if kind == "accuracy" else logged
    assert first["test_loss"].tolist() == expected


# --- Ray Tune and Sacred ---------------------------------------------------------------------

RAY_SCRIPT = textwrap.dedent("""
    import sys
    import ray
    from ray import tune

    def train_fn(config):
        for epoch in range(4):
            tune.report({"train_loss": config["scale"] / (epoch + 1),
                         "val_loss": config["scale"] / (epoch + 2), "val_acc": epoch / 8})

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    tuner = tune.Tuner(train_fn, param_space={"scale": tune.grid_search([1.0, 3.0]),
                                              "lr": 0.01, "model": "resnet18"},
                       run_config=tune.RunConfig(storage_path=sys.argv[1], name="exp",
                                                 verbose=0))
    tuner.fit()
    ray.shutdown()
""")


def test_ray_tune_trial_folders_are_read_from_result_json(tmp_path, capsys):
    pytest.importorskip("ray.tune", reason="ray[tune] is not installed")
    finished = subprocess.run([sys.executable, "-c", RAY_SCRIPT, str(tmp_path / "ray")],
                              capture_output=True, text=True, timeout=300, check=False)
    assert finished.returncode == 0, finished.stderr[-2000:]
    out = tmp_path / "curves.csv"
    assert ingest(tmp_path / "ray", "-o", out, "--init", "random") == 2  # same keys: scale
    assert "get the same run keys" in capsys.readouterr().err
    assert ingest(tmp_path / "ray", "-o", out) == 0  # trial folder names tell them apart
    assert "epoch seconds: tag 'time_this_iter_s' in s" in capsys.readouterr().out
    curves = read_curves(out)
    assert curves["run_id"].nunique() == 2 and set(curves["arch"]) == {"resnet18"}
    for _, rows in curves.groupby("run_id"):
        scale = rows["train_loss"].iloc[0]
        assert rows["train_loss"].tolist() == [scale / (epoch + 1) for epoch in range(4)]
        assert rows["test_loss"].tolist() == [scale / (epoch + 2) for epoch in range(4)]
        assert rows["test_accuracy"].tolist() == [epoch / 8 for epoch in range(4)]


def write_sacred_run(folder: Path, metrics: dict[str, list[float]]) -> Path:
    """A run folder in the layout of Sacred's FileStorageObserver (sacred/observers/
    file_storage.py: run.json, config.json, metrics.json with ISO timestamps)."""
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({
        "experiment": {"name": "pets_unet"}, "status": "COMPLETED",
        "start_time": "2024-05-01T10:00:00.000000", "stop_time": "2024-05-01T10:05:00"}))
    (folder / "config.json").write_text(json.dumps({"lr": 0.005, "seed": 424242}))
    stamps = [f"2024-05-01T10:0{minute}:00.000000" for minute in range(1, 5)]
    (folder / "metrics.json").write_text(json.dumps(
        {name: {"steps": list(range(len(values))), "timestamps": stamps[:len(values)],
                "values": values} for name, values in metrics.items()}, indent=2))
    return folder


def test_sacred_run_folders_are_read(tmp_path):
    write_sacred_run(tmp_path / "runs" / "1", {"training.loss": TRAIN, "validation.loss": VAL})
    out = tmp_path / "curves.csv"
    assert ingest(tmp_path / "runs", "-o", out) == 0
    curves = read_curves(out)
    assert curves["train_loss"].tolist() == TRAIN and curves["test_loss"].tolist() == VAL
    first = curves.iloc[0]
    assert (first["arch"], first["lr"], first["seed"], first["run_state"]) == (
        "unet", 0.005, 424242, "COMPLETED")
    assert curves["epoch_seconds"].tolist() == [60.0] * 4


def test_sacred_file_storage_observer_writes_what_is_read(tmp_path):
    sacred = pytest.importorskip("sacred", reason="sacred 0.8.7 needs wrapt<2 (wrapt 2.5.2 is "
                                                  "installed), so it is not installed here")
    from sacred.observers import FileStorageObserver

    experiment = sacred.Experiment("mnist_resnet18")
    experiment.observers.append(FileStorageObserver(str(tmp_path / "runs")))

    @experiment.main
    def main(_run):
        for train, val in zip(TRAIN, VAL, strict=True):
            _run.log_scalar("train.loss", train)
            _run.log_scalar("val.loss", val)

    experiment.run(config_updates={"lr": 0.01})
    out = tmp_path / "curves.csv"
    assert ingest(tmp_path / "runs", "-o", out) == 0
    curves = read_curves(out)
    assert curves["train_loss"].tolist() == TRAIN and curves["test_loss"].tolist() == VAL
    assert curves["arch"].iloc[0] == "resnet18" and curves["lr"].iloc[0] == 0.01


# --- keys from names, one-sided and fast-path curves -----------------------------------------

@pytest.mark.parametrize(("name", "arch"), [
    ("DeepLabV3ResNet101", "deeplab101"), ("deeplabv3_resnet50", "deeplab50"),
    ("fcn_resnet101", "fcn101"), ("FCN-ResNet50_lr0.01", "fcn50"), ("unet", "unet"),
    ("resnet50", "resnet50"), ("lraspp_mobilenet_v3_large", "lraspp"),
    ("deeplabv3_mobilenet_v3_large", "mobilenetv3"), ("UNet_resnet34", None),
    ("fcn_resnet50_vs_deeplabv3_resnet101", None), ("my_model", None)])
def test_architectures_are_recognised_from_names_and_never_guessed(name, arch):
    assert arch_from_name(name) == arch


def test_params_state_run_keys_and_unknown_architectures_stay_as_stated():
    assert keys_from_params({"model.arch": "DeepLabV3ResNet101", "optimizer.lr": "3e-4",
                             "seed": "5", "weights": "None", "data": "pets"}) == {
        "arch": "deeplab101", "lr": 3e-4, "seed": 5, "init": "random", "dataset": "pets"}
    assert keys_from_params({"arch": "MyNet", "pretrained": True}) == {
        "arch": "MyNet", "init": "pretrained"}
    assert arch_from_value("resnet-50") == "resnet50" and arch_from_value("MyNet") is None


def test_a_run_with_a_test_loss_only_has_nan_train_losses(tmp_path, capsys):
    source = tmp_path / "val_only.csv"
    source.write_text("epoch,loss,val_loss\n" + "".join(f"{e},,{v}\n" for e, v in
                                                          enumerate(VAL)))
    out = tmp_path / "curves.csv"
    assert ingest(source, "-o", out, "--format", "keras-csv", "--test-tag", "val_loss") == 0
    curves = read_curves(out)
    assert curves["test_loss"].tolist() == VAL and curves["train_loss"].isna().all()
    assert "train loss none logged (NaN)" in capsys.readouterr().out


def test_the_fast_path_gives_what_align_run_gives():
    rng = np.random.default_rng(3)
    steps = np.arange(20)
    walls = 1000.0 + np.cumsum(rng.uniform(1, 5, 20))
    series = {"train_loss": make_series(steps, rng.random(20), walls),
              "val_loss": make_series(steps, np.r_[rng.random(19), np.nan], walls + 0.5),
              "val_acc": make_series(steps, rng.random(20), walls)}
    run = RunLog("r", Path("r"), "mlflow", series, start_wall=990.0)
    choice = choose_tags(run)
    fast, general = _align_by_order(run, choice), align_run(run, choice)
    pd.testing.assert_frame_equal(fast.rows, general.rows)
    assert (fast.epoch_rule, fast.time_source, fast.left_out) == (
        general.epoch_rule, general.time_source, general.left_out)


# --- bad input: one sentence naming the file, exit 2, nothing written --------------------------

def not_mlflow_sqlite(folder: Path) -> Path:
    folder.mkdir()
    path = folder / "mlflow.db"
    with sqlite3.connect(path) as connection:
        connection.execute("create table customers (id integer, name text)")
    return path


def empty_mlruns(folder: Path) -> Path:
    path = folder / "mlruns"
    (path / "0").mkdir(parents=True)
    (path / "0" / "meta.yaml").write_text("experiment_id: '0'\nname: Default\n")
    return path


def not_wandb(folder: Path) -> Path:
    folder.mkdir()
    path = folder / "run-x.wandb"
    path.write_bytes(b"not a wandb log")
    return path


def not_sqlite(folder: Path) -> Path:
    folder.mkdir()
    path = folder / "optuna.db"
    path.write_text("plain text")
    return path


def sacred_without_losses(folder: Path) -> Path:
    return write_sacred_run(folder / "1", {"reward": [1.0, 2.0]}).parent


BAD = {
    "non_mlflow_sqlite": (not_mlflow_sqlite, ["neither an MLflow tracking store",
                                              "tables found: customers"]),
    "empty_mlruns_folder": (empty_mlruns, ["an MLflow file store without runs"]),
    "empty_plain_mlruns_folder": (lambda d: (d / "mlruns").mkdir(parents=True) or d / "mlruns",
                                  ["an MLflow file store without runs"]),
    "not_a_wandb_file": (not_wandb, ["is not a W&B run file"]),
    "not_an_sqlite_file": (not_sqlite, ["is not an SQLite database"]),
    "sacred_run_without_losses": (sacred_without_losses, ["no train and test loss tags",
                                                          "'reward'"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_tracker_files_are_one_sentence_and_exit_2(tmp_path, capsys, case):
    make, fragments = BAD[case]
    bad = make(tmp_path / "logs")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert ingest(bad, "-o", out_dir / "curves.csv") == 2
    assert_one_sentence(capsys, str(bad), *fragments)
    assert list(out_dir.iterdir()) == []


def test_a_percentage_is_no_accuracy(tmp_path, capsys):
    source = write_sacred_run(tmp_path / "runs" / "1", {"train.acc": [55.0, 61.0],
                                                        "val.acc": [50.0, 58.0]})
    assert ingest(source, "-o", tmp_path / "curves.csv") == 2
    assert_one_sentence(capsys, "holds 55.0, which is no accuracy in [0, 1]")


def test_ingest_api_reports_skipped_runs(tmp_path):
    write_sacred_run(tmp_path / "runs" / "1", {"train.loss": TRAIN, "val.loss": VAL})
    write_sacred_run(tmp_path / "runs" / "2", {"reward": [1.0]})
    curves, report = ingest_logs([tmp_path / "runs"], IngestOptions())
    assert curves["run_id"].nunique() == 1
    assert [run.skipped for run in report] == ["", "no loss or accuracy metric recognised"]


# --- NAS-Bench JSON export without cells (item 6) ---------------------------------------------

def test_a_nasbench_export_without_cells_names_the_missing_columns(tmp_path, capsys):
    export = {"key": ["a"], "trainable_parameters": [10], "final_training_time": [1.0],
              **{f"{b}_final_validation_accuracy": [0.5] for b in (4, 12, 36, 108)}}
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    assert cli.main(["nasbench", str(path), "-o", str(tmp_path / "out.parquet")]) == 2
    assert_one_sentence(capsys, "export.json", "lacks the columns adjacency, operations")
