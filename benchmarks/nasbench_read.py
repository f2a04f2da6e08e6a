"""Time the NAS-Bench-101 reader on a file shaped like nasbench_only108.tfrecord.

Writes ~1.27 M records (a third as many distinct random valid cells of <= 7 vertices and
<= 9 edges, three repeats each at 108 epochs, metrics with three evaluation_data entries)
to a temporary folder, then times
  (a) ``read_nasbench`` end to end (framing, CRCs, JSON, base64, protobuf, cell hashes),
  (b) a straightforward per-record reader: ``json.loads``, ``base64.b64decode`` and a
      protobuf ``ModelMetrics`` class built at run time from a descriptor (or, where the
      ``protobuf`` package is missing, the pure-Python decoder, and it says so), plus cell
      hashes cached per (adjacency, operations) with the reference ``cell_hash``,
  (c) writing our table to Parquet once and reading it back,
and checks that (a) and (b) read the same numbers.

    python benchmarks/nasbench_read.py [--records 1270000] [--seed 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import base64
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from reusebench.nasbench.graph import CANONICAL_OPS, cell_hash, cell_hashes
from reusebench.nasbench.proto import decode_model_metrics, encode_model_metrics
from reusebench.nasbench.records import encode_record, read_nasbench, write_nasbench_table
from reusebench.nasbench.tfrecord import iter_tfrecord, write_tfrecord

REPEATS = 3
EPOCHS = 108
MAX_EDGES = 9
VERTEX_COUNTS = (7, 6, 5, 4, 3, 2)
VERTEX_WEIGHTS = (0.85, 0.1, 0.03, 0.01, 0.005, 0.005)


def random_cell(rng: np.random.Generator) -> tuple[str, str]:
    """A random cell whose every vertex lies on an input->output path (as stored ones do)."""
    while True:
        size = int(rng.choice(VERTEX_COUNTS, p=VERTEX_WEIGHTS))
        edges = np.zeros((size, size), dtype=bool)
        for vertex in range(1, size):
            edges[rng.integers(0, vertex), vertex] = True
        for vertex in range(size - 1):
            if not edges[vertex].any():
                edges[vertex, rng.integers(vertex + 1, size)] = True
        for _ in range(int(rng.integers(0, 4))):
            source = int(rng.integers(0, size - 1))
            edges[source, rng.integers(source + 1, size)] = True
        if edges.sum() <= MAX_EDGES:
            ops = ["input", *(CANONICAL_OPS[i] for i in rng.integers(0, 3, size - 2)), "output"]
            return "".join("1" if edge else "0" for edge in edges.ravel()), ",".join(ops)


def random_metrics(rng: np.random.Generator) -> bytes:
    times = np.sort(rng.uniform(100, 5000, 2))
    accuracy = rng.uniform(0.05, 0.95, (3, 3))
    evaluations = [{"current_epoch": epoch, "training_time": seconds,
                    "train_accuracy": acc[0], "validation_accuracy": acc[1],
                    "test_accuracy": acc[2]}
                   for epoch, seconds, acc in zip((0.0, EPOCHS / 2, float(EPOCHS)),
                                                  (0.0, *times), accuracy, strict=True)]
    return encode_model_metrics(evaluations, int(rng.integers(100_000, 50_000_000)),
                                float(times[-1] + rng.uniform(10, 100)))


def write_benchmark_file(path: Path, records: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    count = -(-records // REPEATS)
    cells: dict[tuple[str, str], None] = {}
    while len(cells) < count:
        cells[random_cell(rng)] = None
    adjacency, operations = zip(*cells, strict=True)
    hashes = cell_hashes(adjacency, operations)

    def payloads():
        written = 0
        for cell_hash_text, matrix, ops in zip(hashes, adjacency, operations, strict=True):
            size = int(len(matrix) ** 0.5)
            edges = np.frombuffer(matrix.encode(), dtype=np.uint8).reshape(size, size) == 49
            for _ in range(REPEATS):
                if written == records:
                    return
                written += 1
                yield encode_record(cell_hash_text, EPOCHS, edges, ops.split(","),
                                    random_metrics(rng))

    return write_tfrecord(path, payloads())


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


def rate(records: int, seconds: float) -> str:
    return f"{seconds:8.2f} s  {records / seconds:12,.0f} records/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_270_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="folder to keep the generated file in")
    args = parser.parse_args()
    print("command:", shlex.join([Path(sys.executable).name, *sys.argv]))

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        path = folder / "bench_only108.tfrecord"
        started = time.perf_counter()
        records = write_benchmark_file(path, args.records, args.seed)
        print(f"generated {records:,} records ({path.stat().st_size / 1e6:,.0f} MB) in "
              f"{time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        table = read_nasbench([path])
        ours = time.perf_counter() - started
        print(f"(a) read_nasbench end to end        {rate(records, ours)}")
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

        out = folder / "bench_only108.parquet"
        started = time.perf_counter()
        write_nasbench_table(table, out)
        written = time.perf_counter() - started
        started = time.perf_counter()
        reloaded = pd.read_parquet(out)
        loaded = time.perf_counter() - started
        print(f"(c) Parquet write                   {rate(records, written)}")
        print(f"    Parquet read                    {rate(records, loaded)}")
        print(f"    write + read {written + loaded:.2f} s (target <= 2 s), "
              f"{out.stat().st_size / 1e6:,.0f} MB, round trip equal: {reloaded.equals(table)}")


if __name__ == "__main__":
    main()
