"""reusebench.log.CurveLogger and its Keras and Lightning callbacks: the curve table written
as training goes, readable while live, durable across a kill -9, safe to resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from reusebench.core.curves import read_curves
from reusebench.core.errors import InputError
from reusebench.glue import cli
from reusebench.log import CurveLogger

TRAIN = [0.9, 0.6, 0.45, 0.41]
TEST = [1.0, 0.7, 0.5, 0.52]


def test_the_five_line_loop_writes_a_curve_table_readable_after_every_epoch(tmp_path,
                                                                           monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    path = tmp_path / "curves.csv"
    with CurveLogger(path, arch="unet", dataset="pets", lr=1e-3, seed=2) as log:
        for epoch in range(log.next_epoch, 5):
            log.epoch(TRAIN[epoch - 1], TEST[epoch - 1], test_accuracy=epoch / 10)
            live = read_curves(path)  # the file is a valid table while the run is live
            assert live["epoch"].tolist() == list(range(1, epoch + 1))
    assert len(synced) >= 4  # one fsync per epoch at least
    curves = read_curves(path)
    assert curves["train_loss"].tolist() == TRAIN and curves["test_loss"].tolist() == TEST
    assert curves["test_accuracy"].tolist() == [0.1, 0.2, 0.3, 0.4]
    assert curves["run_id"].iloc[0] == "X/pets/unet/unknown/lr0.001/s2/unknown"
    assert (curves["epoch_seconds"] >= 0).all()
    out = tmp_path / "metrics"
    assert cli.main(["metrics", str(path), "-o", str(out), "--fit-points", "2"]) == 0
    assert len(pd.read_parquet(out / "metrics.parquet")) == 1


def test_resuming_continues_after_the_last_epoch_and_refuses_repeats(tmp_path):
    path = tmp_path / "curves.csv"
    with CurveLogger(path, arch="unet", lr=0.01) as log:
        log.epoch(TRAIN[0], TEST[0], seconds=12.5)
        log.epoch(TRAIN[1], TEST[1], seconds=13.0)
    with CurveLogger(path, arch="unet", lr=0.01) as log:
        assert log.next_epoch == 3
        with pytest.raises(InputError, match="logs epoch 2, but its next epoch is 3"):
            log.epoch(TRAIN[1], TEST[1], epoch=2)
        with pytest.raises(InputError, match="logs epoch 5"):
            log.epoch(TRAIN[3], TEST[3], epoch=5)
        log.epoch(TRAIN[2], TEST[2], epoch=3)
    with CurveLogger(path, arch="fcn50", lr=0.01) as other:  # a second run in the same file
        assert other.next_epoch == 1
        other.epoch(0.5, 0.6)
    curves = read_curves(path)
    assert curves.groupby("arch")["epoch"].max().to_dict() == {"fcn50": 1, "unet": 3}
    assert curves[curves["arch"] == "unet"]["epoch_seconds"].tolist()[:2] == [12.5, 13.0]


def test_a_line_cut_by_a_crash_is_dropped_when_the_run_resumes(tmp_path):
    path = tmp_path / "curves.csv"
    with CurveLogger(path) as log:
        log.epoch(TRAIN[0], TEST[0])
    with path.open("a") as stream:
        stream.write("X/unknown/unknown/unknown/lr0/s0/unknown,X,unknown,unk")
    with CurveLogger(path) as log:
        assert log.next_epoch == 2
        log.epoch(TRAIN[1], TEST[1])
    assert read_curves(path)["test_loss"].tolist() == TEST[:2]


KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    from reusebench.log import CurveLogger
    log = CurveLogger(sys.argv[1], arch="resnet18", seed=4)
    for train, test in [(0.9, 1.0), (0.6, 0.7), (0.45, 0.5)]:
        log.epoch(train, test)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_every_finished_epoch_survives_a_kill_9_and_the_run_resumes(tmp_path):
    path = tmp_path / "curves.csv"
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, str(path)], check=False,
                            timeout=120)
    assert killed.returncode == -9
    with CurveLogger(path, arch="resnet18", seed=4) as log:
        assert log.next_epoch == 4
        log.epoch(TRAIN[3], TEST[3])
    assert read_curves(path)["test_loss"].tolist() == TEST


@pytest.mark.parametrize(("call", "message"), [
    (lambda log: log.epoch(-0.1, 0.5), "train_loss -0.1 is negative"),
    (lambda log: log.epoch("low", 0.5), "train_loss must be a number"),
    (lambda log: log.epoch(True, 0.5), "train_loss must be a number"),
    (lambda log: [log.epoch(0.3, 0.5, iou=0.2), log.epoch(0.3, 0.5, dice=0.1)],
     "column 'dice' is not in the file's header"),
])
def test_bad_values_are_one_sentence_and_leave_the_file_valid(tmp_path, call, message):
    path = tmp_path / "curves.csv"
    with CurveLogger(path) as log, pytest.raises(InputError, match=message):
        call(log)
    if path.exists():
        assert len(read_curves(path)) == 1


def test_bad_keys_and_files_are_refused(tmp_path):
    with pytest.raises(InputError, match="lr must be a finite number"):
        CurveLogger(tmp_path / "a.csv", lr=-1.0)
    with pytest.raises(InputError, match="seed must be a whole number"):
        CurveLogger(tmp_path / "a.csv", seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"writes a \.csv curve table"):
        CurveLogger(tmp_path / "a.parquet")
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="not a curve table written by CurveLogger"):
        CurveLogger(other)


KERAS_RUN = """
import json, sys
import numpy as np
from reusebench.log_keras import KerasCurveLogger, keras

rng = np.random.default_rng(0)
x = rng.normal(size=(32, 4)).astype("float32")
y = (x[:, 0] > 0).astype("int64")
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(2, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
path = sys.argv[1]
first = model.fit(x, y, validation_data=(x, y), epochs=2, batch_size=16, verbose=0,
                  callbacks=[KerasCurveLogger(path, arch="mlp", lr=1e-3)])
second = model.fit(x, y, validation_data=(x, y), epochs=3, initial_epoch=2, batch_size=16,
                   verbose=0, callbacks=[KerasCurveLogger(path, arch="mlp", lr=1e-3)])
print(json.dumps({key: [*first.history[key], *second.history[key]]
                  for key in ("loss", "val_loss", "val_accuracy")}))
"""


def test_keras_callback_logs_every_epoch_and_resumes_from_initial_epoch(tmp_path):
    pytest.importorskip("keras", reason="Keras is not installed")
    path = tmp_path / "curves.csv"
    # its own process: TensorFlow started here would fix the thread settings of later tests
    done = subprocess.run([sys.executable, "-c", KERAS_RUN, str(path)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    history = json.loads(done.stdout.splitlines()[-1])
    curves = read_curves(path)
    assert curves["epoch"].tolist() == [1, 2, 3]
    for column, key in (("train_loss", "loss"), ("test_loss", "val_loss"),
                        ("test_accuracy", "val_accuracy")):
        np.testing.assert_allclose(curves[column], history[key], rtol=1e-7)


def test_lightning_callback_logs_every_epoch(tmp_path):
    pytest.importorskip("lightning", reason="Lightning is not installed")
    import torch
    from lightning.pytorch import LightningModule, Trainer
    from torch.utils.data import DataLoader, TensorDataset

    from reusebench.log_lightning import LightningCurveLogger

    torch.manual_seed(0)
    data = TensorDataset(torch.randn(16, 3), torch.randn(16, 1))

    class Regression(LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(3, 1)
            self.logged: dict[str, list[float]] = {"train": [], "val": []}

        def step(self, batch, split):
            loss = torch.nn.functional.mse_loss(self.layer(batch[0]), batch[1])
            self.log(f"{split}_loss", loss, on_step=False, on_epoch=True)
            if not self.trainer.sanity_checking:
                self.logged[split].append(float(loss.detach()))
            return loss

        def training_step(self, batch, _):
            return self.step(batch, "train")

        def validation_step(self, batch, _):
            self.step(batch, "val")

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    model = Regression()
    path = tmp_path / "curves.csv"
    trainer = Trainer(accelerator="cpu", max_epochs=3, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False,
                      callbacks=[LightningCurveLogger(path, arch="linear", lr=0.1)])
    loader = DataLoader(data, batch_size=16)
    trainer.fit(model, loader, loader)
    curves = read_curves(path)
    assert curves["epoch"].tolist() == [1, 2, 3]
    assert curves["train_loss"].tolist() == model.logged["train"]
    assert curves["test_loss"].tolist() == model.logged["val"]
