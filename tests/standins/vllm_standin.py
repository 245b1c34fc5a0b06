#!/usr/bin/env python3
"""Stand-in for `vllm serve`: the vLLM engine needs CUDA and gigabytes of wheels, so tests that
exercise the wiring around it (systemd unit, health gate, Caddy's LLM route) run this instead.

It follows vLLM's OpenAI server where the wiring depends on it:
- `vllm serve MODEL --host H --port P --served-model-name NAME ...` (other flags ignored);
- with VLLM_API_KEY (or --api-key) set, every request whose path starts with /v1, except
  OPTIONS, must carry exactly `Authorization: Bearer <key>`, else 401 {"error": "Unauthorized"}
  (vllm/entrypoints/openai/api_server.py, the authentication middleware);
- /health and /metrics answer without a key;
- /v1/models lists the served model name; /v1/chat/completions answers with usage counts.
Every answer says it comes from the stand-in (header X-Hearth-Standin: vllm).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def parse(argv: list[str]) -> argparse.Namespace:
    """Read the subset of `vllm serve` arguments the stand-in needs."""
    parser = argparse.ArgumentParser(prog="vllm")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("model")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--served-model-name", default=None)
    parser.add_argument("--api-key", default=None)
    args, _ = parser.parse_known_args(argv)
    return args


def authorized(path: str, method: str, header: str | None, key: str | None) -> bool:
    """vLLM's rule: only /v1 paths are guarded, OPTIONS passes, the header must match exactly."""
    if not key or method == "OPTIONS" or not path.startswith("/v1"):
        return True
    return header == f"Bearer {key}"


def make_handler(model: str, key: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "vllm-standin"

        def _send(self, status: int, payload: object, content_type: str = "application/json") -> None:
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Hearth-Standin", "vllm")
            self.end_headers()
            self.wfile.write(body)

        def _route(self, method: str) -> None:
            path = self.path.split("?", 1)[0]
            if not authorized(path, method, self.headers.get("Authorization"), key):
                self._send(401, {"error": "Unauthorized"})
                return
            if path == "/health":
                self._send(200, b"", "text/plain")
            elif path == "/metrics":
                self._send(200, b"vllm:num_requests_running 0\n", "text/plain")
            elif path == "/v1/models" and method == "GET":
                self._send(200, {"object": "list", "data": [{"id": model, "object": "model", "owned_by": "vllm"}]})
            elif path == "/v1/chat/completions" and method == "POST":
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                self._send(200, {
                    "id": "chatcmpl-standin", "object": "chat.completion", "created": int(time.time()),
                    "model": request.get("model", model),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "stand-in"},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                })
            else:
                self._send(404, {"detail": "Not Found"})

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._route("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._route("POST")

        def log_message(self, fmt: str, *args: object) -> None:
            sys.stderr.write("vllm-standin: " + (fmt % args) + "\n")

    return Handler


def main(argv: list[str]) -> int:
    args = parse(argv)
    key = args.api_key or os.environ.get("VLLM_API_KEY") or None
    model = args.served_model_name or args.model
    server = ThreadingHTTPServer((args.host, args.port), make_handler(model, key))
    sys.stderr.write(f"vllm-standin: serving {model} on {args.host}:{args.port}, key {'on' if key else 'off'}\n")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
