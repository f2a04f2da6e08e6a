"""A PyTorch Lightning callback that writes the curve table as ``fit`` goes
(``reusebench.log``).

    from reusebench.log_lightning import LightningCurveLogger

    trainer = Trainer(max_epochs=50,
                      callbacks=[LightningCurveLogger("curves.csv", arch="unet", lr=1e-3)])

At the end of each training epoch (after its validation) the logged ``train_loss`` (or
``train_loss_epoch``, as ``self.log(..., on_step=True, on_epoch=True)`` names it) and
``val_loss`` become the train and test loss; ``train_acc(uracy)`` / ``val_acc(uracy)``
travel as ``train_accuracy`` / ``test_accuracy``. Only the global-rank-0 process writes;
the sanity-check validation is not an epoch. Resuming from a checkpoint continues the
file's epochs (``current_epoch`` + 1).
"""

from __future__ import annotations

from pathlib import Path

from reusebench.core.errors import InputError
from reusebench.core.extras import require
from reusebench.log import CurveLogger

Callback = require("lightning", "lightning.pytorch.callbacks").Callback

TASK_KEYS = {"train_acc": "train_accuracy", "train_accuracy": "train_accuracy",
             "val_acc": "test_accuracy", "val_accuracy": "test_accuracy"}


class LightningCurveLogger(Callback):
    """Appends a curve-table row at the end of every training epoch."""

    def __init__(self, path: str | Path, *, train_key: str = "train_loss",
                 test_key: str = "val_loss", **keys: object) -> None:
        super().__init__()
        self.logger = CurveLogger(path, **keys)  # type: ignore[arg-type]
        self.train_key, self.test_key = train_key, test_key

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
        train = metrics.get(self.train_key, metrics.get(f"{self.train_key}_epoch"))
        test = metrics.get(self.test_key, metrics.get(f"{self.test_key}_epoch"))
        if train is None or test is None:
            missing = self.train_key if train is None else self.test_key
            raise InputError(f"{self.logger.path}: epoch {trainer.current_epoch + 1} logged no "
                             f"{missing!r} (logged: {', '.join(sorted(metrics)) or 'none'}); "
                             "validate every epoch, or name the keys with "
                             "train_key/test_key.")
        task = {column: metrics[key] for key, column in TASK_KEYS.items() if key in metrics}
        self.logger.epoch(train, test, epoch=trainer.current_epoch + 1, **task)

    def teardown(self, trainer, pl_module, stage: str) -> None:
        self.logger.close()
