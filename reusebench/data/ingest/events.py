"""TensorBoard event files → one RunLog per run folder, without TensorFlow.

Event files are TFRecord files of ``Event`` protobufs. Records are framed and their CRC32C
checked by reusebench's TFRecord reader (a corrupt or cut file is an error, where
TensorBoard's own loader would stop reading silently) and decoded with the ``tensorboard``
package's protobuf classes (``tensorboard.compat.proto``), which import no TensorFlow.

Run folders: every folder holding event files is one run; Keras' ``TensorBoard`` callback
writes one run as two subfolders ``train/`` and ``validation/``, whose tags are read as
``train/<tag>`` and ``validation/<tag>`` of their parent folder's run. Several event files
in one run (a resumed run) are read in name order, which is time order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from google.protobuf.message import DecodeError
from tensorboard.compat.proto import event_pb2
from tensorboard.util import tensor_util

from reusebench.core.errors import InputError
from reusebench.data.ingest.runlog import RunLog, make_series
from reusebench.data.nasbench.tfrecord import frame_tfrecord

EVENT_FILE_MARK = "tfevents"
KERAS_SPLIT_FOLDERS = ("train", "validation")
SCALAR_PLUGINS = ("", "scalars")  # "" = a TF1-style simple_value without metadata


def is_event_file(path: Path) -> bool:
    return path.is_file() and EVENT_FILE_MARK in path.name


def find_event_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob(f"*{EVENT_FILE_MARK}*") if path.is_file())


def group_runs(files: Iterable[Path]) -> dict[Path, list[tuple[str, Path]]]:
    """Event files by run folder, each with the tag prefix its subfolder gives."""
    runs: dict[Path, list[tuple[str, Path]]] = defaultdict(list)
    for path in sorted(files):
        folder = path.parent
        if folder.name in KERAS_SPLIT_FOLDERS:
            runs[folder.parent].append((f"{folder.name}/", path))
        else:
            runs[folder].append(("", path))
    return dict(runs)


def read_event_runs(files: Iterable[Path]) -> list[RunLog]:
    """One RunLog per run folder of the given event files, in folder order."""
    return [read_event_run(folder, members) for folder, members in
            sorted(group_runs(files).items())]


def read_event_run(folder: Path, members: list[tuple[str, Path]]) -> RunLog:
    points: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    start = np.inf
    for prefix, path in members:
        file_start = _read_event_file(path, prefix, points)
        start = min(start, file_start)
    series = {tag: make_series(*zip(*rows, strict=True)) for tag, rows in points.items()}
    source = members[0][1] if len(members) == 1 else folder
    return RunLog(name=folder.resolve().name, source=source, fmt="tensorboard", series=series,
                  start_wall=float(start) if np.isfinite(start) else float("nan"))


def _read_event_file(path: Path, prefix: str,
                     points: dict[str, list[tuple[int, float, float]]]) -> float:
    """Add the file's scalar points (step, value, wall time) to ``points``; return the wall
    time of its first event, when the writer was opened."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path} cannot be read ({error.strerror}).") from error
    starts, lengths = frame_tfrecord(data, str(path))
    if not len(starts):
        raise InputError(f"{path} is empty: it holds no TensorBoard events.")
    plugins: dict[str, str] = {}
    first_wall = np.nan
    for index, (start, length) in enumerate(zip(starts.tolist(), lengths.tolist(),
                                                strict=True)):
        event = _decode(data[start:start + length], index, path)
        if index == 0:
            first_wall = event.wall_time
        for value in event.summary.value:
            tag = prefix + value.tag
            if value.metadata.plugin_data.plugin_name:
                plugins.setdefault(tag, value.metadata.plugin_data.plugin_name)
            if plugins.get(tag, "") not in SCALAR_PLUGINS:
                continue
            number = _scalar(value)
            if number is not None:
                points[tag].append((event.step, number, event.wall_time))
    return first_wall


def _decode(record: bytes, index: int, path: Path) -> event_pb2.Event:
    try:
        event = event_pb2.Event.FromString(record)
    except DecodeError as error:
        raise InputError(f"Record {index} of {path} is not a TensorBoard event (corrupt "
                         "file).") from error
    if index == 0 and event.WhichOneof("what") != "file_version":
        raise InputError(f"{path} is not a TensorBoard event file (its first record is not "
                         "a file_version event).")
    return event


def _scalar(value) -> float | None:
    """The number a summary value holds, or None for anything but a one-element number."""
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(value.simple_value)
    if kind != "tensor":
        return None
    try:
        array = tensor_util.make_ndarray(value.tensor)
    except (TypeError, ValueError):
        return None
    if array.size != 1 or array.dtype.kind not in "fiub":
        return None
    return float(array.reshape(-1)[0])
