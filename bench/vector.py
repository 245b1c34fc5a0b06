#!/usr/bin/env python3
"""HNSW index builds and queries on pgvector: the settings Hearth derives against the defaults.

The seeds' workload stores 768-dimension embeddings and searches them by nearest neighbour.
This benchmark loads a reproducible synthetic set (clustered vectors from a fixed seed, no
download) into one table on a converged data host, then, in one run and on the same data:

1. builds the HNSW index with the distribution's defaults (``maintenance_work_mem`` 64MB,
   ``max_parallel_maintenance_workers`` 2), then with what the server runs with (the values the
   ``postgres`` role derives from the host's memory share and CPUs);
2. after each build, sweeps ``hnsw.ef_search`` and reports recall@10 against exact neighbours
   (computed with numpy on the same vectors) and queries per second, and the smallest
   ``ef_search`` that reaches the recall goal;
3. records pgvector's notice when the graph stops fitting in ``maintenance_work_mem``, which
   is what makes a build slow.

It talks to one Postgres, given by ``--dsn`` (in the lab: 127.0.0.1:15432, user app), creates
and drops its own table, and changes settings only for its own session:

    python bench/vector.py --dsn postgresql://app:$(cat inventories/lab/.secrets/postgres_app)@127.0.0.1:15432/app

Results go to ``bench/results/vector.json``; ``--rows 2000`` makes a quick smoke run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "vector.json"
TABLE = "hearth_bench_vectors"
INDEX = f"{TABLE}_hnsw"
# PostgreSQL's own defaults for the two settings an index build depends on.
PG_DEFAULTS = {"maintenance_work_mem": "64MB", "max_parallel_maintenance_workers": "2"}
EF_SEARCH = (10, 20, 40, 64, 100, 200, 400)
RECALL_GOAL = 0.95
K = 10


def clustered_vectors(rows: int, dims: int, clusters: int, seed: int,
                      spread: float = 0.35) -> np.ndarray:
    """``rows`` float32 vectors around ``clusters`` random centres (the same for one seed)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dims), dtype=np.float32)
    owner = rng.integers(0, clusters, size=rows)
    noise = rng.standard_normal((rows, dims), dtype=np.float32) * np.float32(spread)
    return centres[owner] + noise


def binary_copy(vectors: np.ndarray, first_id: int = 1) -> bytes:
    """The rows as a PGCOPY binary stream: (id int4, embedding vector) per tuple.

    pgvector's binary form is int16 dimensions, int16 zero, then float4 big-endian values.
    """
    rows, dims = vectors.shape
    record = np.dtype([("fields", ">i2"), ("id_len", ">i4"), ("id", ">i4"), ("vec_len", ">i4"),
                       ("dim", ">i2"), ("unused", ">i2"), ("values", ">f4", (dims,))])
    data = np.zeros(rows, dtype=record)
    data["fields"] = 2
    data["id_len"] = 4
    data["id"] = np.arange(first_id, first_id + rows, dtype=np.int64)
    data["vec_len"] = 4 + 4 * dims
    data["dim"] = dims
    data["values"] = vectors
    header = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
    return header + data.tobytes() + (-1).to_bytes(2, "big", signed=True)


def exact_neighbours(vectors: np.ndarray, queries: np.ndarray, k: int = K) -> List[List[int]]:
    """Ids (1-based, as loaded) of the ``k`` nearest vectors by L2 distance, per query."""
    norms = (vectors.astype(np.float64) ** 2).sum(axis=1)
    result = []
    for query in queries.astype(np.float64):
        distances = norms - 2 * vectors.astype(np.float64) @ query
        top = np.argpartition(distances, k)[:k]
        result.append([int(i) + 1 for i in top[np.argsort(distances[top])]])
    return result


def recall(found: Sequence[Sequence[int]], truth: Sequence[Sequence[int]]) -> float:
    """Mean share of the true neighbours found, over all queries."""
    return sum(len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)) / len(truth)


def vector_literal(values: np.ndarray) -> str:
    """pgvector's text form of one vector."""
    return "[" + ",".join(f"{v:.6g}" for v in values.tolist()) + "]"


def load(conn: Any, vectors: np.ndarray) -> float:
    """Create the table and load the vectors; seconds."""
    dims = vectors.shape[1]
    start = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cur.execute(f"CREATE TABLE {TABLE} (id integer PRIMARY KEY, embedding vector({dims}))")
        with cur.copy(f"COPY {TABLE} (id, embedding) FROM STDIN WITH (FORMAT binary)") as copy:
            copy.write(binary_copy(vectors))
        cur.execute(f"VACUUM ANALYZE {TABLE}")
    return time.perf_counter() - start


def show(conn: Any, names: Sequence[str]) -> Dict[str, str]:
    """Current values of settings in this session."""
    with conn.cursor() as cur:
        return {name: cur.execute(f"SHOW {name}").fetchone()[0] for name in names}


def build(conn: Any, settings: Optional[Dict[str, str]], m: int, ef_construction: int,
          notices: List[str]) -> Dict[str, Any]:
    """One HNSW build with ``settings`` for this session (None: the server's own)."""
    names = ["maintenance_work_mem", "max_parallel_maintenance_workers"]
    with conn.cursor() as cur:
        cur.execute(f"DROP INDEX IF EXISTS {INDEX}")
        for name in names:
            if settings is None:
                cur.execute(f"RESET {name}")
            else:
                cur.execute("SELECT set_config(%s, %s, false)", (name, settings[name]))
        used = show(conn, names)
        del notices[:]
        start = time.perf_counter()
        cur.execute(f"CREATE INDEX {INDEX} ON {TABLE} USING hnsw (embedding vector_l2_ops) "
                    f"WITH (m = {m}, ef_construction = {ef_construction})")
        seconds = time.perf_counter() - start
        size = cur.execute("SELECT pg_relation_size(%s)", (INDEX,)).fetchone()[0]
    return {"settings": used, "build_s": round(seconds, 2), "index_mb": round(size / 2**20, 1),
            "notices": [n for n in notices if "hnsw" in n.lower()]}


def sweep(conn: Any, queries: np.ndarray, truth: List[List[int]]) -> List[Dict[str, Any]]:
    """Recall@10 and queries per second for each ef_search, over one kept connection."""
    literals = [vector_literal(q) for q in queries]
    points = []
    with conn.cursor() as cur:
        cur.execute("SET enable_seqscan = off")
        for ef in EF_SEARCH:
            cur.execute(f"SET hnsw.ef_search = {ef}")
            cur.execute(f"SELECT id FROM {TABLE} ORDER BY embedding <-> %s::vector LIMIT {K}",
                        (literals[0],))  # warm-up
            found = []
            start = time.perf_counter()
            for literal in literals:
                cur.execute(f"SELECT id FROM {TABLE} ORDER BY embedding <-> %s::vector LIMIT {K}",
                            (literal,))
                found.append([row[0] for row in cur.fetchall()])
            seconds = time.perf_counter() - start
            points.append({"ef_search": ef, "recall_at_10": round(recall(found, truth), 4),
                           "qps": round(len(literals) / seconds, 1)})
        cur.execute("RESET enable_seqscan")
        cur.execute("RESET hnsw.ef_search")
    return points


def at_goal(points: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The first (smallest) ef_search whose recall reaches the goal."""
    return next((p for p in points if p["recall_at_10"] >= RECALL_GOAL), None)


def derived_on_paper() -> List[Dict[str, Any]]:
    """What the postgres role derives for a few host sizes, and how many vectors fit."""
    try:
        from ansible_collections.hearth.platform.plugins.filter.postgres import postgres_memory
    except ImportError:  # run as a script: load the filter file itself
        import importlib.util
        path = ROOT / "collections/ansible_collections/hearth/platform/plugins/filter/postgres.py"
        spec = importlib.util.spec_from_file_location("hearth_postgres_filter", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        postgres_memory = module.postgres_memory

    hosts = [("lab (2 vCPU, 24 GiB)", 24 * 1024, 2),
             ("Lambda gpu_1x_a10 (30 vCPU, 200 GiB)", 200 * 1024, 30),
             ("Lambda gpu_1x_h100_pcie (26 vCPU, 200 GiB)", 200 * 1024, 26),
             ("Lambda gpu_8x_h100_sxm5 (208 vCPU, 1800 GiB)", 1800 * 1024, 208)]
    return [{"host": name, "memory_share": 0.25,
             **{k: v for k, v in postgres_memory(mb, 0.25, cpus).items()
                if k in ("maintenance_work_mem", "max_parallel_maintenance_workers",
                         "shared_buffers")}}
            for name, mb, cpus in hosts]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="libpq connection string or URL")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=768)
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=64)
    parser.add_argument("--keep", action="store_true", help="keep the table afterwards")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    import psycopg  # imported here so --help works without it

    on_paper = derived_on_paper()
    vectors = clustered_vectors(args.rows, args.dims, args.clusters, args.seed)
    queries = clustered_vectors(args.queries, args.dims, args.clusters, args.seed)
    queries += np.random.default_rng(args.seed + 1).standard_normal(
        queries.shape, dtype=np.float32) * np.float32(0.1)
    start = time.perf_counter()
    truth = exact_neighbours(vectors, queries)
    exact_s = time.perf_counter() - start

    notices: List[str] = []
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        server = show(conn, ["server_version", "maintenance_work_mem",
                             "max_parallel_maintenance_workers", "max_worker_processes",
                             "shared_buffers"])
        pgvector = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'"
                                ).fetchone()
        load_s = load(conn, vectors)
        runs = {}
        for label, settings in (("defaults", PG_DEFAULTS), ("derived", None)):
            result = build(conn, settings, args.m, args.ef_construction, notices)
            result["sweep"] = sweep(conn, queries, truth)
            result["at_recall_goal"] = at_goal(result["sweep"])
            runs[label] = result
        if not args.keep:
            conn.execute(f"DROP TABLE IF EXISTS {TABLE}")

    d, h = runs["defaults"], runs["derived"]
    doc = {
        "data": {"rows": args.rows, "dims": args.dims, "clusters": args.clusters,
                 "queries": args.queries, "seed": args.seed, "distance": "l2",
                 "hnsw": {"m": args.m, "ef_construction": args.ef_construction},
                 "load_s": round(load_s, 2), "exact_neighbours_numpy_s": round(exact_s, 2)},
        "server": {**server, "pgvector": pgvector[0] if pgvector else None},
        "defaults": d,
        "derived": h,
        "build_speedup_derived_over_defaults": round(d["build_s"] / h["build_s"], 2),
        "recall_goal": RECALL_GOAL,
        "on_paper": on_paper,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "loadavg_1m_at_end": round(os.getloadavg()[0], 2)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps({k: doc[k] for k in ("build_speedup_derived_over_defaults",)}, indent=2))
    print(json.dumps({"defaults": {k: d[k] for k in ("settings", "build_s", "at_recall_goal")},
                      "derived": {k: h[k] for k in ("settings", "build_s", "at_recall_goal")}},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
