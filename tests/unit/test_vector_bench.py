"""bench/vector.py's pure parts: reproducible data, the binary COPY stream, exact neighbours.

The timing itself runs against a converged data host (see the module's docstring); here only
what decides whether its numbers mean anything: the same seed gives the same vectors, the
bytes sent are what pgvector's binary input reads, and recall is computed against true
neighbours.
"""
from __future__ import annotations

import struct

import numpy as np
import pytest

import vector as bench_vector


def test_the_same_seed_gives_the_same_clustered_vectors() -> None:
    a = bench_vector.clustered_vectors(500, 16, 5, seed=3)
    b = bench_vector.clustered_vectors(500, 16, 5, seed=3)
    c = bench_vector.clustered_vectors(500, 16, 5, seed=4)
    assert a.dtype == np.float32 and a.shape == (500, 16)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_binary_copy_is_what_pgcopy_and_pgvector_read() -> None:
    vectors = np.array([[1.5, -2.0, 0.25], [0.0, 3.0, -1.0]], dtype=np.float32)
    data = bench_vector.binary_copy(vectors, first_id=7)
    assert data.startswith(b"PGCOPY\n\xff\r\n\x00") and data.endswith(b"\xff\xff")
    offset = 11 + 8
    for row, expected_id in ((vectors[0], 7), (vectors[1], 8)):
        fields, id_len, ident, vec_len, dim, unused = struct.unpack_from(">hiiihh", data, offset)
        assert (fields, id_len, ident, vec_len, dim, unused) == (2, 4, expected_id, 16, 3, 0)
        offset += struct.calcsize(">hiiihh")
        values = struct.unpack_from(">3f", data, offset)
        assert values == pytest.approx(row.tolist())
        offset += 12
    assert offset == len(data) - 2


def test_exact_neighbours_and_recall() -> None:
    vectors = np.array([[0, 0], [1, 0], [5, 5], [0, 1], [9, 9]], dtype=np.float32)
    truth = bench_vector.exact_neighbours(vectors, np.array([[0.1, 0.1]], dtype=np.float32), k=3)
    assert truth == [[1, 2, 4]] or truth == [[1, 4, 2]]
    assert set(truth[0]) == {1, 2, 4}
    assert bench_vector.recall([[1, 2, 3]], [[1, 2, 4]]) == pytest.approx(2 / 3)
    assert bench_vector.recall([[4, 2, 1]], truth) == 1.0


def test_the_recall_goal_picks_the_smallest_ef_search() -> None:
    points = [{"ef_search": 10, "recall_at_10": 0.8}, {"ef_search": 40, "recall_at_10": 0.96},
              {"ef_search": 100, "recall_at_10": 0.99}]
    assert bench_vector.at_goal(points)["ef_search"] == 40
    assert bench_vector.at_goal(points[:1]) is None


def test_vector_literal_is_pgvector_text() -> None:
    assert bench_vector.vector_literal(np.array([1.0, -0.5], dtype=np.float32)) == "[1,-0.5]"


def test_on_paper_settings_grow_with_the_host() -> None:
    rows = bench_vector.derived_on_paper()
    mems = [int(r["maintenance_work_mem"].rstrip("MB")) for r in rows]
    assert mems[0] < mems[1] <= mems[-1]
    assert all(r["max_parallel_maintenance_workers"] >= 1 for r in rows)
