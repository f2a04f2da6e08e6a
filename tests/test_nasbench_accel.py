"""The compiled extension (``reusebench.data.nasbench._accel``) gives what its Python twins give.

The reader uses it for MD5s, cell hashes, pruning and TFRecord framing where it was built at
install; every function is compared here with the plain route on random inputs, edge cases
included (empty messages, one-block and many-block messages, invalid cells, cut files).
"""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest

from reusebench.data.nasbench import cellhash, graph, layout, md5rows, tfrecord
from reusebench.data.nasbench.graph import INPUT_LABEL, OUTPUT_LABEL, UNKNOWN_OP, module_hash

accel = cellhash.accel
needs_accel = pytest.mark.skipif(accel is None, reason="the extension was not built")


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                    reason="no C compiler on this machine: the install skips the extension")
def test_the_extension_is_built_where_a_c_compiler_exists():
    assert accel is not None and graph.accel is accel and tfrecord.accel is accel
    assert layout.accel is accel


@needs_accel
@pytest.mark.parametrize("width", [0, 1, 55, 56, 63, 64, 119, 120, 130, 226, 257, 1000])
def test_md5_rows_equals_hashlib_at_every_padding_boundary(width):
    rng = np.random.default_rng(width)
    for count in (0, 1, 15, 16, 17, 40):
        rows = rng.integers(0, 256, (count, width), dtype=np.uint8)
        digests = accel.md5_rows(rows, count, width)
        assert digests == b"".join(hashlib.md5(row.tobytes()).digest() for row in rows)


def random_cells(rng: np.random.Generator, count: int, width: int):
    """Padded cells of every kind: valid, with back edges, dangling vertices, unknown
    operations, sizes below the width, malformed."""
    sizes = rng.integers(0, width + 1, count)
    edges = rng.random((count, width, width)) < 0.35
    upper = rng.random(count) < 0.8
    edges[upper] &= np.triu(np.ones((width, width), dtype=bool), 1)
    edges &= (np.arange(width) < sizes[:, None])[:, :, None]
    edges &= (np.arange(width) < sizes[:, None])[:, None, :]
    labels = rng.integers(0, 3, (count, width))
    labels[rng.random((count, width)) < 0.03] = UNKNOWN_OP
    well_formed = rng.random(count) < 0.95
    return edges, labels, sizes, well_formed


@needs_accel
@pytest.mark.parametrize("width", [1, 2, 7, 10])
def test_compiled_pruning_equals_the_numpy_pruning(width, monkeypatch):
    edges, labels, sizes, well_formed = random_cells(np.random.default_rng(width), 400, width)
    compiled = graph.prune_cells(edges, labels, sizes, well_formed)
    monkeypatch.setattr(graph, "accel", None)
    plain = graph.prune_cells(edges, labels, sizes, well_formed)
    for ours, theirs in zip(compiled, plain, strict=True):
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)


@needs_accel
@pytest.mark.parametrize("width", [7, 10])
def test_compiled_cell_hashes_equal_the_reference_module_hash(width):
    rng = np.random.default_rng(20 + width)
    edges, labels, kept, valid = graph.prune_cells(*random_cells(rng, 300, width))
    edges, labels, kept = edges[valid], labels[valid], kept[valid]
    digests = cellhash._digests(edges, labels, kept)
    assert np.array_equal(digests, cellhash.numpy_digests(edges, labels, kept))
    for row in range(0, len(kept), 7):
        size = int(kept[row])
        expected = module_hash(edges[row, :size, :size].astype(int),
                               labels[row, :size].tolist())
        assert md5rows.hex_rows(digests[row:row + 1]).tobytes().decode() == expected
    assert labels[:, 0].tolist() == [INPUT_LABEL] * len(labels)
    assert OUTPUT_LABEL in labels[0]


@needs_accel
def test_compiled_crc32c_equals_the_python_crc32c():
    rng = np.random.default_rng(5)
    data = rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()
    starts = rng.integers(0, 4000, 200)
    lengths = rng.integers(0, 1000, 200)
    lengths[:20] = np.arange(20)  # the byte-wise tail of every length below 8 and above
    crcs = np.frombuffer(accel.crc32c_ranges(data, starts, lengths, len(starts)), np.uint32)
    assert crcs.tolist() == [tfrecord.crc32c_python(data[start:start + length]) for start, length
                             in zip(starts.tolist(), lengths.tolist(), strict=True)]
    with pytest.raises(ValueError, match="outside the data"):
        accel.crc32c_ranges(data, np.array([4999]), np.array([2]), 1)


@needs_accel
@pytest.mark.parametrize("cut", [0, 3, 8, 11, 12, 20, 30, 41])
def test_compiled_walk_over_the_headers_equals_the_python_walk(tmp_path, cut, monkeypatch):
    path = tmp_path / "walk.tfrecord"
    tfrecord.write_tfrecord(path, [b"a" * 9, b"", b"xyz" * 40])
    data = path.read_bytes()
    data = data[:len(data) - cut] if cut else data + b"\xff" * 8  # cut, or a huge length
    compiled = tfrecord._walk(data)
    monkeypatch.setattr(tfrecord, "accel", None)
    plain = tfrecord._walk(data)
    assert np.array_equal(compiled[0], plain[0]) and np.array_equal(compiled[1], plain[1])
    assert compiled[2] == plain[2]
