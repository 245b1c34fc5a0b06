"""The reference application's pure logic: settings, URLs, bounds, payloads and summaries.

Nothing here imports a third-party library or opens a connection, so the unit tests exercise
every rule without FastAPI, Celery, psycopg or a running service. The modules that talk to
services (db, llm, storage, web, tasks) call these functions for every decision they make.
"""
from __future__ import annotations

import dataclasses
import json
import math
import urllib.parse
from datetime import datetime
from typing import Any, Iterable, Mapping, Optional, Sequence

DEFAULT_PORT = 8000
DEFAULT_BEAT_INTERVAL = 2.0
MAX_BEAT_INTERVAL = 3600.0
MAX_SLOW_MS = 10_000
# Jobs stay well under the broker's visibility timeout (tasks.py), so a running job is never
# handed to a second worker while the first still works on it.
MAX_JOB_SECONDS = 600.0
MAX_K = 50
MAX_TEXT_CHARS = 100_000
# The release that is broken on purpose: its health check always fails, so a deploy of it
# must be rolled back automatically.
BROKEN_VERSION = "3"
BEAT_SCHEDULE_FILE = "/tmp/refapp-beat-schedule"
# The message header in which the beat stamps each tick's send time (epoch seconds).
SENT_AT_HEADER = "refapp_sent_at"
TICK_EXPIRES = 300.0
# The dependencies /up checks, in the order they are reported.
DEPENDENCIES = ("postgres", "redis", "s3")
# Where a private CA bundle may be named; the first one set wins for urllib and boto3 alike.
CA_BUNDLE_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE")

# Settings attribute -> the environment variable the platform injects.
ENVIRONMENT = {
    "database_url": "DATABASE_URL",
    "redis_url": "REDIS_URL",
    "s3_endpoint_url": "S3_ENDPOINT_URL",
    "s3_bucket": "S3_BUCKET",
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws_region": "AWS_DEFAULT_REGION",
    "openai_base_url": "OPENAI_BASE_URL",
    "openai_api_key": "OPENAI_API_KEY",
    "llm_model": "LLM_MODEL",
    "llm_embed_model": "LLM_EMBED_MODEL",
}


class ConfigError(Exception):
    """A variable the current operation needs is missing or malformed; the message names it."""


class BoundsError(ValueError):
    """A request parameter is outside what the application accepts; the message says the range."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the application reads from its environment, parsed once.

    Service locations are optional here: a process starts without them (``/`` and ``/slow``
    need none) and each operation asks for what it uses with ``need``, which fails naming the
    variable. Secrets are kept out of ``repr``.
    """

    version: str = "dev"
    port: int = DEFAULT_PORT
    beat_interval: float = DEFAULT_BEAT_INTERVAL
    ca_bundle: Optional[str] = None
    database_url: Optional[str] = dataclasses.field(default=None, repr=False)
    redis_url: Optional[str] = dataclasses.field(default=None, repr=False)
    s3_endpoint_url: Optional[str] = None
    s3_bucket: Optional[str] = None
    aws_access_key_id: Optional[str] = dataclasses.field(default=None, repr=False)
    aws_secret_access_key: Optional[str] = dataclasses.field(default=None, repr=False)
    aws_region: Optional[str] = None
    openai_base_url: Optional[str] = None
    openai_api_key: Optional[str] = dataclasses.field(default=None, repr=False)
    llm_model: Optional[str] = None
    llm_embed_model: Optional[str] = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Settings":
        """Parse the process environment; empty values count as unset."""
        values: dict[str, Any] = {}
        for attribute, variable in ENVIRONMENT.items():
            value = env.get(variable, "").strip()
            if value:
                values[attribute] = value
        if "llm_embed_model" not in values and "llm_model" in values:
            values["llm_embed_model"] = values["llm_model"]
        return cls(
            version=env.get("APP_VERSION", "").strip() or "dev",
            port=parse_port(env.get("PORT", "")),
            beat_interval=parse_beat_interval(env.get("BEAT_INTERVAL", "")),
            ca_bundle=ca_bundle(env),
            **values,
        )

    def need(self, attribute: str) -> str:
        """The value of one service setting, or ConfigError naming its variable."""
        value = getattr(self, attribute)
        if not value:
            variable = ENVIRONMENT.get(attribute, attribute.upper())
            if attribute == "llm_embed_model":
                variable = "LLM_EMBED_MODEL (or LLM_MODEL)"
            raise ConfigError(f"{variable} is not set")
        return str(value)

    @property
    def broken(self) -> bool:
        """Whether this is the release whose health check fails on purpose."""
        return self.version == BROKEN_VERSION


def parse_port(raw: str) -> int:
    """PORT, default 8000; ConfigError unless it is a TCP port number."""
    if not raw.strip():
        return DEFAULT_PORT
    try:
        port = int(raw.strip())
    except ValueError:
        raise ConfigError(f"PORT must be a number, not {raw!r}") from None
    if not 1 <= port <= 65535:
        raise ConfigError(f"PORT must be between 1 and 65535, not {port}")
    return port


def parse_beat_interval(raw: str) -> float:
    """BEAT_INTERVAL in seconds, default 2; ConfigError unless 0 < value <= 3600."""
    if not raw.strip():
        return DEFAULT_BEAT_INTERVAL
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"BEAT_INTERVAL must be a number of seconds, not {raw!r}") from None
    if not (math.isfinite(value) and 0 < value <= MAX_BEAT_INTERVAL):
        raise ConfigError(f"BEAT_INTERVAL must be more than 0 and at most {MAX_BEAT_INTERVAL:g} seconds")
    return value


def ca_bundle(env: Mapping[str, str]) -> Optional[str]:
    """The private CA bundle path named by SSL_CERT_FILE, REQUESTS_CA_BUNDLE or AWS_CA_BUNDLE."""
    for variable in CA_BUNDLE_VARIABLES:
        value = env.get(variable, "").strip()
        if value:
            return value
    return None


def _bounded(name: str, raw: Any, low: float, high: float, integer: bool) -> float:
    """Parse one request parameter and check low <= value <= high, saying the range on failure."""
    if isinstance(raw, bool):
        raise BoundsError(f"{name} must be a number")
    try:
        value = int(str(raw).strip()) if integer else float(str(raw).strip())
    except (TypeError, ValueError):
        kind = "a whole number" if integer else "a number"
        raise BoundsError(f"{name} must be {kind}, not {raw!r}") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise BoundsError(f"{name} must be between {low:g} and {high:g}, not {value:g}")
    return value


def parse_ms(raw: Any) -> int:
    """/slow's ms: whole milliseconds from 0 to 10000."""
    return int(_bounded("ms", raw, 0, MAX_SLOW_MS, integer=True))


def parse_seconds(raw: Any) -> float:
    """/jobs' seconds: how long the job works, from 0 to 600."""
    return _bounded("seconds", raw, 0, MAX_JOB_SECONDS, integer=False)


def parse_k(raw: Any) -> int:
    """/search's k: how many documents to return, from 1 to 50."""
    return int(_bounded("k", raw, 1, MAX_K, integer=True))


def validate_text(text: Any, name: str = "text") -> str:
    """A document body or a query: a non-blank string of at most 100000 characters."""
    if not isinstance(text, str) or not text.strip():
        raise BoundsError(f"{name} must be a non-empty string")
    if len(text) > MAX_TEXT_CHARS:
        raise BoundsError(f"{name} must be at most {MAX_TEXT_CHARS} characters, not {len(text)}")
    return text


def features(version: str) -> list[str]:
    """What a release adds over version 1: from version 2 on, the second search."""
    try:
        number = int(version)
    except ValueError:
        return []
    return ["search-v2"] if number >= 2 else []


def root_payload(version: str, host: str) -> dict[str, Any]:
    """The answer of GET /: version and host, plus the features of releases after 1."""
    payload: dict[str, Any] = {"version": version, "host": host}
    extra = features(version)
    if extra:
        payload["features"] = extra
    return payload


def up_payload(version: str, failures: Mapping[str, Optional[str]]) -> tuple[int, dict[str, Any]]:
    """The status code and body of GET /up from each dependency's error (None when it answered).

    The broken release answers 503 whatever the dependencies say.
    """
    if version == BROKEN_VERSION:
        return 503, {"status": "broken", "version": version}
    failed = {name: error for name, error in failures.items() if error}
    if failed:
        return 503, {"status": "fail", "version": version, "failed": failed}
    return 200, {"status": "ok", "version": version}


def embeddings_url(base_url: str) -> str:
    """The OpenAI-style embeddings endpoint under OPENAI_BASE_URL (which ends in /v1)."""
    parsed = urllib.parse.urlsplit(base_url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"OPENAI_BASE_URL must be an http(s) URL, not {base_url!r}")
    return base_url.strip().rstrip("/") + "/embeddings"


def embeddings_body(model: str, text: str) -> bytes:
    """The JSON request body for one text."""
    return json.dumps({"model": model, "input": text}).encode()


def parse_embedding(payload: Any) -> list[float]:
    """The vector from an embeddings response, or ValueError saying what came back instead."""
    if isinstance(payload, Mapping) and payload.get("error"):
        error = payload["error"]
        message = error.get("message", error) if isinstance(error, Mapping) else error
        raise ValueError(f"the embeddings endpoint answered an error: {message}")
    try:
        vector = payload["data"][0]["embedding"]
    except (KeyError, IndexError, TypeError):
        raise ValueError("the embeddings response has no data[0].embedding") from None
    if not isinstance(vector, list) or not vector:
        raise ValueError("the embeddings response holds an empty embedding")
    values = []
    for value in vector:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"the embedding holds a value that is not a finite number: {value!r}")
        values.append(float(value))
    return values


def vector_literal(values: Sequence[float]) -> str:
    """pgvector's text form, '[1.0,2.5]', cast with ::vector (no pgvector Python package needed)."""
    if not values:
        raise ValueError("a vector needs at least one dimension")
    return "[" + ",".join(repr(float(v)) for v in values) + "]"


def document_key(document_id: int) -> str:
    """Where a document's original text lives in the bucket."""
    return f"documents/{int(document_id)}.txt"


def redact_url(url: str) -> str:
    """A connection URL without its password, for messages: scheme://user@host:port/path."""
    try:
        parsed = urllib.parse.urlsplit(url)
        host = parsed.hostname or ""
        port = parsed.port
    except ValueError:
        return "<unparsable URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = (f"{parsed.username}@" if parsed.username else "") + host + (f":{port}" if port else "")
    return urllib.parse.urlunsplit((parsed.scheme, netloc, parsed.path, "", ""))


def worker_node_name(hostname: str) -> str:
    """The Celery node name of the worker in a container: celery@<container hostname>."""
    return f"celery@{hostname}"


def beat_schedule(beat_id: str, interval: float) -> dict[str, dict[str, Any]]:
    """Celery's beat_schedule: tick(beat_id) every interval seconds.

    Each tick carries the time the beat sent it (SENT_AT_HEADER), so the table shows when each
    beat was sending even when workers were away and drained a backlog later. A tick nobody
    ran within TICK_EXPIRES seconds is dropped rather than piling up.
    """
    return {
        "tick": {
            "task": "refapp.tasks.tick",
            "schedule": float(interval),
            "args": (beat_id,),
            "options": {"expires": TICK_EXPIRES},
        }
    }


def sent_at(value: Any, now: float) -> Optional[float]:
    """The send time a tick's header carries, if it is a plausible epoch time (not after now)."""
    if isinstance(value, bool):
        return None
    try:
        stamp = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(stamp) or stamp <= 0 or stamp > now + 60:
        return None
    return stamp


def web_argv(python: str, port: int) -> list[str]:
    """The command `refapp web` becomes: uvicorn on every address, SIGTERM drains in-flight requests."""
    return [python, "-m", "uvicorn", "refapp.web:app", "--host", "0.0.0.0", "--port", str(port)]


def worker_argv(hostname: str) -> list[str]:
    """Celery's arguments for the worker: two processes, named after the container."""
    return ["worker", "--loglevel=INFO", "--concurrency=2", "--hostname", worker_node_name(hostname),
            "--without-mingle"]


def beat_argv(schedule_file: str = BEAT_SCHEDULE_FILE) -> list[str]:
    """Celery's arguments for beat, its schedule file under /tmp (the image is read-only for the app)."""
    return ["beat", "--loglevel=INFO", "--schedule", schedule_file]


def ready_url(port: int) -> str:
    """What `refapp ready web` asks: the health check of the web process in the same container."""
    return f"http://127.0.0.1:{port}/up"


@dataclasses.dataclass(frozen=True)
class BeatRange:
    """The first and last tick a beat id recorded, and how many."""

    beat_id: str
    first: datetime
    last: datetime
    count: int


def overlapping_beats(ranges: Iterable[BeatRange]) -> list[tuple[str, str]]:
    """Pairs of beat ids whose tick time ranges overlap: two beats were sending at once.

    Ranges that only touch (one ends at the instant the other starts) do not overlap.
    """
    ordered = sorted(ranges, key=lambda r: (r.first, r.beat_id))
    pairs = []
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if b.first >= a.last:
                break
            if a.first < b.last and a.beat_id != b.beat_id:
                pairs.append((a.beat_id, b.beat_id))
    return pairs


def beat_summary(ranges: Sequence[BeatRange]) -> dict[str, Any]:
    """The answer of GET /beat: tick count, distinct beat ids, their ranges and any overlap."""
    ordered = sorted(ranges, key=lambda r: (r.first, r.beat_id))
    pairs = overlapping_beats(ordered)
    return {
        "count": sum(r.count for r in ordered),
        "beat_ids": [r.beat_id for r in ordered],
        "distinct": len({r.beat_id for r in ordered}),
        "overlap": bool(pairs),
        "overlaps": [list(p) for p in pairs],
        "ranges": [{"beat_id": r.beat_id, "first": r.first.isoformat(), "last": r.last.isoformat(),
                    "count": r.count} for r in ordered],
    }
