"""`reusebench ingest`: outside training logs → curve table → `reusebench metrics`.

Fixtures are written by the real writers where one is installed: torch's SummaryWriter and
tf-keras' CSVLogger / TensorBoard callbacks. Lightning is not installed; its metrics.csv is
written in the layout its CSVLogger documents. The Study A authors' CSV is written with the
fieldnames of their training script.
"""

from __future__ import annotations

import contextlib
import csv
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from torch.utils.tensorboard import SummaryWriter

from reusebench.core.curves import read_curves
from reusebench.data.ingest.runkeys import KeyOptions, keys_from_name, run_keys
from reusebench.glue import cli

ROOT = Path(__file__).resolve().parents[1]
PETS = ROOT.parent / "shared" / "data" / "training_logs" / "tensorboard_pets_unet" / "runs"
needs_pets = pytest.mark.skipif(not PETS.is_dir(),
                                reason=f"the 18 real TensorBoard runs are not at {PETS}")


def ingest(*args) -> int:
    return cli.main(["ingest", *map(str, args)])


def write_events(folder: Path, points, new_style: bool = False) -> Path:
    """Write (tag, value, step[, wall time]) points with torch's SummaryWriter."""
    with SummaryWriter(log_dir=str(folder)) as writer:
        for tag, value, step, *wall in points:
            writer.add_scalar(tag, value, step, walltime=wall[0] if wall else None,
                              new_style=new_style)
    (path,) = folder.glob("*tfevents*")
    return path


def epochs_of(curves: pd.DataFrame) -> dict[str, list[int]]:
    return {run_id: list(rows["epoch"]) for run_id, rows in curves.groupby("run_id")}


# --- the 18 real runs ------------------------------------------------------------------------

@needs_pets
def test_every_pets_run_becomes_a_curve_with_finite_metrics(tmp_path, capsys):
    curves_path, metrics_dir = tmp_path / "pets.parquet", tmp_path / "metrics"
    assert ingest(PETS, "-o", curves_path, "--dataset", "pets") == 0
    printed = capsys.readouterr().out
    assert printed.startswith("18 runs, 591 epochs")
    assert "train loss 'Training loss', test loss 'Test loss (avg on test)'" in printed
    assert "epoch seconds: tag 'Epoch time' in min (by wall clock)" in printed
    curves = read_curves(curves_path)
    assert curves["run_id"].nunique() == 18
    for epochs in epochs_of(curves).values():
        assert epochs == list(range(1, len(epochs) + 1)) and 16 <= len(epochs) <= 50
    assert (curves["epoch_seconds"] > 0).all() and curves["iou"].between(0, 1).all()
    first = curves[curves["init"] == "UNet_Adam_CE"].iloc[0]  # values read from the file
    assert first["train_loss"] == pytest.approx(0.8528221845626831)
    assert first["test_loss"] == pytest.approx(0.7736382484436035)
    assert first["epoch_seconds"] == pytest.approx(1.3993183374404907 * 60)  # minutes
    lrs = curves.drop_duplicates("run_id").set_index("init")["lr"]
    assert lrs["UNet_lr1e_3"] == 1e-3 and lrs["UNet_dr015_bs16_lr2e_4"] == 2e-4
    assert lrs["UNet_wd_1e_4"] == 0  # a weight decay is no lr: not known
    assert set(curves["arch"]) == {"unet"} and set(curves["study"]) == {"X"}

    assert cli.main(["metrics", str(curves_path), "-o", str(metrics_dir)]) == 0
    metrics = pd.read_parquet(metrics_dir / "metrics.parquet")
    assert len(metrics) == 18
    for column in ("m_er", "ep_star", "m_stab", "t_m_er", "d_re", "d_unif", "delta_fit_min"):
        assert np.isfinite(metrics[column].astype("float64")).all(), column


# --- TensorBoard: tags, steps → epochs, epoch time ------------------------------------------

def test_per_batch_train_loss_is_averaged_over_the_epochs_the_test_loss_ends(tmp_path):
    batches = [(step, 1.0 / (step + 1)) for step in range(12)]  # 3 batches per epoch
    points = [("Loss/train", value, step) for step, value in batches]
    points += [("Loss/test", 0.5 / epoch, 3 * epoch - 1) for epoch in range(1, 5)]
    write_events(tmp_path / "logs" / "resnet18_seed2", points)
    out = tmp_path / "curves.csv"
    assert ingest(tmp_path / "logs", "-o", out) == 0
    curves = read_curves(out)
    assert list(curves["epoch"]) == [1, 2, 3, 4]
    expected = [np.mean([value for step, value in batches[3 * k:3 * k + 3]]) for k in range(4)]
    np.testing.assert_allclose(curves["train_loss"], expected, rtol=1e-6)
    np.testing.assert_allclose(curves["test_loss"], [0.5, 0.25, 0.5 / 3, 0.125], rtol=1e-6)
    assert curves["arch"].iloc[0] == "resnet18" and curves["seed"].iloc[0] == 2


def test_an_epoch_tag_gives_the_epoch_of_every_value(tmp_path):
    # Lightning's TensorBoardLogger: "epoch" logged (from 0) beside each metric; tensor values
    points = []
    for epoch in range(3):
        for step in range(10 * epoch, 10 * epoch + 10, 5):
            points += [("train_loss", 3.0 - epoch - step / 100, step), ("epoch", epoch, step)]
        points += [("val_loss", 1.5 - epoch / 2, 10 * epoch + 9), ("epoch", epoch, 10 * epoch + 9)]
    write_events(tmp_path / "version_0", points, new_style=True)
    out = tmp_path / "curves.csv"
    assert ingest(tmp_path / "version_0", "-o", out, "--arch", "mlp", "--lr", "0.01") == 0
    curves = read_curves(out)
    assert list(curves["epoch"]) == [1, 2, 3]
    np.testing.assert_allclose(curves["test_loss"], [1.5, 1.0, 0.5], rtol=1e-6)
    np.testing.assert_allclose(curves["train_loss"], [2.975, 1.875, 0.775], rtol=1e-5)
    assert (curves["arch"] == "mlp").all() and (curves["lr"] == 0.01).all()


def test_epoch_seconds_come_from_the_wall_clock_without_a_time_tag(tmp_path, capsys):
    start = time.time()
    points = [(tag, 1.0 / k, k, start + 30.0 * k) for k in range(1, 4)
              for tag in ("train/loss", "test/loss")]
    write_events(tmp_path / "run", points)
    out = tmp_path / "curves.csv"
    assert ingest(tmp_path / "run", "-o", out) == 0
    assert "wall clock between 'test/loss' events" in capsys.readouterr().out
    seconds = read_curves(out)["epoch_seconds"]
    assert seconds.iloc[0] == pytest.approx(30.0, abs=2.0)  # from when the writer opened
    np.testing.assert_allclose(seconds.iloc[1:], [30.0, 30.0])


@pytest.mark.parametrize(("unit_option", "expected", "printed"), [
    ([], 30.0, "tag 'epoch_time' in min (by wall clock)"),
    (["--time-unit", "s"], 0.5, "tag 'epoch_time' in s"),
])
def test_an_epoch_time_tag_is_read_in_the_unit_the_wall_clock_suggests(
        tmp_path, capsys, unit_option, expected, printed):
    start = time.time()
    points = [(tag, value, k, start + 30.0 * k) for k in range(1, 4)
              for tag, value in (("loss", 1.0 / k), ("val_loss", 1.2 / k), ("epoch_time", 0.5))]
    write_events(tmp_path / "run", points)
    out = tmp_path / "curves.csv"
    assert ingest(tmp_path / "run", "-o", out, *unit_option) == 0
    assert printed in capsys.readouterr().out
    np.testing.assert_allclose(read_curves(out)["epoch_seconds"], [expected] * 3)


def test_named_tags_override_the_defaults(tmp_path):
    points = [(tag, value / k, k) for k in range(1, 4)
              for tag, value in (("loss", 1.0), ("val_loss", 2.0), ("my_fit", 3.0),
                                 ("my_check", 4.0))]
    write_events(tmp_path / "run", points)
    out = tmp_path / "curves.csv"
    assert ingest(tmp_path / "run", "-o", out, "--train-tag", "MY_FIT", "--test-tag",
                  "my_check") == 0
    curves = read_curves(out)
    np.testing.assert_allclose(curves["train_loss"], [3.0, 1.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(curves["test_loss"], [4.0, 2.0, 4.0 / 3], rtol=1e-6)


# --- Keras, Lightning and the Study A authors' CSV ------------------------------------------

def test_keras_csvlogger_and_tensorboard_callback_give_the_same_curve(tmp_path):
    from reusebench.training.keras.backend import configure, keras

    with contextlib.suppress(RuntimeError):  # TensorFlow already started in this process
        configure(1, "cpu")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(2, "softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    log_dir = tmp_path / "vgg16_lr1e-3"
    callbacks = [keras.callbacks.CSVLogger(str(tmp_path / "vgg16_lr1e-3.csv")),
                 keras.callbacks.TensorBoard(str(log_dir), write_graph=False, profile_batch=0)]
    history = model.fit(x, y, validation_data=(x, y), epochs=2, batch_size=8, verbose=0,
                        callbacks=callbacks)
    assert ingest(tmp_path / "vgg16_lr1e-3.csv", "-o", tmp_path / "csv.csv") == 0
    assert ingest(log_dir, "-o", tmp_path / "tb.csv") == 0
    from_csv, from_tb = read_curves(tmp_path / "csv.csv"), read_curves(tmp_path / "tb.csv")
    for curves in (from_csv, from_tb):
        assert list(curves["epoch"]) == [1, 2]
        np.testing.assert_allclose(curves["train_loss"], history.history["loss"], rtol=1e-6)
        np.testing.assert_allclose(curves["test_loss"], history.history["val_loss"], rtol=1e-6)
        assert curves["arch"].iloc[0] == "vgg16" and curves["lr"].iloc[0] == 1e-3
    np.testing.assert_allclose(from_csv["test_accuracy"], history.history["val_accuracy"])
    assert from_csv["epoch_seconds"].isna().all()  # CSVLogger records no time
    assert (from_tb["epoch_seconds"] > 0).all()  # the events' wall clock


def test_lightning_metrics_csv_alternating_rows_become_epochs(tmp_path):
    # The layout of Lightning's CSVLogger (logs in save_dir/name/version_N/metrics.csv, one
    # row per logging call with `step`, `epoch` from 0 and the other metrics' cells blank):
    # https://lightning.ai/docs/pytorch/stable/extensions/generated/lightning.pytorch.loggers.CSVLogger.html
    run = tmp_path / "lightning_logs" / "version_0"
    run.mkdir(parents=True)
    (run / "hparams.yaml").write_text("lr: 0.003\nbatch_size: 16\n")
    rows = []
    for epoch in range(3):
        rows += [{"train_loss": 1.0 - 0.1 * epoch - 0.02 * i, "epoch": epoch,
                  "step": 4 * epoch + 2 * i + 1} for i in range(2)]
        rows.append({"val_loss": 1.2 - 0.2 * epoch, "val_acc": 0.5 + 0.1 * epoch,
                     "epoch": epoch, "step": 4 * epoch + 3})
    with (run / "metrics.csv").open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=["train_loss", "epoch", "step", "val_loss",
                                                    "val_acc"])
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "curves.csv"
    assert ingest(tmp_path / "lightning_logs", "-o", out) == 0
    curves = read_curves(out)
    assert list(curves["epoch"]) == [1, 2, 3]
    np.testing.assert_allclose(curves["train_loss"], [0.99, 0.89, 0.79])
    np.testing.assert_allclose(curves["test_loss"], [1.2, 1.0, 0.8])
    np.testing.assert_allclose(curves["test_accuracy"], [0.5, 0.6, 0.7])
    assert curves["lr"].iloc[0] == 0.003 and curves["init"].iloc[0] == "version_0"


AUTHORS_FIELDS = ["Model", "Pretrained", "LR", "Batch_Size", "epoch", "Seconds", "Train_loss",
                  "Test_loss", "Per-Pixel Accuracy", "Precision", "Recall", "F1-Score", "Dice",
                  "Jaccard", "MSE"]


def write_authors_csv(path: Path, runs) -> Path:
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=AUTHORS_FIELDS)
        writer.writeheader()
        for pretrained, gain in runs:
            for epoch, seconds in zip(range(1, 13), range(10, 130, 10), strict=True):
                test = gain * epoch ** -0.5
                writer.writerow({"Model": "Deeplab50", "Pretrained": pretrained, "LR": 0.001,
                                 "Batch_Size": 2, "epoch": epoch, "Seconds": seconds + epoch,
                                 "Train_loss": 1.1 * test, "Test_loss": test,
                                 "Per-Pixel Accuracy": 0.9, "Precision": 0.8, "Recall": 0.7,
                                 "F1-Score": 0.6, "Dice": 0.6, "Jaccard": 0.5, "MSE": 0.1})
    return path


def test_authors_csv_gives_keys_from_its_columns_and_seconds_per_epoch(tmp_path, capsys):
    source = write_authors_csv(tmp_path / "a10_metrics.csv", [(True, 0.8), (False, 1.0)])
    out, metrics_dir = tmp_path / "curves.csv", tmp_path / "metrics"
    assert ingest(source, "-o", out, "--dataset", "a10") == 0
    assert "epoch seconds: tag 'Seconds' in s" in capsys.readouterr().out
    curves = read_curves(out)
    assert sorted(curves["init"].unique()) == ["coco", "random"]
    assert set(curves["arch"]) == {"deeplab50"} and set(curves["lr"]) == {0.001}
    # cumulative Seconds 11, 22, 33, ... → 11 s per epoch
    assert (curves["epoch_seconds"] == 11).all()
    assert {"pixel_accuracy", "precision", "recall", "f1", "iou"} <= set(curves.columns)
    assert cli.main(["metrics", str(out), "-o", str(metrics_dir)]) == 0
    pairs = pd.read_csv(metrics_dir / "pairs.csv")
    data = pairs[pairs["kind"] == "data"]
    assert len(data) == 1 and data["g_init"].iloc[0] == pytest.approx(1.0 * 12 ** -0.5 * 0.2)


# --- run keys --------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "expected"), [
    ("UNet_lr1e_3", {"arch": "unet", "lr": 1e-3, "init": "UNet_lr1e_3"}),
    ("UNet_dr015_bs16_lr2e_4", {"arch": "unet", "lr": 2e-4, "init": "UNet_dr015_bs16_lr2e_4"}),
    ("UNet_wd_1e_4", {"arch": "unet", "init": "UNet_wd_1e_4"}),
    ("efficientnet-b0_pretrained_seed3_lr=0.01", {"arch": "efficientnetb0", "lr": 0.01,
                                                  "seed": 3, "init": "pretrained"}),
    ("resnet50_vs_vgg16_scratch", {"init": "random"}),  # two archs: not clear
    ("run_lr0.1_lr0.01", {"init": "run_lr0.1_lr0.01"}),  # two lrs: not clear
    ("Adam_CE", {"init": "Adam_CE"}),
])
def test_run_names_give_only_the_keys_they_state_clearly(name, expected):
    assert keys_from_name(name) == expected


def test_options_win_over_the_log_and_the_name():
    keys = run_keys("UNet_lr1e_3", {"lr": 0.5, "arch": "fcn50"},
                    KeyOptions(lr=0.02, dataset="pets"))
    assert keys == {"study": "X", "dataset": "pets", "arch": "fcn50", "init": "UNet_lr1e_3",
                    "lr": 0.02, "seed": 0, "device": "unknown"}


# --- bad input: one sentence naming the file, exit 2, nothing written --------------------------

def good_events(folder: Path) -> Path:
    return write_events(folder, [(tag, 1.0 / k, k) for k in range(1, 30)
                                 for tag in ("loss", "val_loss")])


def corrupt(path: Path) -> Path:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def truncate(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[:-7])
    return path


def not_events(folder: Path) -> Path:
    folder.mkdir()
    path = folder / "events.out.tfevents.123.host"
    path.write_bytes(b"this is not a TFRecord file at all")
    return path


def csv_without_losses(folder: Path) -> Path:
    folder.mkdir()
    path = folder / "log.csv"
    path.write_text("time,accuracy\n1,0.5\n2,0.6\n")
    return path


def keras_csv_without_val_loss(folder: Path) -> Path:
    folder.mkdir()
    path = folder / "log.csv"
    path.write_text("epoch,loss,accuracy\n0,1.0,0.5\n1,0.8,0.6\n")
    return path


def unknown_tags(folder: Path) -> Path:
    return write_events(folder, [(tag, 1.0, k) for k in range(3) for tag in ("alpha", "beta")])


def empty_folder(folder: Path) -> Path:
    folder.mkdir()
    return folder


BAD_INPUT = {
    "corrupt_event_file": (lambda d: corrupt(good_events(d)), ["checksum (corrupt file)"]),
    "truncated_event_file": (lambda d: truncate(good_events(d)), ["truncated"]),
    "not_an_event_file": (not_events, ["not a TFRecord file"]),
    "csv_without_loss_columns": (csv_without_losses, ["no recognisable loss columns",
                                                      "'accuracy'"]),
    "keras_csv_without_val_loss": (keras_csv_without_val_loss,
                                   ["no train and test loss columns", "'loss'", "--test-tag"]),
    "tags_that_name_no_loss": (unknown_tags, ["no train and test loss tags", "'alpha', 'beta'"]),
    "empty_folder": (empty_folder, ["holds no TensorBoard event files or CSV logs"]),
    "missing_source": (lambda d: d / "nowhere", ["no such file or folder"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_one_sentence_exit_2_and_nothing_written(tmp_path, capsys, case):
    make, fragments = BAD_INPUT[case]
    bad = make(tmp_path / "logs")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert ingest(bad, "-o", out_dir / "curves.csv") == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("reusebench: error: "), error
    assert str(bad) in error and error.rstrip().endswith("."), error
    for fragment in fragments:
        assert fragment in error, error
    assert list(out_dir.iterdir()) == []


def test_runs_that_get_the_same_keys_are_an_error(tmp_path, capsys):
    for parent in ("a", "b"):
        good_events(tmp_path / parent / "unet_lr1e-3")
    out = tmp_path / "curves.csv"
    assert ingest(tmp_path / "a", tmp_path / "b", "-o", out) == 2
    error = capsys.readouterr().err
    assert "get the same run keys" in error and "X/unknown/unet/unet_lr1e-3/lr0.001" in error
    assert not out.exists()


def test_an_output_that_is_no_table_is_refused_before_reading(tmp_path, capsys):
    good_events(tmp_path / "run")
    assert ingest(tmp_path / "run", "-o", tmp_path / "curves.txt") == 2
    assert "must end in .csv or .parquet" in capsys.readouterr().err
    assert not (tmp_path / "curves.txt").exists()


# --- flags: ingested logs go through the same metric code ------------------------------------

def test_ingested_runs_are_flagged_diverged_or_not_learning_with_a_reason(tmp_path, capsys):
    logs = tmp_path / "logs"
    logs.mkdir()
    for name, val_losses in (("unet_lr1e_3", [0.9, 0.5, 0.3, 0.25]),   # learns
                             ("unet_lr1000", [0.71, 0.4, 2.2e7, 1e6]),  # blows up, finite
                             ("unet_lr1e_6", [0.69, 0.68, 0.68, 0.67])):  # never learns
        rows = [f"{epoch},{loss},{loss}" for epoch, loss in enumerate(val_losses)]
        (logs / f"{name}.csv").write_text("epoch,loss,val_loss\n" + "\n".join(rows) + "\n")
    curves, out = tmp_path / "curves.csv", tmp_path / "metrics"
    assert ingest(logs, "-o", curves, "--format", "keras-csv") == 0
    assert cli.main(["metrics", str(curves), "-o", str(out), "--fit-points", "2"]) == 0
    assert "flagged: 1 diverged, 1 not learning" in capsys.readouterr().out
    metrics = pd.read_parquet(out / "metrics.parquet").set_index("lr")
    assert metrics.loc[1000, "flag_reason"] == ("test loss 2.2e+07 at epoch 3 exceeds 10 × its "
                                                "epoch-1 value 0.71")
    assert bool(metrics.loc[1e-6, "not_learning"]) and not metrics.loc[1e-6, "diverged"]
    assert metrics.loc[1e-6, "flag_reason"] == ("best test loss 0.67 not below 0.85 × "
                                                "first-epoch test loss 0.69")
    assert metrics.loc[1e-3, "flag_reason"] == "" and not metrics.loc[1e-3, "not_learning"]
    assert set(metrics["reference_kind"]) == {"first_epoch"}
