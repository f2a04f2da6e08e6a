"""A Keras callback that writes the curve table as ``fit`` goes (``reusebench.log``).

    from reusebench.log_keras import KerasCurveLogger

    model.fit(x, y, validation_data=(xv, yv), epochs=50,
              callbacks=[KerasCurveLogger("curves.csv", arch="vgg16", lr=1e-3)])

Each epoch's ``loss`` and ``val_loss`` (``fit`` needs validation data) become the train and
test loss; ``accuracy`` / ``val_accuracy`` (or ``acc`` / ``val_acc``) travel as
``train_accuracy`` / ``test_accuracy``. Keras counts epochs from 0 (and from
``initial_epoch`` when resuming), the curve table from 1. Keras 3 is used, or Keras 2
(``tf_keras``) where ``TF_USE_LEGACY_KERAS=1`` is set, as ``tf.keras`` does.
"""

from __future__ import annotations

import os
from pathlib import Path

from reusebench.core.errors import InputError
from reusebench.core.extras import require
from reusebench.log import CurveLogger

keras = (require("tradeoff", "tf_keras") if os.environ.get("TF_USE_LEGACY_KERAS") == "1"
         else require("keras", "keras"))

TASK_KEYS = {"accuracy": "train_accuracy", "acc": "train_accuracy",
             "val_accuracy": "test_accuracy", "val_acc": "test_accuracy"}


class KerasCurveLogger(keras.callbacks.Callback):
    """Appends a curve-table row at the end of every epoch; run keys as for CurveLogger."""

    def __init__(self, path: str | Path, *, train_key: str = "loss",
                 test_key: str = "val_loss", **keys: object) -> None:
        super().__init__()
        self.logger = CurveLogger(path, **keys)  # type: ignore[arg-type]
        self.train_key, self.test_key = train_key, test_key

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        for key in (self.train_key, self.test_key):
            if key not in logs:
                raise InputError(f"{self.logger.path}: the epoch's logs hold no {key!r} "
                                 f"(found: {', '.join(sorted(logs)) or 'none'}); fit with "
                                 "validation data, or name the keys with train_key/test_key.")
        task = {column: logs[key] for key, column in TASK_KEYS.items() if key in logs}
        self.logger.epoch(logs[self.train_key], logs[self.test_key], epoch=epoch + 1, **task)

    def on_train_end(self, logs: dict | None = None) -> None:
        self.logger.close()
