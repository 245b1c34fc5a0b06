"""`python3 -m refapp <command>`: the image's entrypoint, one command per container kind.

  web              uvicorn serving refapp.web:app on 0.0.0.0:$PORT (SIGTERM drains requests)
  worker           Celery worker, 2 processes, node celery@<hostname>
  beat             Celery beat, tick every $BEAT_INTERVAL seconds, schedule file under /tmp
  migrate          create the schema, idempotently (a one-off job before a deploy)
  ready web|worker exit 0 when this container's process answers (a health command)
"""
from __future__ import annotations

import json
import os
import socket
import sys
import urllib.error
import urllib.request
from typing import Optional, Sequence

from refapp import logic

USAGE = __doc__ or ""


def _fail(message: str, code: int = 1) -> int:
    print(f"refapp: {message}", file=sys.stderr)
    return code


def web(settings: logic.Settings) -> int:
    """Replace this process with uvicorn, so signals from tini reach it directly."""
    argv = logic.web_argv(sys.executable, settings.port)
    os.execv(argv[0], argv)
    return 0  # not reached


def worker(settings: logic.Settings) -> int:
    """Run the Celery worker in this process."""
    settings.need("redis_url")
    settings.need("database_url")
    from refapp.tasks import app

    app.worker_main(logic.worker_argv(socket.gethostname()))
    return 0


def beat(settings: logic.Settings) -> int:
    """Run Celery beat; its ticks carry this container's hostname, computed here."""
    settings.need("redis_url")
    from refapp.tasks import app, stamp_ticks

    stamp_ticks()
    app.conf.beat_schedule = logic.beat_schedule(socket.gethostname(), settings.beat_interval)
    app.start(logic.beat_argv())
    return 0


def migrate(settings: logic.Settings) -> int:
    """Create the schema; a clear message and exit 1 when the database cannot be reached."""
    url = settings.need("database_url")
    import psycopg

    from refapp import db

    try:
        tables = db.migrate(settings)
    except psycopg.OperationalError as error:
        reason = " ".join(str(error).split())
        return _fail(f"migrate: cannot connect to the database at {logic.redact_url(url)}: {reason}")
    except psycopg.Error as error:
        reason = " ".join(str(error).split())
        if 'type "vector" does not exist' in reason:
            reason += " (the pgvector extension is missing from this database; the platform creates it)"
        return _fail(f"migrate: the database at {logic.redact_url(url)} refused the schema: {reason}")
    print(f"refapp: migrate: schema ready ({', '.join(tables)}) at {logic.redact_url(url)}", file=sys.stderr)
    return 0


def ready(settings: logic.Settings, kind: str) -> int:
    """Exit 0 when this container's web answers /up with 200 or its worker answers a ping."""
    if kind == "web":
        url = logic.ready_url(settings.port)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                print(response.read(500).decode(errors="replace"))
                return 0
        except urllib.error.HTTPError as error:
            return _fail(f"ready: {url} answered {error.code}: {error.read(500).decode(errors='replace')}")
        except OSError as error:
            return _fail(f"ready: {url}: {error}")
    if kind == "worker":
        settings.need("redis_url")
        from refapp.tasks import app

        node = logic.worker_node_name(socket.gethostname())
        replies = app.control.ping(destination=[node], timeout=3.0)
        if any(node in reply for reply in replies or []):
            print(json.dumps(replies))
            return 0
        return _fail(f"ready: worker {node} did not answer a ping")
    return _fail(f"ready: unknown process kind {kind!r} (web or worker)", 2)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Dispatch one command; configuration errors exit 2 naming the variable."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "web"
    try:
        settings = logic.Settings.from_env(os.environ)
        if command == "web" and len(args) <= 1:
            return web(settings)
        if command == "worker" and len(args) <= 1:
            return worker(settings)
        if command == "beat" and len(args) <= 1:
            return beat(settings)
        if command == "migrate" and len(args) <= 1:
            return migrate(settings)
        if command == "ready" and len(args) == 2:
            return ready(settings, args[1])
    except logic.ConfigError as error:
        return _fail(f"{command}: {error}", 2)
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
