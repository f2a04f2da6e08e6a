"""Write the curve table from your own training loop, one row per epoch, as training goes.

    from reusebench.log import CurveLogger

    with CurveLogger("curves.csv", arch="unet", dataset="pets", lr=1e-3, seed=0) as log:
        for epoch in range(log.next_epoch, 51):
            log.epoch(train_one_epoch(), evaluate())  # epoch seconds are measured

The file is a curve table (CSV) that ``reusebench metrics`` reads as it is:

- append-only: each epoch is one line, written in one call and flushed and fsynced before
  ``epoch`` returns, so the file can be read (``read_curves``) while the run is live and
  holds every finished epoch after a crash;
- safe to resume: opening an existing file continues the run with the same keys after its
  last epoch (``next_epoch``); a line cut by a crash is dropped on opening; logging an
  epoch again, or skipping one, is an InputError (the curve table allows epochs 1..EP
  without gaps only). Several runs (different keys) may share one file.

Extra numbers (``test_accuracy=…``, ``iou=…``, ``gpu_mem_max_mb=…``) become columns; the
first epoch written to a new file fixes the columns. Keras and Lightning callbacks built on
this: ``reusebench.log_keras.KerasCurveLogger``,
``reusebench.log_lightning.LightningCurveLogger``.
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from pathlib import Path
from types import TracebackType

import pandas as pd

from reusebench.core.curves import RUN_KEYS, epoch_problem, make_run_id
from reusebench.core.errors import InputError

BASE_COLUMNS = ("run_id", *RUN_KEYS, "epoch", "train_loss", "test_loss", "epoch_seconds")


class CurveLogger:
    """Appends one curve-table row per epoch to a CSV file (see the module docstring)."""

    def __init__(self, path: str | Path, *, study: str = "X", dataset: str = "unknown",
                 arch: str = "unknown", init: str = "unknown", lr: float = 0.0,
                 seed: int = 0, device: str = "unknown") -> None:
        self.path = Path(path)
        if self.path.suffix != ".csv":
            raise InputError(f"{self.path}: CurveLogger writes a .csv curve table.")
        self.keys = _checked_keys(self.path, dict(study=study, dataset=dataset, arch=arch,
                                                  init=init, lr=lr, seed=seed, device=device))
        self.run_id = str(make_run_id(pd.DataFrame([self.keys])).iloc[0])
        self.columns: tuple[str, ...] | None = None
        self.last_epoch = 0
        if self.path.is_file() and self.path.stat().st_size:
            self._resume()
        self._stream: io.BufferedWriter | None = None
        self._clock = time.monotonic()

    @property
    def next_epoch(self) -> int:
        """The epoch the next call to ``epoch`` logs (1 for a new run)."""
        return self.last_epoch + 1

    def epoch(self, train_loss: float, test_loss: float, *, epoch: int | None = None,
              seconds: float | None = None, **metrics: float) -> int:
        """Log one finished epoch (``epoch`` defaults to ``next_epoch``; ``seconds`` to the
        wall-clock time since the previous call or since the logger was made); returns it."""
        now = time.monotonic()
        epoch = self.next_epoch if epoch is None else epoch
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch != self.next_epoch:
            raise InputError(f"{self.path}: run {self.run_id} logs epoch {epoch!r}, but its next "
                             f"epoch is {self.next_epoch} (epochs run 1, 2, ... without "
                             "repeats or gaps).")
        values = {"train_loss": train_loss, "test_loss": test_loss,
                  "epoch_seconds": now - self._clock if seconds is None else seconds,
                  **metrics}
        numbers = {name: _number(self.path, name, value) for name, value in values.items()}
        self._write_row({**{"run_id": self.run_id}, **self.keys, "epoch": epoch, **numbers})
        self.last_epoch, self._clock = epoch, time.monotonic()
        return epoch

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def __enter__(self) -> CurveLogger:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    # ---- the file -------------------------------------------------------------------------

    def _resume(self) -> None:
        """Read the columns and this run's last epoch; drop a line cut by a crash."""
        data = self.path.read_bytes()
        if not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with self.path.open("r+b") as stream:
                stream.truncate(keep)
                _sync(stream)
            data = data[:keep]
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
        if not rows:
            return
        header = tuple(rows[0])
        if header[:len(BASE_COLUMNS)] != BASE_COLUMNS:
            raise InputError(f"{self.path} is not a curve table written by CurveLogger (its "
                             f"header does not start with {', '.join(BASE_COLUMNS)}).")
        self.columns = header
        epochs = [int(row[header.index("epoch")]) for row in rows[1:]
                  if row and row[0] == self.run_id]
        problem = epoch_problem(epochs)
        if problem is not None:
            raise InputError(f"{self.path}: run {self.run_id}, column 'epoch': {problem}.")
        self.last_epoch = epochs[-1] if epochs else 0

    def _write_row(self, row: dict[str, object]) -> None:
        lines = io.StringIO()
        writer = csv.writer(lines, lineterminator="\n")
        if self.columns is None:
            self.columns = tuple(row)
            writer.writerow(self.columns)
        unknown = [name for name in row if name not in self.columns]
        if unknown:
            raise InputError(f"{self.path}: column {unknown[0]!r} is not in the file's header "
                             f"({', '.join(self.columns)}); the first epoch written fixes the "
                             "columns.")
        writer.writerow([_cell(row.get(name, "")) for name in self.columns])
        stream = self._open()
        stream.write(lines.getvalue().encode("utf-8"))
        _sync(stream)

    def _open(self) -> io.BufferedWriter:
        if self._stream is None:
            created = not self.path.exists()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = self.path.open("ab")
            if created:
                _sync_folder(self.path.parent)
        return self._stream


def _checked_keys(path: Path, keys: dict[str, object]) -> dict[str, object]:
    for name in ("study", "dataset", "arch", "init", "device"):
        if not isinstance(keys[name], str) or not keys[name].strip():
            raise InputError(f"{path}: run key {name} must be non-empty text, not "
                             f"{keys[name]!r}.")
    lr = _number(path, "lr", keys["lr"])
    if not math.isfinite(lr) or lr < 0:
        raise InputError(f"{path}: run key lr must be a finite number ≥ 0 (0 = not known), "
                         f"not {keys['lr']!r}.")
    if isinstance(keys["seed"], bool) or not isinstance(keys["seed"], int):
        raise InputError(f"{path}: run key seed must be a whole number, not {keys['seed']!r}.")
    return {**keys, "lr": lr}


def _number(path: Path, name: str, value: object) -> float:
    """A logged value as a float (a tensor or numpy scalar too); a finite loss below zero
    is an InputError, as the curve table rejects it."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{path}: {name} must be a number, not {value!r}.") from None
    if name.endswith("_loss") and math.isfinite(number) and number < 0:
        raise InputError(f"{path}: {name} {number!r} is negative; a loss must be zero or "
                         "positive (NaN and inf mark a diverged epoch).")
    return number


def _cell(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _sync(stream) -> None:
    stream.flush()
    os.fsync(stream.fileno())


def _sync_folder(folder: Path) -> None:
    """Make a new file's name durable (its folder entry), where the OS allows it."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
