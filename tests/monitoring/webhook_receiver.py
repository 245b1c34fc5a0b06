#!/usr/bin/env python3
"""A Slack-style webhook receiver for Alertmanager, for tests: it appends every notification.

Alertmanager's webhook integration POSTs a JSON document per notification ({status, alerts:
[{status, labels, annotations, startsAt, endsAt}], ...}). This server stands in for the team's
chat or paging webhook: it listens on loopback only and writes each body, with the time it
arrived, as one JSON line, so a test can measure the seconds from a fault to the page and see
the resolved notification. Standard library only: it runs on the monitoring host itself.
"""
from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def record(body: bytes, received_at: float) -> str:
    """One JSON line for a notification: the arrival time and the parsed body (or the raw text)."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = {"unparsed": body.decode(errors="replace")}
    return json.dumps({"received_at": received_at, "notification": payload}, sort_keys=True)


def make_handler(out: Path) -> type[BaseHTTPRequestHandler]:
    """A request handler class that appends every POST body to `out`."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            line = record(self.rfile.read(length), time.time())
            with out.open("a", encoding="utf-8") as sink:
                sink.write(line + "\n")
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    return Handler


def main(argv: list[str]) -> int:
    """webhook_receiver.py ADDRESS PORT OUTFILE: serve until stopped."""
    if len(argv) != 4:
        print(main.__doc__, file=sys.stderr)
        return 2
    address, port, out = argv[1], int(argv[2]), Path(argv[3])
    if address not in ("127.0.0.1", "::1"):
        print("the test receiver listens on loopback only", file=sys.stderr)
        return 2
    ThreadingHTTPServer((address, port), make_handler(out)).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
