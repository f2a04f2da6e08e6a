"""Time the NAS-Bench-101 reader on a file shaped like nasbench_only108.tfrecord.

The file holds every cell of the NAS-Bench-101 space once (enumerated here as the dataset's
authors did: every DAG of 2-7 vertices and at most 9 edges whose vertices all lie on an
input->output path, every labelling of its inner vertices with the three operations, one cell
per distinct hash; the paper counts 423,624), in random order, three repeats each at 108
epochs, with random metrics in NAS-Bench-101's ModelMetrics layout: 1,270,872 records, like
the real file. It is written to a temporary folder, then the script times
  (a) ``read_nasbench`` end to end (framing, CRCs, JSON, base64, protobuf, cell hashes; on
      two or more CPUs a hashing thread -- with the compiled extension -- or else a second
      process takes part of the hashing), with the CPU seconds of the reader's threads and
      of the helper process, and once more without the hashes,
  (b) a straightforward per-record reader: ``json.loads``, ``base64.b64decode`` and a
      protobuf ``ModelMetrics`` class built at run time from a descriptor (or, where the
      ``protobuf`` package is missing, the pure-Python decoder, and it says so), plus cell
      hashes cached per (adjacency, operations) with the reference ``cell_hash``,
  (c) writing our table to Parquet once and reading it back,
and checks that (a) and (b) read the same numbers. The load average of the machine is
printed before and after: other work on the machine slows every figure.

    python benchmarks/nasbench_read.py [--records N] [--seed 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import resource
import shlex
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from reusebench.data.nasbench import cellhash
from reusebench.data.nasbench.cellhash import hash_pruned_digests
from reusebench.data.nasbench.graph import CANONICAL_OPS, INPUT_LABEL, OUTPUT_LABEL, cell_hash
from reusebench.data.nasbench.md5rows import hex_rows
from reusebench.data.nasbench.proto import decode_model_metrics, encode_model_metrics
from reusebench.data.nasbench.records import read_nasbench, write_nasbench_table
from reusebench.data.nasbench.tfrecord import iter_tfrecord, write_tfrecord

REPEATS = 3
EPOCHS = 108
MAX_VERTICES, MAX_EDGES = 7, 9
SPACE_CELLS = 423_624  # NAS-Bench-101's count of distinct cells (Ying et al. 2019, Sec. 2.2)


# ---- the NAS-Bench-101 space ---------------------------------------------------------------------

def full_dags(size: int) -> np.ndarray:
    """Every upper-triangular adjacency of ``size`` vertices with at most 9 edges whose
    vertices all lie on a path from the input (vertex 0) to the output (the last)."""
    rows, columns = np.triu_indices(size, 1)
    codes = np.arange(1 << len(rows), dtype=np.int64)
    bits = ((codes[:, None] >> np.arange(len(rows))) & 1).astype(bool)
    bits = bits[bits.sum(axis=1) <= MAX_EDGES]
    edges = np.zeros((len(bits), size, size), dtype=bool)
    edges[:, rows, columns] = bits
    from_input = np.zeros((len(edges), size), dtype=bool)
    to_output = np.zeros((len(edges), size), dtype=bool)
    from_input[:, 0] = to_output[:, -1] = True
    for _ in range(size):
        from_input |= (from_input[:, :, None] & edges).any(axis=1)
        to_output |= (edges & to_output[:, None, :]).any(axis=2)
    return edges[(from_input & to_output).all(axis=1)]


def first_of_each_hash(edges: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the first cell of each distinct hash, and those hashes (hex rows)."""
    digests = hash_pruned_digests(edges, labels, np.full(len(edges), edges.shape[1]))
    _, first = np.unique(digests.view("V16").ravel(), return_index=True)
    first = np.sort(first)
    return first, hex_rows(digests[first])


def space_of(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct cells of ``size`` vertices: (edges, labels, hex hashes)."""
    edges = full_dags(size)
    plain = np.zeros((len(edges), size), dtype=np.int64)
    plain[:, 0], plain[:, -1] = INPUT_LABEL, OUTPUT_LABEL
    shapes, _ = first_of_each_hash(edges, plain)  # one graph per isomorphism class
    inner = np.array(list(itertools.product(range(len(CANONICAL_OPS)), repeat=size - 2)),
                     dtype=np.int64).reshape(len(CANONICAL_OPS) ** (size - 2), size - 2)
    labelings = np.concatenate([np.full((len(inner), 1), INPUT_LABEL), inner,
                                np.full((len(inner), 1), OUTPUT_LABEL)], axis=1)
    edges = np.repeat(edges[shapes], len(labelings), axis=0)
    labels = np.tile(labelings, (len(shapes), 1))
    first, hashes = first_of_each_hash(edges, labels)
    return edges[first], labels[first], hashes


def nasbench_space() -> list[tuple[str, str, str]]:
    """(hash, adjacency text, operations text) of every cell of the space."""
    cells = []
    for size in range(2, MAX_VERTICES + 1):
        edges, labels, hashes = space_of(size)
        names = np.array([*CANONICAL_OPS, "output", "input"])[labels]  # -2, -1 from the end
        texts = np.where(edges.reshape(len(edges), -1), "1", "0")
        cells += [(hash_text.tobytes().decode(), "".join(text), ",".join(ops)) for
                  hash_text, text, ops in zip(hashes, texts.tolist(), names.tolist(),
                                              strict=True)]
    return cells


# ---- records ------------------------------------------------------------------------------------

_METRICS_HEAD = struct.Struct("<" + ("BB" + "Bd" * 5) * 3)


def metrics_message(epochs: np.ndarray, times: np.ndarray, accuracy: np.ndarray,
                    parameters: int, total_time: float) -> bytes:
    """A ModelMetrics message as NAS-Bench-101 writes it: three EvaluationData of five
    doubles, the parameter count and the total time (the same bytes as
    ``encode_model_metrics``, packed at once)."""
    values = []
    for epoch, seconds, (train, valid, test) in zip(epochs, times, accuracy, strict=True):
        values += [0x0A, 45, 0x09, epoch, 0x11, seconds, 0x19, train, 0x21, valid, 0x29, test]
    varint = bytearray()
    while parameters >= 0x80:
        varint.append(parameters & 0x7F | 0x80)
        parameters >>= 7
    varint.append(parameters)
    return _METRICS_HEAD.pack(*values) + b"\x10" + bytes(varint) + b"\x19" + \
        struct.pack("<d", total_time)


def record_payloads(cells: list[tuple[str, str, str]], rng: np.random.Generator):
    """NAS-Bench-101 records of ``cells``, REPEATS each, random metrics."""
    epochs = [0.0, EPOCHS / 2, float(EPOCHS)]
    for module_hash, adjacency, operations in cells:
        for _ in range(REPEATS):
            times = np.sort(rng.uniform(100, 5000, 2))
            message = metrics_message(epochs, [0.0, *times.tolist()],
                                      rng.uniform(0.05, 0.95, (3, 3)).tolist(),
                                      int(rng.integers(100_000, 50_000_000)),
                                      float(times[-1] + rng.uniform(10, 100)))
            metrics = base64.b64encode(message).decode("ascii")
            yield json.dumps([module_hash, EPOCHS, adjacency, operations, metrics]).encode()


def write_benchmark_file(path: Path, records: int | None, seed: int) -> tuple[int, int]:
    """Write the file; returns (records, cells of the space)."""
    rng = np.random.default_rng(seed)
    space = nasbench_space()
    order = rng.permutation(len(space))
    count = len(space) if records is None else min(len(space), -(-records // REPEATS))
    cells = [space[index] for index in order[:count].tolist()]
    check = metrics_message([0.0, 54.0, 108.0], [0.0, 1.5, 2.5], [[0.1, 0.2, 0.3]] * 3,
                            12_345_678, 9.0)
    assert check == encode_model_metrics(
        [{"current_epoch": e, "training_time": t, "train_accuracy": 0.1,
          "validation_accuracy": 0.2, "test_accuracy": 0.3}
         for e, t in ((0.0, 0.0), (54.0, 1.5), (108.0, 2.5))], 12_345_678, 9.0)
    payloads = record_payloads(cells, rng)
    if records is not None:
        payloads = itertools.islice(payloads, records)
    return write_tfrecord(path, payloads), len(space)


# ---- the straightforward reader -----------------------------------------------------------------

def protobuf_decoder():
    """ModelMetrics.FromString from a descriptor built here, or None without ``protobuf``."""
    try:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    except ImportError:
        return None
    file_proto = descriptor_pb2.FileDescriptorProto(name="bench_metrics.proto",
                                                    package="bench", syntax="proto2")
    field = descriptor_pb2.FieldDescriptorProto
    evaluation = file_proto.message_type.add(name="EvaluationData")
    for number, name in enumerate(("current_epoch", "training_time", "train_accuracy",
                                   "validation_accuracy", "test_accuracy"), start=1):
        evaluation.field.add(name=name, number=number, type=field.TYPE_DOUBLE,
                             label=field.LABEL_OPTIONAL)
    evaluation.field.add(name="checkpoint_path", number=6, type=field.TYPE_STRING,
                         label=field.LABEL_OPTIONAL)
    metrics = file_proto.message_type.add(name="ModelMetrics")
    metrics.field.add(name="evaluation_data", number=1, type=field.TYPE_MESSAGE,
                      label=field.LABEL_REPEATED, type_name=".bench.EvaluationData")
    metrics.field.add(name="trainable_parameters", number=2, type=field.TYPE_INT32,
                      label=field.LABEL_OPTIONAL)
    metrics.field.add(name="total_time", number=3, type=field.TYPE_DOUBLE,
                      label=field.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    message = message_factory.GetMessageClass(pool.FindMessageTypeByName("bench.ModelMetrics"))

    def decode(data: bytes) -> dict:
        parsed = message.FromString(data)
        return {"evaluation_data": [{"current_epoch": e.current_epoch,
                                     "training_time": e.training_time,
                                     "train_accuracy": e.train_accuracy,
                                     "validation_accuracy": e.validation_accuracy,
                                     "test_accuracy": e.test_accuracy}
                                    for e in parsed.evaluation_data],
                "trainable_parameters": parsed.trainable_parameters,
                "total_time": parsed.total_time}

    return decode


def straightforward_read(path: Path, decode) -> tuple[pd.DataFrame, float]:
    """Per-record reader; returns its table and the seconds spent hashing cells."""
    rows = []
    for record in iter_tfrecord(path):
        module_hash, epochs, adjacency, operations, raw = json.loads(record)
        metrics = decode(base64.b64decode(raw))
        half, final = metrics["evaluation_data"][1], metrics["evaluation_data"][2]
        rows.append((module_hash, epochs, adjacency, operations,
                     metrics["trainable_parameters"], half["validation_accuracy"],
                     final["training_time"], final["test_accuracy"], metrics["total_time"]))
    table = pd.DataFrame(rows, columns=["module_hash", "epochs", "adjacency", "operations",
                                        "trainable_parameters", "halfway_validation_accuracy",
                                        "final_training_time", "final_test_accuracy",
                                        "total_time"])
    started = time.perf_counter()
    cache: dict[tuple[str, str], str] = {}
    verified = []
    for module_hash, adjacency, operations in zip(table["module_hash"], table["adjacency"],
                                                  table["operations"], strict=True):
        key = (adjacency, operations)
        if key not in cache:
            size = int(len(adjacency) ** 0.5)
            matrix = np.array([c == "1" for c in adjacency]).reshape(size, size)
            cache[key] = cell_hash(matrix, operations.split(","))
        verified.append(cache[key] == module_hash)
    table["hash_verified"] = verified
    return table, time.perf_counter() - started


# ---- main ---------------------------------------------------------------------------------------

def rate(records: int, seconds: float) -> str:
    return f"{seconds:8.2f} s  {records / seconds:12,.0f} records/s"


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds used so far by this process and by its ended child processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def load() -> str:
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg()) + \
        f" on {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, help="write only this many records "
                        "(default: all cells of the space, 3 repeats each)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="folder to keep the generated file in")
    args = parser.parse_args()
    print("command:", shlex.join([Path(sys.executable).name, *sys.argv]))
    print("before:", load())
    print("route:", "compiled extension reusebench.data.nasbench._accel" if cellhash.accel
          else "numpy + CPython MD5 (the extension was not built)")

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        path = folder / "bench_only108.tfrecord"
        started = time.perf_counter()
        records, space = write_benchmark_file(path, args.records, args.seed)
        print(f"space: {space:,} distinct cells (NAS-Bench-101: {SPACE_CELLS:,})")
        print(f"generated {records:,} records ({path.stat().st_size / 1e6:,.0f} MB) in "
              f"{time.perf_counter() - started:.1f} s")

        started, cpu = time.perf_counter(), cpu_seconds()
        table = read_nasbench([path])
        ours = time.perf_counter() - started
        own, helper = (after - before for after, before in zip(cpu_seconds(), cpu, strict=True))
        print(f"(a) read_nasbench end to end        {rate(records, ours)}")
        print(f"    CPU: {own:.2f} s in this process (all threads), {helper:.2f} s in a "
              "helper process")
        started = time.perf_counter()
        read_nasbench([path], verify_hashes=False)
        unhashed = time.perf_counter() - started
        print(f"    the same without cell hashes     {rate(records, unhashed)}")

        decode = protobuf_decoder()
        how = "google.protobuf" if decode else "pure-Python decoder (protobuf not installed)"
        started = time.perf_counter()
        baseline, hashing = straightforward_read(path, decode or decode_model_metrics)
        plain = time.perf_counter() - started
        print(f"(b) per-record json+base64+{how}")
        print(f"    whole read                       {rate(records, plain)}")
        print(f"    of which cached cell_hash        {hashing:8.2f} s "
              f"({baseline[['adjacency', 'operations']].drop_duplicates().shape[0]:,} cells)")
        same = all(np.array_equal(table[column].to_numpy(), baseline[column].to_numpy())
                   for column in baseline.columns)
        print(f"    same values as (a): {same}; hashes verified: "
              f"{int(table['hash_verified'].sum()):,} of {len(table):,}")
        print(f"    (a) is {plain / ours:.1f} times as fast as (b)")

        out = folder / "bench_only108.parquet"
        started = time.perf_counter()
        write_nasbench_table(table, out)
        written = time.perf_counter() - started
        started = time.perf_counter()
        reloaded = pd.read_parquet(out)
        loaded = time.perf_counter() - started
        print(f"(c) Parquet write                   {rate(records, written)}")
        print(f"    Parquet reload                  {rate(records, loaded)} (target <= 2 s)")
        print(f"    {out.stat().st_size / 1e6:,.0f} MB, round trip equal: "
              f"{reloaded.equals(table)}")
    print("after:", load())


if __name__ == "__main__":
    main()
