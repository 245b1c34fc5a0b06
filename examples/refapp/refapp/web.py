"""The HTTP API (FastAPI, served by uvicorn): health, documents with embeddings, jobs, beat.

`/` and `/slow` touch no dependency, so load clients can watch a deploy without measuring the
data services; `/up` checks every dependency and is the container's health check. Blocking
handlers are plain functions, which FastAPI runs in its thread pool.
"""
from __future__ import annotations

import asyncio
import functools
import os
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from refapp import db, llm, logic, storage

app = FastAPI(title="refapp", docs_url=None, redoc_url=None)


@functools.lru_cache(maxsize=1)
def settings() -> logic.Settings:
    """The process's settings, parsed on first use."""
    return logic.Settings.from_env(os.environ)


class DependencyError(Exception):
    """A data service or the LLM endpoint failed while serving a request."""


@app.exception_handler(logic.BoundsError)
async def _bounds(request: Request, error: logic.BoundsError) -> JSONResponse:
    return JSONResponse({"error": str(error)}, status_code=422)


@app.exception_handler(logic.ConfigError)
async def _config(request: Request, error: logic.ConfigError) -> JSONResponse:
    return JSONResponse({"error": str(error)}, status_code=503)


@app.exception_handler(DependencyError)
async def _dependency(request: Request, error: DependencyError) -> JSONResponse:
    return JSONResponse({"error": str(error)}, status_code=502)


def _guard(what: str, call: Callable[[], Any]) -> Any:
    """Run call, turning a dependency's failure into DependencyError naming what failed."""
    try:
        return call()
    except (logic.ConfigError, logic.BoundsError):
        raise
    except Exception as error:  # each client library has its own exception tree
        raise DependencyError(f"{what}: {type(error).__name__}: {error}") from None


def _check(call: Callable[[logic.Settings], None]) -> Optional[str]:
    """None when the dependency answered, otherwise why not."""
    try:
        call(settings())
        return None
    except Exception as error:
        return f"{type(error).__name__}: {error}".strip()


def _redis_ping(current: logic.Settings) -> None:
    import redis

    client = redis.Redis.from_url(current.need("redis_url"), socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


CHECKS: dict[str, Callable[[logic.Settings], None]] = {
    "postgres": db.ping, "redis": _redis_ping, "s3": storage.ping}


@app.get("/")
async def root() -> dict[str, Any]:
    """Version and host; no dependency is asked."""
    return logic.root_payload(settings().version, socket.gethostname())


@app.get("/up")
def up() -> JSONResponse:
    """200 when Postgres, Redis and S3 answer, 503 naming those that did not (always 503 in v3)."""
    current = settings()
    if current.broken:
        status, body = logic.up_payload(current.version, {})
        return JSONResponse(body, status_code=status)
    with ThreadPoolExecutor(max_workers=len(CHECKS)) as pool:
        futures = {name: pool.submit(_check, call) for name, call in CHECKS.items()}
        failures = {name: future.result() for name, future in futures.items()}
    status, body = logic.up_payload(current.version, failures)
    return JSONResponse(body, status_code=status)


@app.get("/slow")
async def slow(ms: str = "1000") -> dict[str, Any]:
    """Answer after ms milliseconds (at most 10000): an in-flight request during a drain."""
    delay = logic.parse_ms(ms)
    await asyncio.sleep(delay / 1000)
    return {"slept_ms": delay, **logic.root_payload(settings().version, socket.gethostname())}


class DocumentIn(BaseModel):
    """POST /documents' body."""

    text: str


@app.post("/documents")
def add_document(document: DocumentIn) -> dict[str, Any]:
    """Embed the text, keep the original in S3 and the row (with its vector) in Postgres."""
    current = settings()
    text = logic.validate_text(document.text)
    embedding = _guard("embeddings", lambda: llm.embed(current, text))
    with _guard("postgres", lambda: db.connect(current)) as conn:
        document_id = _guard("postgres", lambda: db.next_document_id(conn))
        key = logic.document_key(document_id)
        _guard("s3", lambda: storage.put_text(current, key, text))
        _guard("postgres", lambda: db.add_document(conn, document_id, text, key, embedding))
    return {"id": document_id, "s3_key": key, "dimensions": len(embedding)}


@app.get("/search")
def search(q: str = "", k: str = "3") -> dict[str, Any]:
    """The k stored documents nearest to q, among those embedded with the same dimensions."""
    current = settings()
    query = logic.validate_text(q, "q")
    count = logic.parse_k(k)
    embedding = _guard("embeddings", lambda: llm.embed(current, query))
    with _guard("postgres", lambda: db.connect(current)) as conn:
        results = _guard("postgres", lambda: db.search(conn, embedding, count))
    return {"query": query, "dimensions": len(embedding), "results": results}


@app.post("/jobs")
def add_job(seconds: str = "1") -> dict[str, Any]:
    """Record a job and queue it for a worker; its row says who ran it and when."""
    current = settings()
    duration = logic.parse_seconds(seconds)
    current.need("redis_url")
    job_id = uuid.uuid4().hex
    with _guard("postgres", lambda: db.connect(current)) as conn:
        _guard("postgres", lambda: db.add_job(conn, job_id, duration))
    from refapp import tasks

    _guard("redis", lambda: tasks.enqueue_work(job_id, duration))
    return {"id": job_id, "seconds": duration}


@app.get("/jobs/{job_id}")
def get_job(job_id: str) -> JSONResponse:
    """One job's row: seconds, started_at, finished_at, worker."""
    current = settings()
    with _guard("postgres", lambda: db.connect(current)) as conn:
        row = _guard("postgres", lambda: db.get_job(conn, job_id))
    if row is None:
        return JSONResponse({"error": f"no job {job_id}"}, status_code=404)
    return JSONResponse(row)


@app.get("/beat")
def beat() -> dict[str, Any]:
    """Beat ticks: count, distinct beat ids, their ranges and whether two ever overlapped."""
    current = settings()
    with _guard("postgres", lambda: db.connect(current)) as conn:
        ranges = _guard("postgres", lambda: db.beat_ranges(conn))
    return logic.beat_summary(ranges)
