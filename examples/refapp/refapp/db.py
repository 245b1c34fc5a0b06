"""Postgres access: connections, the schema and the few queries the application runs.

psycopg 3 talks to the database with DATABASE_URL as given (sslmode=require included); vectors
travel in pgvector's text form and are cast with ::vector, so no pgvector Python package is
needed. Every connection has a short connect timeout: a health check or a migration against an
unreachable database fails in seconds instead of hanging.
"""
from __future__ import annotations

import sys
from typing import Any, Optional, Sequence

import psycopg

from refapp import logic

CONNECT_TIMEOUT = 5
# Serialises concurrent migrations (two job containers started at once).
MIGRATION_LOCK = 0x72656661  # "refa"

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS documents (
         id bigserial PRIMARY KEY,
         body text NOT NULL,
         s3_key text NOT NULL,
         embedding vector NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS jobs (
         id text PRIMARY KEY,
         seconds real NOT NULL,
         started_at timestamptz,
         finished_at timestamptz,
         worker text)""",
    """CREATE TABLE IF NOT EXISTS beat_ticks (
         at timestamptz NOT NULL DEFAULT now(),
         beat_id text NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS beat_ticks_beat_id_at ON beat_ticks (beat_id, at)",
)


def connect(settings: logic.Settings, timeout: int = CONNECT_TIMEOUT) -> psycopg.Connection[Any]:
    """A new connection; used as a context manager it commits on success and closes."""
    return psycopg.connect(settings.need("database_url"), connect_timeout=timeout)


def ping(settings: logic.Settings) -> None:
    """SELECT 1, for the health check (libpq's shortest connect timeout is 2 seconds)."""
    with connect(settings, timeout=2) as conn:
        conn.execute("SELECT 1").fetchone()


def migrate(settings: logic.Settings, log: Any = None) -> list[str]:
    """Create what the application needs, idempotently; returns the tables it checked.

    The platform creates the vector extension; asking again is harmless when it exists and
    tolerated when this user may not create extensions (a missing extension then fails on the
    documents table, naming the type).
    """
    log = log or (lambda message: print(message, file=sys.stderr))
    with psycopg.connect(settings.need("database_url"), connect_timeout=CONNECT_TIMEOUT,
                         autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.Error as error:
                reason = " ".join(str(error).split())
                log(f"refapp: migrate: could not create the vector extension ({reason}); "
                    "carrying on with what the database has")
            for statement in SCHEMA:
                conn.execute(statement)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    return ["documents", "jobs", "beat_ticks"]


def add_document(conn: psycopg.Connection[Any], document_id: int, body: str, s3_key: str,
                 embedding: Sequence[float]) -> None:
    """Insert one document row with the id reserved by next_document_id."""
    conn.execute(
        "INSERT INTO documents (id, body, s3_key, embedding) VALUES (%s, %s, %s, %s::vector)",
        (document_id, body, s3_key, logic.vector_literal(embedding)))


def next_document_id(conn: psycopg.Connection[Any]) -> int:
    """Reserve a document id first, so the S3 key can carry it before the row exists."""
    row = conn.execute("SELECT nextval(pg_get_serial_sequence('documents', 'id'))").fetchone()
    assert row is not None
    return int(row[0])


def search(conn: psycopg.Connection[Any], embedding: Sequence[float], k: int) -> list[dict[str, Any]]:
    """The k documents nearest to embedding (L2), among those embedded with as many dimensions."""
    rows = conn.execute(
        """SELECT id, body, s3_key, embedding <-> %s::vector AS distance
             FROM documents
            WHERE vector_dims(embedding) = %s
            ORDER BY distance
            LIMIT %s""",
        (logic.vector_literal(embedding), len(embedding), k)).fetchall()
    return [{"id": r[0], "body": r[1], "s3_key": r[2], "distance": float(r[3])} for r in rows]


def add_job(conn: psycopg.Connection[Any], job_id: str, seconds: float) -> None:
    """Record a job when it is enqueued; the worker fills in the rest."""
    conn.execute("INSERT INTO jobs (id, seconds) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING",
                 (job_id, seconds))


def start_job(conn: psycopg.Connection[Any], job_id: str, seconds: float, worker: str) -> None:
    """Mark a job started by worker (again, if a stopped worker's job was handed on)."""
    conn.execute(
        """INSERT INTO jobs (id, seconds, started_at, worker) VALUES (%s, %s, now(), %s)
           ON CONFLICT (id) DO UPDATE
              SET started_at = now(), worker = EXCLUDED.worker, finished_at = NULL""",
        (job_id, seconds, worker))


def finish_job(conn: psycopg.Connection[Any], job_id: str) -> None:
    """Mark a job finished."""
    conn.execute("UPDATE jobs SET finished_at = now() WHERE id = %s", (job_id,))


def get_job(conn: psycopg.Connection[Any], job_id: str) -> Optional[dict[str, Any]]:
    """One job's row, timestamps as ISO 8601, or None."""
    row = conn.execute("SELECT id, seconds, started_at, finished_at, worker FROM jobs WHERE id = %s",
                       (job_id,)).fetchone()
    if row is None:
        return None
    return {"id": row[0], "seconds": row[1],
            "started_at": row[2].isoformat() if row[2] else None,
            "finished_at": row[3].isoformat() if row[3] else None,
            "worker": row[4]}


def add_tick(conn: psycopg.Connection[Any], beat_id: str, sent_at: Optional[float] = None) -> None:
    """One beat tick at the time the beat sent it (epoch seconds), or now when unknown."""
    conn.execute("INSERT INTO beat_ticks (at, beat_id) VALUES (coalesce(to_timestamp(%s::float8), now()), %s)",
                 (sent_at, beat_id))


def beat_ranges(conn: psycopg.Connection[Any]) -> list[logic.BeatRange]:
    """Each beat id's first and last tick and count."""
    rows = conn.execute(
        "SELECT beat_id, min(at), max(at), count(*) FROM beat_ticks GROUP BY beat_id").fetchall()
    return [logic.BeatRange(beat_id=r[0], first=r[1], last=r[2], count=int(r[3])) for r in rows]
