"""The fast paths of the NAS-Bench-101 reader give what the general ones give.

The reader takes records in NAS-Bench-101's own layout apart by position, keys cells by
numbers, hashes many cells at once (merging equal vertex states while they repeat) and may
share the hashing with a second process; each of these is checked here against the plain
route: json.loads, the string-keyed cells, and the reference ``cell_hash``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from reusebench.data.nasbench import cellhash, hashstates, layout, records
from reusebench.data.nasbench.cellhash import hash_pruned_digests
from reusebench.data.nasbench.graph import (
    CANONICAL_OPS,
    INPUT_LABEL,
    OUTPUT_LABEL,
    InvalidSpecError,
    cell_hash,
    module_hash,
)
from reusebench.data.nasbench.hashhelpers import Helper
from reusebench.data.nasbench.md5rows import hex_rows
from reusebench.data.nasbench.proto import encode_model_metrics
from reusebench.data.nasbench.records import encode_record, read_nasbench
from reusebench.data.nasbench.tfrecord import frame_tfrecord, write_tfrecord

pytestmark = pytest.mark.usefixtures("reader_paths")  # compiled and numpy routes

def random_cells(rng: np.random.Generator, count: int) -> list[tuple[np.ndarray, list[str]]]:
    cells = []
    for _ in range(count):
        size = int(rng.integers(2, 8))
        matrix = np.triu(rng.random((size, size)) < 0.5, 1)
        ops = ["input", *(CANONICAL_OPS[i] for i in rng.integers(0, 3, size - 2)), "output"]
        cells.append((matrix, ops))
    return cells


def metrics(seed: int, extra: bytes = b"") -> bytes:
    evaluations = [{"current_epoch": epoch, "training_time": 10.0 * epoch + seed,
                    "train_accuracy": 0.5 + seed / 1e4, "validation_accuracy": 0.4,
                    "test_accuracy": 0.3 + seed / 1e5} for epoch in (0.0, 54.0, 108.0)]
    return encode_model_metrics(evaluations, 1_000 + seed, 5.0 + seed) + extra


def reference_hash(matrix: np.ndarray, ops: list[str]) -> str | None:
    try:
        return cell_hash(matrix, ops)
    except InvalidSpecError:
        return None


# ---- the record layout --------------------------------------------------------------------------

def mixed_records(rng: np.random.Generator) -> list[bytes]:
    """Records in NAS-Bench-101's layout and in others that only the general reader takes."""
    out = []
    for index, (matrix, ops) in enumerate(random_cells(rng, 60)):
        stored = reference_hash(matrix, ops) or "f" * 32
        record = encode_record(stored, (4, 12, 36, 108)[index % 4], matrix, ops,
                               metrics(index, extra=b"\x38\x05" if index % 7 == 0 else b""))
        fields = json.loads(record)
        kind = index % 6
        if kind == 1:  # other separators
            record = json.dumps(fields, separators=(",", ":")).encode()
        elif kind == 2:  # an escaped character in the metrics text
            record = record.replace(b"/", b"\\/")
        elif kind == 3:  # a hash that is not 32 characters
            fields[0] = stored[:31]
            record = json.dumps(fields).encode()
        elif kind == 4:  # an operation that is not NAS-Bench-101's
            fields[3] = fields[3].replace("maxpool3x3", "avgpool3x3")
            record = json.dumps(fields).encode()
        out.append(record)
    return out


def test_layout_and_general_reader_give_the_same_table(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    path = tmp_path / "mixed.tfrecord"
    write_tfrecord(path, mixed_records(rng))
    fast = read_nasbench([path])
    nowhere = layout.Located(*(np.zeros((0, *shape), dtype=np.int64) for shape in
                               ((), (), (32,), (49,), (), (8,), (), (), ())))
    monkeypatch.setattr(layout, "locate", lambda buffer, starts, ends: nowhere)
    general = read_nasbench([path])
    pd.testing.assert_frame_equal(fast, general)
    assert fast["hash_verified"].sum() > 20  # the unchanged records still verify


def located_args(path):
    data = path.read_bytes()
    starts, lengths = frame_tfrecord(data, path.name)
    return np.frombuffer(data, dtype=np.uint8), starts, starts + lengths


def test_records_in_the_layout_are_located_and_others_are_not(tmp_path):
    rng = np.random.default_rng(4)
    path = tmp_path / "mixed.tfrecord"
    payloads = mixed_records(rng)
    write_tfrecord(path, payloads)
    buffer, starts, ends = located_args(path)
    located = layout.locate(buffer, starts, ends)
    decoded, _ = layout.decode_base64(buffer, located.metrics_start, located.metrics_length)
    in_layout = [index for index, payload in enumerate(payloads)
                 if payload == json.dumps(json.loads(payload)).encode()
                 and len(json.loads(payload)[0]) == 32]
    assert located.rows[decoded].tolist() == in_layout
    for position, row in enumerate(located.rows.tolist()):
        fields = json.loads(payloads[row])
        size = located.n_vertices[position]
        assert located.epochs[position] == fields[1]
        assert located.hashes[position].tobytes().decode() == fields[0]
        assert located.adjacency[position, :size * size].tobytes().decode() == fields[2]
        length = located.operations_length[position]
        assert located.operations[position, :length].tobytes().decode() == fields[3]


def test_the_string_keyed_cells_agree_with_the_numeric_keys(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    path = tmp_path / "cells.tfrecord"
    cells = random_cells(rng, 80)
    write_tfrecord(path, [encode_record(reference_hash(m, o) or "0" * 32, 108, m, o,
                                        metrics(i)) for i, (m, o) in enumerate(cells)])
    numeric = read_nasbench([path])
    monkeypatch.setattr(records, "keyed_cell_columns", lambda columns, keys, name, verify,
                        helper=None: records._cell_columns(columns, name, verify))
    pd.testing.assert_frame_equal(numeric, read_nasbench([path]))
    expected = [reference_hash(m, o) is not None for m, o in cells]
    assert numeric["hash_verified"].tolist() == expected


# ---- the cell hasher ----------------------------------------------------------------------------

def padded(cells: list[tuple[np.ndarray, list[int]]]):
    width = max(len(labels) for _, labels in cells)
    edges = np.zeros((len(cells), width, width), dtype=bool)
    labels = np.zeros((len(cells), width), dtype=np.int64)
    for row, (matrix, labeling) in enumerate(cells):
        edges[row, :len(labeling), :len(labeling)] = matrix
        labels[row, :len(labeling)] = labeling
    return edges, labels, np.array([len(labeling) for _, labeling in cells])


def pruned_random_cells(rng: np.random.Generator, count: int):
    """Random full DAGs with labels, each also once with its inner vertices permuted (so
    equal vertex states repeat in every round)."""
    cells = []
    while len(cells) < count:
        size = int(rng.integers(1, 8))
        matrix = np.triu(rng.random((size, size)) < 0.6, 1)
        if size > 1:
            matrix[np.arange(size - 1), np.arange(1, size)] = True  # a path through all
        labeling = [INPUT_LABEL, *rng.integers(0, 3, max(size - 2, 0)).tolist(), OUTPUT_LABEL]
        labeling = labeling[:size] if size > 1 else [INPUT_LABEL]
        cells.append((matrix, labeling))
        order = np.r_[0, rng.permutation(np.arange(1, size - 1)) if size > 2 else [],
                      size - 1 if size > 1 else []].astype(int)
        cells.append((matrix[np.ix_(order, order)], [labeling[i] for i in order]))
    return cells


@pytest.mark.parametrize("repeat_share", ["many repeats", "all distinct"])
def test_batch_digests_equal_the_reference_module_hash(repeat_share):
    rng = np.random.default_rng(11)
    cells = pruned_random_cells(rng, 400)
    if repeat_share == "all distinct":
        cells = cells[::2]
    hashes = hex_rows(hash_pruned_digests(*padded(cells)))
    expected = [module_hash(matrix, labeling) for matrix, labeling in cells]
    assert [row.tobytes().decode() for row in hashes] == expected


def test_merging_of_equal_states_stops_once_nearly_all_are_distinct(monkeypatch, reader_paths):
    if reader_paths == "compiled":
        pytest.skip("the numpy route merges equal states; the compiled one hashes every vertex")
    rng = np.random.default_rng(12)
    rounds = []
    original = cellhash._round

    def spy(groups, table, states, done):
        rounds.append(table.exact)
        return original(groups, table, states, done)

    monkeypatch.setattr(cellhash, "_round", spy)
    hash_pruned_digests(*padded(pruned_random_cells(rng, 300)[::2]))
    assert rounds[0] and not rounds[-1]


def test_neighbours_with_equal_leading_bytes_sort_by_all_sixteen():
    digests = np.zeros((5, 16), dtype=np.uint8)
    digests[:, :8] = 7  # same first half: the order must come from the second
    digests[:, 15] = [9, 3, 200, 3, 0]
    table = hashstates.StateTable(digests, exact=False)
    for width in (2, 3, 4, 5):
        ids = np.array([[4, 2, 0, 1, 3][:width], [1, 3, 2, 0, 4][:width]])
        ordered = table.sort_ids(ids)
        for row, original in zip(ordered, ids, strict=True):
            assert [table.hex[i].tobytes() for i in row] == \
                sorted(table.hex[i].tobytes() for i in original)


def test_a_helper_process_hashes_the_same():
    rng = np.random.default_rng(13)
    edges, labels, sizes = padded(pruned_random_cells(rng, 120))
    alone = hash_pruned_digests(edges, labels, sizes)
    with Helper(min_cells=1) as helper:
        shared = hash_pruned_digests(edges, labels, sizes, helper)
        again = hash_pruned_digests(edges[:7], labels[:7], sizes[:7], helper)
    assert np.array_equal(alone, shared) and np.array_equal(alone[:7], again)


def test_a_helper_that_died_leaves_the_work_here():
    rng = np.random.default_rng(14)
    edges, labels, sizes = padded(pruned_random_cells(rng, 40))
    with Helper(min_cells=1) as helper:
        helper._process.kill()
        helper._process.wait()
        shared = hash_pruned_digests(edges, labels, sizes, helper)
    assert np.array_equal(shared, hash_pruned_digests(edges, labels, sizes))


def test_cells_sent_to_a_helper_halfway_through_the_file_read_the_same(tmp_path, monkeypatch,
                                                                      reader_paths):
    rng = np.random.default_rng(15)
    path = tmp_path / "cells.tfrecord"
    cells = random_cells(rng, 90)
    write_tfrecord(path, [encode_record(reference_hash(m, o) or "0" * 32, 108, m, o,
                                        metrics(i)) for i, (m, o) in enumerate(cells)])
    monkeypatch.setattr(records, "CHUNK_RECORDS", 16)
    sent = []
    original = records.send_cells
    monkeypatch.setattr(records, "send_cells", lambda *args: sent.append(original(*args))
                        or sent[-1])
    shared = read_nasbench([path], processes=2)
    # a hashing thread (compiled route) gets every chunk but the last, a process SEND_AT
    chunks = -(-len(cells) // records.CHUNK_RECORDS)
    assert len(sent) == (chunks - 1 if reader_paths == "compiled" else len(records.SEND_AT))
    assert 20 < sum(len(numbers) for _, numbers in sent) < len(cells)  # the last: hashed here
    pd.testing.assert_frame_equal(shared, read_nasbench([path], processes=1))
    assert shared["hash_verified"].tolist() == [reference_hash(m, o) is not None
                                                for m, o in cells]


# ---- framing ------------------------------------------------------------------------------------

def test_a_header_cut_after_its_length_names_the_missing_record(tmp_path):
    path = tmp_path / "cut.tfrecord"
    write_tfrecord(path, [encode_record("0" * 32, 108, np.array([[0, 1], [0, 0]]),
                                        ["input", "output"], metrics(0))] * 2)
    data = path.read_bytes()
    path.write_bytes(data + data[:10])  # 8 length bytes and 2 of the 4 checksum bytes
    with pytest.raises(records.InputError, match=r"Record 2 of cut\.tfrecord is truncated"):
        read_nasbench([path])
