#!/usr/bin/env python3
"""Time to first token and tokens per second of the LLM endpoint, direct versus through Caddy.

Streams chat completions (OpenAI-compatible, server-sent events) from the engine's own port and
from Caddy's bearer-protected /llm/v1 route, alternating so all see the same machine state,
and reports medians and the edge/direct differences. Each path is measured twice: with a
fresh connection per request (TCP, and for Caddy a full TLS handshake, counted in the time to
first token) and over one kept-alive connection, as an application's HTTP client does. The
difference between the two edge numbers is the client's handshake; the difference between
edge and direct on kept connections is what Caddy itself adds. Standard library only, so it
runs on a lab host as is.

Usage (on the controller, against a lab or molecule container that runs Ollama and Caddy):
  bench/llm.py --container ollama-host --edge-host api.lab.hearth.test --key <app key> \
      --ca /usr/local/share/ca-certificates/hearth-lab-ca.crt
It copies itself into the container, runs there and writes bench/results/llm.json.
Inside a host, without --container, it prints the JSON.
"""
from __future__ import annotations

import argparse
import http.client
import json
import socket
import ssl
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "llm.json"


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a fixed address while presenting (and verifying) the site's host name.

    TCP_NODELAY is set, as application clients do (see NoDelayHTTPConnection).
    """

    def __init__(self, host: str, address: str, port: int, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(host, port, context=context, timeout=timeout)
        self._address = address
        self._context = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


class NoDelayHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP with TCP_NODELAY, as urllib3 (requests) and the OpenAI SDK's clients set it.

    http.client sends a request's headers and body in two writes; with Nagle's algorithm on,
    the body waits for the ACK of the headers, which the server delays by up to 40 ms.
    """

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def stream_once(conn: Any, path: str, headers: dict[str, str], body: dict[str, Any],
                close: bool) -> dict[str, float]:
    """One streamed completion: seconds to the first content token, and tokens per second after it.

    The clock starts before the connection is used, so a fresh connection's handshake counts.
    """
    start = time.perf_counter()
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json", **headers})
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}: {response.read()[:200]!r}")
    first = None
    tokens = 0
    for raw in response:
        line = raw.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        delta = json.loads(line[6:])["choices"][0].get("delta", {})
        if delta.get("content"):
            tokens += 1
            if first is None:
                first = time.perf_counter()
    end = time.perf_counter()
    response.read()
    if close:
        conn.close()
    if first is None or tokens < 2:
        raise RuntimeError(f"{path}: the stream carried {tokens} content tokens")
    return {"ttft_s": first - start, "tokens": tokens, "tokens_per_s": (tokens - 1) / (end - first)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    body = {
        "model": args.model,
        "messages": [{"role": "user", "content": "Write a short story about the platform."}],
        "max_tokens": args.max_tokens,
        "temperature": 0,
        "seed": 1,
        "stream": True,
    }
    host, _, port = args.direct.partition(":")
    context = ssl.create_default_context(cafile=args.ca) if args.ca else ssl.create_default_context()
    ways: dict[str, tuple[Any, str, dict[str, str]]] = {
        "direct": (lambda: NoDelayHTTPConnection(host, int(port or 80), timeout=120),
                   "/v1/chat/completions", {}),
        "edge": (lambda: PinnedHTTPSConnection(args.edge_host, args.edge_address, 443, context, 120),
                 "/llm/v1/chat/completions", {"Authorization": f"Bearer {args.key}"}),
    }
    kept = {name: factory() for name, (factory, _, _) in ways.items()}
    for name, (factory, path, headers) in ways.items():  # warm-up: load the model, open caches
        stream_once(factory(), path, headers, body, close=True)
        stream_once(kept[name], path, headers, body, close=False)
    samples: dict[str, list[dict[str, float]]] = {}
    for _ in range(args.runs):
        for name, (factory, path, headers) in ways.items():
            samples.setdefault(f"{name}_fresh", []).append(
                stream_once(factory(), path, headers, body, close=True))
            samples.setdefault(f"{name}_kept", []).append(
                stream_once(kept[name], path, headers, body, close=False))
    for conn in kept.values():
        conn.close()
    summary: dict[str, Any] = {}
    for name, runs in samples.items():
        summary[name] = {
            "ttft_ms_median": round(statistics.median(r["ttft_s"] for r in runs) * 1000, 2),
            "tokens_per_s_median": round(statistics.median(r["tokens_per_s"] for r in runs), 1),
            "tokens_median": statistics.median(r["tokens"] for r in runs),
        }

    def added(kind: str) -> dict[str, float]:
        edge, direct = summary[f"edge_{kind}"], summary[f"direct_{kind}"]
        return {"ttft_ms": round(edge["ttft_ms_median"] - direct["ttft_ms_median"], 2),
                "tokens_per_s_ratio": round(edge["tokens_per_s_median"] / direct["tokens_per_s_median"], 3)}

    return {
        "benchmark": "llm",
        "engine": "ollama",
        "model": args.model,
        "runs": args.runs,
        "max_tokens": args.max_tokens,
        **summary,
        "edge_adds": {"kept_connection": added("kept"), "fresh_connection": added("fresh")},
        "client_handshake_ms": round(summary["edge_fresh"]["ttft_ms_median"]
                                     - summary["edge_kept"]["ttft_ms_median"], 2),
        "goal": {"ttft_ms_added_kept_max": 2.0,
                 "met": added("kept")["ttft_ms"] <= 2.0},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--direct", default="127.0.0.1:11434", help="engine host:port")
    parser.add_argument("--edge-host", default="api.lab.hearth.test", help="Caddy site name")
    parser.add_argument("--edge-address", default="127.0.0.1", help="address Caddy listens on")
    parser.add_argument("--key", required=True, help="an API key from caddy_api_keys")
    parser.add_argument("--ca", default="", help="CA bundle that signs Caddy's certificate")
    parser.add_argument("--model", default="hearth-tiny")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--container", default="", help="run inside this container, write bench/results/llm.json")
    args = parser.parse_args(argv)
    if args.container:
        subprocess.run(["docker", "cp", __file__, f"{args.container}:/var/tmp/hearth-bench-llm.py"], check=True)
        forwarded = [a for a in (argv if argv is not None else sys.argv[1:])]
        index = forwarded.index("--container")
        del forwarded[index:index + 2]
        out = subprocess.run(
            ["docker", "exec", args.container, "python3", "/var/tmp/hearth-bench-llm.py", *forwarded],
            check=True, capture_output=True, text=True,
        ).stdout
        result = json.loads(out)
        result["host"] = args.container
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        return 0
    print(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
