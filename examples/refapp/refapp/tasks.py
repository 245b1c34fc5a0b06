"""The Celery application: background jobs and the beat's ticks, over Redis.

Redis (REDIS_URL) is both broker and result backend. Tasks are acknowledged after they ran
(acks_late) and a worker takes one message per process at a time, so a worker stopped with
SIGTERM finishes what it runs and leaves the rest queued for the next one; a worker that dies
outright has its tasks handed on once the broker's visibility timeout passes.
"""
from __future__ import annotations

import os
import socket
import time
from typing import Any, Optional

from celery import Celery
from celery.signals import before_task_publish

from refapp import db, logic

settings = logic.Settings.from_env(os.environ)

app = Celery("refapp", broker=settings.redis_url, backend=settings.redis_url)
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=3600,
    timezone="UTC",
    enable_utc=True,
    broker_connection_retry_on_startup=True,
    # Longer than the longest job (logic.MAX_JOB_SECONDS): a message is redelivered only when
    # its worker is gone, never while it still runs.
    broker_transport_options={"visibility_timeout": 2 * logic.MAX_JOB_SECONDS},
    result_backend_transport_options={"visibility_timeout": 2 * logic.MAX_JOB_SECONDS},
    worker_hijack_root_logger=True,
    # Jobs record their outcome in Postgres; nobody waits on Celery's result. Without this the
    # web process subscribes to the result channel on its first send (Redis pub/sub from a
    # request thread), which can stall that request.
    task_ignore_result=True,
)


@app.task(name="refapp.tasks.work")
def work(job_id: str, seconds: float) -> dict[str, Any]:
    """Work for `seconds`, recording start, end and the worker's hostname in the jobs table."""
    worker = socket.gethostname()
    with db.connect(settings) as conn:
        db.start_job(conn, job_id, seconds, worker)
    time.sleep(seconds)
    with db.connect(settings) as conn:
        db.finish_job(conn, job_id)
    return {"id": job_id, "worker": worker}


@app.task(name="refapp.tasks.tick", bind=True)
def tick(self: Any, beat_id: str) -> None:
    """Record that the beat named beat_id (its container's hostname) sent a tick, and when."""
    sent = logic.sent_at(getattr(self.request, logic.SENT_AT_HEADER, None), time.time())
    with db.connect(settings) as conn:
        db.add_tick(conn, beat_id, sent)


def _stamp_sent_at(headers: Optional[dict[str, Any]] = None, **_: Any) -> None:
    """before_task_publish receiver: stamp the send time into a tick's headers."""
    if headers is not None and headers.get("task") == "refapp.tasks.tick":
        headers[logic.SENT_AT_HEADER] = time.time()


def stamp_ticks() -> None:
    """Make this process (the beat) stamp every tick it sends with the time it sent it."""
    before_task_publish.connect(_stamp_sent_at, weak=False)


def enqueue_work(job_id: str, seconds: float) -> str:
    """Send work(job_id, seconds) to the queue; returns the Celery task id."""
    return str(work.apply_async(args=(job_id, seconds), task_id=job_id).id)
