"""The NAS-Bench-101 reader: TFRecord framing, metrics protobuf, cell hashes, the table, CLI."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reusebench.core.errors import InputError
from reusebench.data.nasbench.graph import (
    CANONICAL_OPS,
    InvalidSpecError,
    cell_hash,
    cell_hashes,
    module_hash,
    prune,
)
from reusebench.data.nasbench.proto import (
    decode_metrics_batch,
    decode_model_metrics,
    encode_model_metrics,
)
from reusebench.data.nasbench.records import (
    COLUMNS,
    encode_record,
    read_nasbench,
    write_nasbench_table,
)
from reusebench.data.nasbench.tfrecord import crc32c_python, iter_tfrecord, write_tfrecord
from reusebench.glue import cli

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nasbench101"
ECNAS = DATA / "ecnas_energy_4V9E.tfrecord"
EXPORT = DATA / "nasbench-vis_data-1k.json"
needs_data = pytest.mark.skipif(
    not ECNAS.is_file() or not EXPORT.is_file(),
    reason=f"the real NAS-Bench-101 samples are not at {DATA} (shared/ beside the project)")

# the first record of the EC-NAS file: its hash, recomputed from its own spec below
ECNAS_HASH = "5529e1779433733d1145e20de5d8604e"
ECNAS_SPEC = ("0110001100010000", "input,conv1x1-bn-relu,conv3x3-bn-relu,output")


pytestmark = pytest.mark.usefixtures("reader_paths")  # compiled and numpy routes

def evaluation(epoch: float, seconds: float, accuracy: float) -> dict:
    return {"current_epoch": epoch, "training_time": seconds, "train_accuracy": accuracy,
            "validation_accuracy": accuracy - 0.01, "test_accuracy": accuracy - 0.02}


def metrics_bytes(seed: int) -> bytes:
    return encode_model_metrics(
        [evaluation(0.0, 0.0, 0.1), evaluation(54.0, 100.5 + seed, 0.7),
         evaluation(108.0, 201.25 + seed, 0.9 + seed / 1000)],
        trainable_parameters=1_000_000 + seed, total_time=250.125 + seed)


def matrix_of(adjacency: str) -> np.ndarray:
    size = int(len(adjacency) ** 0.5)
    return np.array([c == "1" for c in adjacency]).reshape(size, size)


CELLS = [  # (adjacency, operations) of small valid cells
    ("0110001100010000", "input,conv1x1-bn-relu,conv3x3-bn-relu,output"),
    ("0100001000010000", "input,maxpool3x3,conv3x3-bn-relu,output"),
    ("0100", "input,output"),
]


def good_records() -> list[bytes]:
    records = []
    for index, (adjacency, operations) in enumerate(CELLS):
        matrix = matrix_of(adjacency)
        ops = operations.split(",")
        for repeat in range(2):
            records.append(encode_record(cell_hash(matrix, ops), 108, matrix, ops,
                                         metrics_bytes(10 * index + repeat)))
    return records


@pytest.fixture
def good_file(tmp_path):
    path = tmp_path / "good.tfrecord"
    write_tfrecord(path, good_records())
    return path


# ---- TFRecord framing ---------------------------------------------------------------------------

def test_write_then_iterate_gives_the_payloads_back(tmp_path):
    payloads = [b"", b"x", bytes(range(256)) * 3]
    path = tmp_path / "plain.tfrecord"
    assert write_tfrecord(path, iter(payloads)) == 3
    assert list(iter_tfrecord(path)) == payloads
    assert [p.name for p in tmp_path.iterdir()] == ["plain.tfrecord"]  # no temp file left


def test_crc32c_fallback_matches_the_reference_value():
    assert crc32c_python(b"123456789") == 0xE3069283  # the CRC-32C check value


def corrupt(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


def second_record_offset(path: Path) -> int:
    (length,) = struct.unpack_from("<Q", path.read_bytes(), 0)
    return 12 + length + 4


@pytest.mark.parametrize("where, words", [("data", "Record 1 of good.tfrecord has a bad data"),
                                         ("length", "Record 1 of good.tfrecord has a bad "
                                                    "length")])
def test_a_flipped_byte_names_the_record(good_file, where, words):
    offset = second_record_offset(good_file) + (20 if where == "data" else 2)
    corrupt(good_file, offset)
    for read in (lambda: read_nasbench([good_file]), lambda: list(iter_tfrecord(good_file))):
        with pytest.raises(InputError, match=words):
            read()


def test_a_truncated_file_names_the_record(good_file):
    data = good_file.read_bytes()
    good_file.write_bytes(data[:-10])
    with pytest.raises(InputError, match=r"Record 5 of good\.tfrecord is truncated"):
        read_nasbench([good_file])
    with pytest.raises(InputError, match=r"Record 5 of good\.tfrecord is truncated"):
        list(iter_tfrecord(good_file))
    good_file.write_bytes(data + data[:5])  # a cut header after six good records
    with pytest.raises(InputError, match=r"Record 6 of good\.tfrecord is truncated"):
        read_nasbench([good_file])


# ---- records ------------------------------------------------------------------------------------

@pytest.mark.parametrize("payload", [b"not json", b'{"a": 1}', b"[1, 2, 3]",
                                     b'["h", "108", "0100", "input,output", ""]',
                                     b'["h", true, "0100", "input,output", ""]',
                                     b'["h", 108, "0100", "input,output", "", 5]'])
def test_a_record_that_is_not_the_json_list_names_its_index(tmp_path, payload):
    path = tmp_path / "bad.tfrecord"
    write_tfrecord(path, [good_records()[0], payload, good_records()[1]])
    with pytest.raises(InputError, match=r"^Record 1 of bad\.tfrecord is not a NAS-Bench-101"):
        read_nasbench([path])


@pytest.mark.parametrize("metrics, words", [("QQ", "not base64"),
                                            (base64.b64encode(b"\x0a\x05ab").decode(),
                                             "not a ModelMetrics")])
def test_bad_metrics_name_the_record(tmp_path, metrics, words):
    record = json.dumps(["h", 108, "0100", "input,output", metrics]).encode()
    path = tmp_path / "bad.tfrecord"
    write_tfrecord(path, [good_records()[0], good_records()[1], record])
    with pytest.raises(InputError, match=f"Record 2 of bad.tfrecord has metrics that are {words}"):
        read_nasbench([path])


def test_bad_adjacency_is_input_error(tmp_path):
    record = encode_record("h", 108, np.zeros((2, 2)), ["input", "x", "output"], b"")
    path = tmp_path / "bad.tfrecord"
    write_tfrecord(path, [record])
    with pytest.raises(InputError, match=r"Record 0 of bad\.tfrecord has an adjacency"):
        read_nasbench([path])


def test_encode_write_read_round_trip_keeps_every_number(good_file):
    table = read_nasbench([good_file])
    assert list(table.columns) == COLUMNS and len(table) == 6
    assert table["hash_verified"].all()
    assert table["repeat"].tolist() == [0, 1] * 3
    assert table["n_vertices"].tolist() == [4, 4, 4, 4, 2, 2]
    assert table["adjacency"].tolist() == [cell[0] for cell in CELLS for _ in range(2)]
    for row, seed in zip(table.itertuples(), (0, 1, 10, 11, 20, 21), strict=True):
        assert row.trainable_parameters == 1_000_000 + seed
        assert row.total_time == 250.125 + seed
        assert (row.halfway_epoch, row.halfway_training_time) == (54.0, 100.5 + seed)
        assert row.final_training_time == 201.25 + seed
        assert row.final_test_accuracy == 0.9 + seed / 1000 - 0.02
        assert row.halfway_validation_accuracy == 0.7 - 0.01


def test_records_in_other_json_layouts_read_the_same(tmp_path, good_file):
    relaid = []
    for index, record in enumerate(good_records()):
        if index % 2:  # keep every other record as json.dumps wrote it: one chunk, both paths
            relaid.append(record)
            continue
        fields = json.loads(record)
        fields[4] = fields[4].replace("/", "\\/")  # a legal JSON escape
        relaid.append(json.dumps(fields, separators=(",", ":")).replace("\\\\/", "\\/")
                      .encode())
    other = tmp_path / "other.tfrecord"
    write_tfrecord(other, relaid)
    expected = read_nasbench([good_file]).drop(columns="source")
    pd.testing.assert_frame_equal(read_nasbench([other]).drop(columns="source"), expected)


def test_a_wrong_stored_hash_is_reported_not_fatal(tmp_path):
    record = encode_record("0" * 32, 4, matrix_of(CELLS[0][0]), CELLS[0][1].split(","),
                           metrics_bytes(0))
    path = tmp_path / "wrong.tfrecord"
    write_tfrecord(path, [record])
    assert not read_nasbench([path])["hash_verified"].any()


def test_parquet_round_trip(good_file, tmp_path):
    table = read_nasbench([good_file])
    out = tmp_path / "table.parquet"
    write_nasbench_table(table, out)
    pd.testing.assert_frame_equal(pd.read_parquet(out), table)


# ---- metrics protobuf ---------------------------------------------------------------------------

def unknown_fields(field: int) -> bytes:
    """One field of each wire type: varint, fixed64, length-delimited, fixed32."""
    return b"".join([bytes([field << 3 | 0, 0x96, 0x01]), bytes([(field + 1) << 3 | 1]) + bytes(8),
                     bytes([(field + 2) << 3 | 2, 3]) + b"abc",
                     bytes([(field + 3) << 3 | 5]) + bytes(4)])


def test_unknown_fields_are_skipped_at_both_levels():
    evaluations = [evaluation(1.0, 2.0, 0.5), evaluation(2.0, 3.0, 0.6),
                   evaluation(3.0, 4.0, 0.7)]
    plain = encode_model_metrics(evaluations, 12345, 9.5)
    inner = b"".join(bytes([0x0A, len(body)]) + body for body in
                     (encode_model_metrics([e], None, None)[2:] + unknown_fields(7)
                      for e in evaluations))
    extended = inner + unknown_fields(4) + encode_model_metrics([], 12345, 9.5)
    assert decode_model_metrics(extended) == decode_model_metrics(plain)
    buffer = np.frombuffer(extended + plain + bytes(16), dtype=np.uint8)
    batch = decode_metrics_batch(buffer, np.array([0, len(extended)]),
                                 np.array([len(extended), len(extended) + len(plain)]))
    assert not batch["malformed"].any()
    assert np.array_equal(batch["evaluations"][0], batch["evaluations"][1])
    assert batch["trainable_parameters"].tolist() == [12345, 12345]


def test_truncated_metrics_are_malformed():
    data = metrics_bytes(0)[:-3]
    with pytest.raises(ValueError):
        decode_model_metrics(data)
    batch = decode_metrics_batch(np.frombuffer(data + bytes(16), dtype=np.uint8),
                                 np.array([0]), np.array([len(data)]))
    assert batch["malformed"].tolist() == [True]


def test_negative_parameters_and_absent_fields_follow_proto2():
    data = encode_model_metrics([{"current_epoch": 4.0}], -7, None)
    decoded = decode_model_metrics(data)
    assert decoded["trainable_parameters"] == -7 and decoded["total_time"] == 0.0
    assert decoded["evaluation_data"][0]["test_accuracy"] == 0.0
    batch = decode_metrics_batch(np.frombuffer(data + bytes(16), dtype=np.uint8),
                                 np.array([0]), np.array([len(data)]))
    assert batch["trainable_parameters"].tolist() == [-7]
    assert batch["evaluations"][0, 0].tolist() == [4.0, 0.0, 0.0, 0.0, 0.0]
    assert np.isnan(batch["evaluations"][0, 1:]).all()


# ---- cell hashes --------------------------------------------------------------------------------

def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def test_module_hash_of_the_smallest_cell_by_hand():
    # input -> output: degrees (out, in) are (1, 0) and (0, 1); two vertices, two rounds
    start, end = md5("(1, 0, -1)"), md5("(0, 1, -2)")
    for _ in range(2):
        start, end = md5("|" + end + "|" + start), md5(start + "||" + end)
    assert module_hash(np.array([[0, 1], [0, 0]]), [-1, -2]) == md5(str(sorted([start, end])))


def test_cell_hash_recomputes_a_stored_ecnas_hash():
    adjacency, operations = ECNAS_SPEC
    assert cell_hash(matrix_of(adjacency), operations.split(",")) == ECNAS_HASH


def test_cell_hash_ignores_vertex_order_and_dangling_vertices():
    parallel = matrix_of("0110000100010000")  # input -> 1, 2 -> output: 1 and 2 swap
    one, three = CANONICAL_OPS[1], CANONICAL_OPS[0]
    assert cell_hash(parallel, ["input", one, three, "output"]) == \
        cell_hash(parallel, ["input", three, one, "output"]) != \
        cell_hash(parallel, ["input", one, one, "output"])
    adjacency, operations = ECNAS_SPEC
    ops = operations.split(",")
    dangling = np.zeros((5, 5), dtype=bool)
    dangling[np.ix_([0, 1, 2, 4], [0, 1, 2, 4])] = matrix_of(adjacency)
    dangling[0, 3] = True  # reached from the input, reaches nothing
    assert cell_hash(dangling, [*ops[:3], "maxpool3x3", ops[3]]) == ECNAS_HASH
    pruned_matrix, pruned_ops = prune(dangling, [*ops[:3], "maxpool3x3", ops[3]])
    assert pruned_ops == ops and np.array_equal(pruned_matrix, matrix_of(adjacency))


def test_invalid_specs_raise_and_batch_gives_none():
    disconnected = ("0100000000010000", "input,conv1x1-bn-relu,conv3x3-bn-relu,output")
    lower = ("0010", "input,output")
    unknown = ("010001000", "input,conv5x5,output")
    for adjacency, operations in (disconnected, lower, unknown):
        with pytest.raises(InvalidSpecError):
            cell_hash(matrix_of(adjacency), operations.split(","))
    assert cell_hashes(*zip(disconnected, lower, unknown, ECNAS_SPEC, strict=True)) == \
        [None, None, None, ECNAS_HASH]


def test_batch_hashes_equal_the_reference_on_random_cells():
    rng = np.random.default_rng(7)
    adjacency, operations = [], []
    for _ in range(150):
        size = int(rng.integers(2, 8))
        matrix = np.triu(rng.random((size, size)) < 0.45, 1)
        adjacency.append("".join("1" if edge else "0" for edge in matrix.ravel()))
        operations.append(",".join(["input", *(CANONICAL_OPS[i] for i in
                                               rng.integers(0, 3, size - 2)), "output"]))
    expected = []
    for text, ops in zip(adjacency, operations, strict=True):
        try:
            expected.append(cell_hash(matrix_of(text), ops.split(",")))
        except InvalidSpecError:
            expected.append(None)
    assert 20 < expected.count(None) < 130
    assert cell_hashes(adjacency, operations) == expected


# ---- the real samples ---------------------------------------------------------------------------

@needs_data
def test_the_ecnas_file_reads_all_records_and_every_hash_verifies():
    table = read_nasbench([ECNAS])
    assert len(table) == 1092
    assert table["module_hash"].nunique() == 91
    assert table.groupby(["module_hash", "epochs"]).size().eq(3).all()
    assert sorted(table["epochs"].unique().tolist()) == [4, 12, 36, 108]
    assert sorted(table["repeat"].unique().tolist()) == [0, 1, 2]
    assert table["hash_verified"].all()
    first = json.loads(next(iter_tfrecord(ECNAS)))
    metrics = decode_model_metrics(base64.b64decode(first[4]))  # energy fields 6-14 skipped
    assert len(metrics["evaluation_data"]) == 3
    row = table.iloc[0]
    assert (row.module_hash, row.epochs, row.adjacency, row.operations) == tuple(first[:4])
    assert row.final_test_accuracy == metrics["evaluation_data"][2]["test_accuracy"]
    assert row.halfway_epoch == 1.0  # EC-NAS evaluates after one epoch, not half the budget
    assert row.total_time == metrics["total_time"]


@needs_data
def test_the_json_export_reads_1000_cells():
    table = read_nasbench([EXPORT])
    export = json.loads(EXPORT.read_text())
    assert table["module_hash"].nunique() == 1000 and len(table) == 4000
    assert table["hash_verified"].all() and (table["repeat"] == 0).all()
    final = table[table["epochs"] == 108]
    assert final["final_validation_accuracy"].tolist() == export["108_final_validation_accuracy"]
    assert final["final_training_time"].tolist() == export["final_training_time"]
    assert table.loc[table["epochs"] < 108, "final_training_time"].isna().all()
    assert table["final_test_accuracy"].isna().all()
    assert set(table["n_vertices"]) <= set(range(2, 8))


@needs_data
def test_reading_both_samples_together():
    table = read_nasbench([ECNAS, EXPORT])
    assert len(table) == 1092 + 4000
    assert table["source"].value_counts().to_dict() == {EXPORT.name: 4000, ECNAS.name: 1092}


# ---- command line -------------------------------------------------------------------------------

def test_cli_writes_the_table_and_counts(good_file, tmp_path, capsys):
    out = tmp_path / "out" / "nb.parquet"
    assert cli.main(["nasbench", str(good_file), "-o", str(out)]) == 0
    assert capsys.readouterr().out.startswith("6 rows, 3 cells, 0 hash mismatches")
    assert len(pd.read_parquet(out)) == 6


@pytest.mark.parametrize("damage", ["truncate", "flip", "not_json", "missing", "text"])
def test_cli_bad_input_exits_2_and_writes_nothing(good_file, tmp_path, capsys, damage):
    if damage == "truncate":
        good_file.write_bytes(good_file.read_bytes()[:-3])
    elif damage == "flip":
        corrupt(good_file, 30)
    elif damage == "not_json":
        write_tfrecord(good_file, [good_records()[0], b"\x00garbage"])
    elif damage == "missing":
        good_file = tmp_path / "missing.tfrecord"
    else:
        good_file = tmp_path / "notes.json"
        good_file.write_text('{"key": []}')
    out = tmp_path / "nb.parquet"
    assert cli.main(["nasbench", str(good_file), "-o", str(out)]) == cli.EXIT_BAD_INPUT
    error = capsys.readouterr().err.strip()
    assert error.startswith("reusebench: error: ") and error.count(". ") == 0
    assert good_file.name in error
    assert not out.exists() and not any(p.suffix == ".parquet" for p in tmp_path.iterdir())
