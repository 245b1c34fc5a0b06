#!/usr/bin/env python3
"""Client checks of the reference application through the front door, run on a test host.

    apps_check.py smoke URL CA            documents, search, a worker job and beat, end to end
    apps_check.py load URL CA OUT STOP    requests on one kept connection until STOP exists
                                          (bounded: at most 40 000 requests and 300 s), then JSON
    apps_check.py job URL CA SECONDS      enqueue a job and print its id
    apps_check.py jobs URL CA ID...       exit 1 unless every job finished
    apps_check.py version URL CA          print the version that answers

Stdlib only: the test hosts have Python but not the app's libraries. URL is the app's public
base (https://app.<domain>); the host resolves it to its own Caddy.
"""
from __future__ import annotations

import http.client
import json
import os
import ssl
import statistics
import sys
import time
import urllib.parse
from typing import Any

MAX_REQUESTS = 40_000
MAX_SECONDS = 300.0


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a fixed address (HEARTH_CONNECT=host:port) with the URL's name for SNI and Host."""

    def __init__(self, name: str, address: tuple[str, int], **kwargs: Any) -> None:
        super().__init__(name, 443, **kwargs)
        self.address = address

    def connect(self) -> None:
        import socket
        sock = socket.create_connection(self.address, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class Client:
    """One HTTPS connection to the app, reopened only when the server closes it."""

    def __init__(self, base: str, ca: str) -> None:
        parts = urllib.parse.urlsplit(base)
        self.host, self.port = parts.hostname or "", parts.port or 443
        self.context = ssl.create_default_context(cafile=ca)
        self.conn: http.client.HTTPSConnection | None = None
        self.retried = 0
        pinned = os.environ.get("HEARTH_CONNECT", "")
        self.address = (pinned.rsplit(":", 1)[0], int(pinned.rsplit(":", 1)[1])) if pinned else None

    def request(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> tuple[int, Any]:
        """One request; a GET on a kept connection that the server closed unanswered is sent again.

        A server may close an idle kept-alive connection at any moment (Caddy does on every
        configuration reload), and RFC 9112 section 9.3.1 lets a client retry an idempotent request
        that got no answer on such a connection; browsers, curl and Go do. Only that case is retried,
        once, and counted in ``retried``: a fresh connection that fails is a failure.
        """
        reused = self.conn is not None
        try:
            return self._request(method, path, body, timeout)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            if not (reused and method == "GET"):
                raise
            self.retried += 1
            return self._request(method, path, body, timeout)

    def _request(self, method: str, path: str, body: Any, timeout: float) -> tuple[int, Any]:
        if self.conn is None and self.address:
            self.conn = PinnedHTTPSConnection(self.host, self.address, context=self.context, timeout=timeout)
        elif self.conn is None:
            self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=timeout)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data else {}
        try:
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        if resp.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        try:
            return resp.status, json.loads(raw or b"null")
        except ValueError:
            return resp.status, raw.decode(errors="replace")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def load(base: str, ca: str, out: str, stop: str) -> int:
    """Send requests until the stop file appears; record failures, versions and latency."""
    client = Client(base, ca)
    started = time.monotonic()
    latencies: list[float] = []
    versions: dict[str, int] = {}
    served_by: dict[str, int] = {}
    failures: list[str] = []
    while len(latencies) + len(failures) < MAX_REQUESTS and time.monotonic() - started < MAX_SECONDS:
        if os.path.exists(stop):
            break
        begin = time.monotonic()
        try:
            status, body = client.request("GET", "/")
        except (OSError, http.client.HTTPException) as err:
            failures.append(f"{time.monotonic() - started:.3f}s {type(err).__name__}: {err}")
            continue
        if status != 200 or not isinstance(body, dict):
            failures.append(f"{time.monotonic() - started:.3f}s HTTP {status} {str(body)[:200]}")
            continue
        latencies.append((time.monotonic() - begin) * 1000)
        version = str(body.get("version"))
        versions[version] = versions.get(version, 0) + 1
        host = str(body.get("host"))
        served_by[host] = served_by.get(host, 0) + 1
        time.sleep(0.01)
    result = {
        "requests": len(latencies) + len(failures), "failed": len(failures), "failures": failures[:20],
        "retried_on_closed_keepalive": client.retried,
        "versions": versions, "served_by": served_by, "seconds": round(time.monotonic() - started, 2),
        "p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99), 2) if latencies else None,
        "max_ms": round(max(latencies), 2) if latencies else None,
    }
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    return 0


def wait_job(client: Client, job: str, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    row: Any = {}
    while time.monotonic() < deadline:
        status, row = client.request("GET", f"/jobs/{job}")
        if status == 200 and isinstance(row, dict) and row.get("finished_at"):
            return row
        time.sleep(0.5)
    raise SystemExit(f"job {job} did not finish within {seconds}s: {row}")


def smoke(base: str, ca: str) -> int:
    """Every dependency end to end: Postgres+pgvector, S3, the LLM route, the worker and beat."""
    client = Client(base, ca)
    status, up = client.request("GET", "/up")
    assert status == 200, f"/up answered {status}: {up}"
    ids = []
    for text in ("the cat sat on the mat", "GPU machines rented by the hour", "a recipe for bread"):
        status, doc = client.request("POST", "/documents", {"text": text}, timeout=120)
        assert status == 200, f"POST /documents answered {status}: {doc}"
        ids.append(doc["id"])
    status, found = client.request("GET", "/search?q=" + urllib.parse.quote("the cat sat on the mat") + "&k=2",
                                   timeout=120)
    assert status == 200, f"/search answered {status}: {found}"
    results = found["results"] if isinstance(found, dict) else found
    assert results and results[0]["body"] == "the cat sat on the mat" and results[0]["distance"] < 1e-6, \
        f"the nearest neighbour of a stored text is not that text: {found}"
    status, job = client.request("POST", "/jobs?seconds=0.2")
    assert status == 200, f"POST /jobs answered {status}: {job}"
    row = wait_job(client, job["id"], 60)
    deadline = time.monotonic() + 30
    beat: Any = {}
    while time.monotonic() < deadline:
        status, beat = client.request("GET", "/beat")
        if status == 200 and beat.get("count", 0) >= 2:
            break
        time.sleep(1)
    assert beat.get("count", 0) >= 2, f"beat did not tick twice within 30 s: {beat}"
    assert not beat.get("overlap"), f"two beats ran at once: {beat}"
    print(json.dumps({"documents": ids, "nearest": results[0]["id"], "job_worker": row.get("worker"),
                      "beat": {k: beat.get(k) for k in ("count", "beat_ids", "overlap")}}))
    return 0


def main(argv: list[str]) -> int:
    command, base, ca, *rest = argv
    if command == "smoke":
        return smoke(base, ca)
    if command == "load":
        return load(base, ca, rest[0], rest[1])
    client = Client(base, ca)
    if command == "job":
        status, job = client.request("POST", f"/jobs?seconds={rest[0]}")
        assert status == 200, f"POST /jobs answered {status}: {job}"
        print(job["id"])
        return 0
    if command == "jobs":
        rows = [wait_job(client, job, 120) for job in rest]
        print(json.dumps(rows, default=str))
        return 0
    if command == "version":
        status, body = client.request("GET", "/")
        assert status == 200, f"/ answered {status}: {body}"
        print(body["version"])
        return 0
    if command == "beat":
        status, body = client.request("GET", "/beat")
        print(json.dumps(body))
        return 0 if status == 200 and not body.get("overlap") else 1
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
