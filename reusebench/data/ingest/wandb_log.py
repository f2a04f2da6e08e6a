"""Weights & Biases offline runs (``wandb/offline-run-*/run-*.wandb``) → RunLog, read from
the file without wandb, an account, a server or ``wandb sync``.

The file is W&B's LevelDB-style log: a 7-byte header (``:W&B``, magic 0xBEE1, version), then
32 KiB blocks of fragments, each with a 7-byte header (checksum, length, type FULL / FIRST /
MIDDLE / LAST); the checksum is CRC-32 of the type byte and the data as ``wandb`` writes it
(the CRC-32C of LevelDB's own format is accepted too). The records are ``Record`` protobuf
messages, decoded field by field (``reusebench.data.protowire``): ``run`` (id, display name,
config, start time), ``config`` updates, ``history`` rows (items key → JSON value, with
``_step`` and ``_timestamp``) and ``exit`` (exit code).

Each history key holding numbers is a series by ``_step`` with ``_timestamp`` as its wall
clock; an ``epoch`` key is the epoch counter when logged. The config gives run keys. A
record cut short (a crashed or still running writer) or corrupt is an InputError giving
its byte offset; with ``keep_partial`` the records before it are read instead.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import google_crc32c

from reusebench.core.errors import InputError
from reusebench.data.ingest.runkeys import keys_from_params
from reusebench.data.ingest.runlog import make_series
from reusebench.data.ingest.tracked import (
    ReadResult,
    Skipped,
    TrackedRun,
    flatten,
    number,
    unique_names,
)
from reusebench.data.protowire import (
    FIXED64,
    LENGTH,
    VARINT,
    WireError,
    as_double,
    as_signed,
    as_text,
    as_zigzag,
    fields,
)

FMT = "wandb"
SUFFIX = ".wandb"
HEADER = struct.Struct("<4sHB")
IDENT, MAGIC, VERSIONS = b":W&B", 0xBEE1, (0, 1)
FRAGMENT = struct.Struct("<IHB")
BLOCK = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
TYPE_SEEDS = {kind: zlib.crc32(bytes([kind])) for kind in (FULL, FIRST, MIDDLE, LAST)}
# Record fields (wandb/proto/wandb_internal.proto)
RECORD_HISTORY, RECORD_CONFIG, RECORD_RUN, RECORD_EXIT = 2, 5, 17, 18


class FrameError(Exception):
    """Where the readable part of a .wandb file ends, and why."""

    def __init__(self, offset: int, what: str):
        super().__init__(what)
        self.offset, self.what = offset, what


@dataclass
class WandbRun:
    """What the records of one .wandb file say."""

    run_id: str = ""
    display_name: str = ""
    start_wall: float = math.nan
    config: dict[str, object] = field(default_factory=dict)
    points: dict[str, list[tuple[int, float, float]]] = field(
        default_factory=lambda: defaultdict(list))
    exit_code: int | None = None


# ---- framing --------------------------------------------------------------------------------

def frame_records(data: bytes, path: Path) -> Iterator[tuple[int, bytes]]:
    """(offset, record) for every record; FrameError where the file stops being readable."""
    if not data:
        raise InputError(f"{path} is empty: it holds no W&B records.")
    ident, magic, version = HEADER.unpack_from(data.ljust(HEADER.size, b"\0"))
    if ident != IDENT or magic != MAGIC:
        raise InputError(f"{path} is not a W&B run file (it does not start with the ':W&B' "
                         "header).")
    if version not in VERSIONS:
        raise InputError(f"{path} is a W&B run file of version {version}, which this reader "
                         f"does not know (known: {', '.join(map(str, VERSIONS))}).")
    position, pending, pending_at = HEADER.size, bytearray(), None
    while True:
        position = _skip_block_trailer(data, position)
        if position >= len(data) or not any(data[position:]):  # end, or zero preallocation
            if pending_at is not None:
                raise FrameError(pending_at, "truncated (the file ends inside it)")
            return
        kind, payload, end = _fragment(data, position)
        if kind in (FULL, FIRST) and pending_at is not None:
            raise FrameError(pending_at, "corrupt (a record starts before it ends)")
        if kind in (MIDDLE, LAST) and pending_at is None:
            raise FrameError(position, "corrupt (a record continues without a start)")
        if kind == FULL:
            yield position, payload
        elif kind == FIRST:
            pending, pending_at = bytearray(payload), position
        else:
            pending += payload
            if kind == LAST:
                yield pending_at, bytes(pending)
                pending, pending_at = bytearray(), None
        position = end


def _skip_block_trailer(data: bytes, position: int) -> int:
    left = BLOCK - position % BLOCK
    if left < FRAGMENT.size:
        if any(data[position:position + left]):
            raise FrameError(position, "corrupt (a block trailer that is not zero)")
        return position + left
    return position


def _fragment(data: bytes, position: int) -> tuple[int, bytes, int]:
    if position + FRAGMENT.size > len(data):
        raise FrameError(position, "truncated (the file ends inside it)")
    checksum, length, kind = FRAGMENT.unpack_from(data, position)
    start, end = position + FRAGMENT.size, position + FRAGMENT.size + length
    if kind not in TYPE_SEEDS:
        raise FrameError(position, f"corrupt (fragment type {kind})")
    if position % BLOCK + FRAGMENT.size + length > BLOCK:
        raise FrameError(position, "corrupt (a fragment longer than its block)")
    if end > len(data):
        raise FrameError(position, "truncated (the file ends inside it)")
    payload = data[start:end]
    if checksum != zlib.crc32(payload, TYPE_SEEDS[kind]) and \
            checksum != google_crc32c.value(bytes([kind]) + payload):
        raise FrameError(position, "corrupt (checksum mismatch)")
    return kind, payload, end


# ---- records --------------------------------------------------------------------------------

def read_wandb_file(path: Path, keep_partial: bool = False) -> WandbRun:
    """The run one .wandb file holds; a cut or corrupt record is an InputError naming its
    byte offset, unless ``keep_partial`` (then the records before it are kept)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path} cannot be read ({error.strerror}).") from error
    run, count = WandbRun(), 0
    try:
        for offset, record in frame_records(data, path):
            try:
                _apply(run, record)
            except (WireError, ValueError) as error:
                raise FrameError(offset, "corrupt (not a W&B record)") from error
            count += 1
    except FrameError as stop:
        if not keep_partial:
            raise InputError(f"{path}: the record at byte offset {stop.offset} is {stop.what}; "
                             f"pass --keep-partial to keep the {count} records before it."
                             ) from None
    return run


def _apply(run: WandbRun, record: bytes) -> None:
    for number_, wire, value in fields(record):
        if wire != LENGTH:
            continue
        if number_ == RECORD_HISTORY:
            _history(run, value)
        elif number_ == RECORD_CONFIG:
            _config(run, value)
        elif number_ == RECORD_RUN:
            _run(run, value)
        elif number_ == RECORD_EXIT:
            run.exit_code = next((as_signed(v) for n, w, v in fields(value)
                                  if n == 1 and w == VARINT), 0)


def _run(run: WandbRun, message: bytes) -> None:
    for number_, wire, value in fields(message):
        if number_ == 1 and wire == LENGTH:
            run.run_id = as_text(value)
        elif number_ == 8 and wire == LENGTH:
            run.display_name = as_text(value)
        elif number_ == 4 and wire == LENGTH:
            _config(run, value)
        elif number_ == 17 and wire == LENGTH:
            parts = {n: v for n, w, v in fields(value) if w == VARINT}
            run.start_wall = as_signed(parts.get(1, 0)) + as_signed(parts.get(2, 0)) / 1e9


def _key(item: dict[int, list]) -> str:
    if item.get(1):
        return as_text(item[1][0])
    return ".".join(as_text(part) for part in item.get(2, []))


def _config(run: WandbRun, message: bytes) -> None:
    for number_, wire, value in fields(message):
        if wire != LENGTH or number_ not in (1, 2):
            continue
        item = {n: [] for n in (1, 2, 16)}
        for inner, inner_wire, inner_value in fields(value):
            if inner in item:  # text fields: any other wire type fails as_text below
                item[inner].append(inner_value if inner_wire == LENGTH else None)
        key = _key(item)
        if number_ == 2:
            run.config.pop(key, None)
        elif item[16] and not key.startswith("_wandb"):
            run.config[key] = _config_value(json.loads(as_text(item[16][0])))


def _config_value(value: object) -> object:
    """A config value; older writers wrap it as ``{"value": …, "desc": …}``."""
    if isinstance(value, dict) and set(value) == {"value", "desc"}:
        return value["value"]
    return value


def _history(run: WandbRun, message: bytes) -> None:
    row: dict[str, object] = {}
    step_num = None
    for number_, wire, value in fields(message):
        if number_ == 2 and wire == LENGTH:
            step_num = next((as_signed(v) for n, w, v in fields(value)
                             if n == 1 and w == VARINT), 0)
        elif number_ == 1 and wire == LENGTH:
            key, item_value = _history_item(value)
            row[key] = item_value
    step = number(row.get("_step"))
    step = int(step) if step is not None and math.isfinite(step) else step_num or 0
    wall = number(row.get("_timestamp"))
    for key, value in row.items():
        logged = number(value)
        if not key.startswith("_") and logged is not None:
            run.points[key].append((step, logged, math.nan if wall is None else wall))


def _history_item(message: bytes) -> tuple[str, object]:
    """(key, value) of a HistoryItem: ``value_json`` or one of the typed value fields."""
    key_parts: dict[int, list] = {1: [], 2: []}
    value: object = None
    for number_, wire, raw in fields(message):
        if number_ in key_parts and wire == LENGTH:
            key_parts[number_].append(raw)
        elif number_ in (16, 8) and wire == LENGTH:
            value = json.loads(as_text(raw))
        elif number_ == 6 and wire == FIXED64:
            value = as_double(raw)
        elif number_ == 5 and wire == VARINT:
            value = as_zigzag(raw)
    return _key(key_parts), value


# ---- runs -----------------------------------------------------------------------------------

def find_wandb_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob(f"*{SUFFIX}") if path.is_file())


def read_wandb_runs(paths: list[Path], keep_partial: bool = False) -> ReadResult:
    """One run per .wandb file."""
    decoded = [read_wandb_file(path, keep_partial) for path in paths]
    names = unique_names([run.display_name or run.run_id or path.stem
                          for run, path in zip(decoded, paths, strict=True)],
                         [run.run_id or path.stem for run, path in zip(decoded, paths,
                                                                       strict=True)])
    result = ReadResult()
    for path, run, name in zip(paths, decoded, names, strict=True):
        if not run.points:
            result.skipped.append(Skipped(name, path, FMT, "no history"))
            continue
        series = {key: make_series(*zip(*points, strict=True))
                  for key, points in run.points.items()}
        state = "unfinished" if run.exit_code is None else \
            "finished" if run.exit_code == 0 else f"failed (exit code {run.exit_code})"
        result.runs.append(TrackedRun(
            name=name, source=path, fmt=FMT, series=series, start_wall=run.start_wall,
            stated_keys=keys_from_params(flatten(run.config)), state=state))
    return result
