#!/usr/bin/env python3
"""What Caddy costs in front of MinIO: S3 throughput and per-request latency, direct vs proxied.

Runs where every endpoint is reachable (inside a lab or test host converged with the minio and
caddy roles; traffic stays on the host):

    python3 bench/storage.py --direct http://127.0.0.1:9000 --proxied https://s3.lab.hearth.test \\
        --ca /usr/local/share/ca-certificates/hearth-lab-ca.crt --access-key ... --secret-key ... \\
        --variants /usr/bin/caddy --out /tmp/storage.json

Throughput: median seconds of PUT and GET (boto3 put_object / get_object, one kept-alive
connection pool per endpoint, as applications use it) for 1 MiB and 64 MiB objects, as MiB/s,
and each endpoint over direct as a ratio (1.0 = free). The endpoints take turns in every round,
so all of them see the same machine state.

`--variants CADDY` also starts bench-only Caddy processes from that binary on loopback ports,
plain HTTP, each proxying to the direct endpoint with one reverse_proxy setting changed. Their
ratios show what the proxy hop costs by itself (and which setting matters); the difference to
the TLS site is what TLS costs the client and Caddy. Latency: median of N small GETs
(/minio/health/live) over one kept-alive connection per endpoint.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import ssl
import statistics
import sys
import time
import urllib.parse
from typing import Any, Callable

MIB = 1024 * 1024
SIZES = {"1MiB": (1 * MIB, 21), "64MiB": (64 * MIB, 6)}


def median_seconds(run: Callable[[], None], repeats: int) -> float:
    """Median wall time of `repeats` calls, after one warm-up call."""
    run()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def s3_client(endpoint: str, ca: str | None, key: str, secret: str) -> Any:
    import boto3  # imported here so --help works without it
    from botocore.client import Config

    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
        region_name="us-east-1", verify=ca or True,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, max_pool_connections=4),
    )


def throughput(clients: dict[str, Any], bucket: str, size: int, repeats: int) -> dict[str, dict[str, float]]:
    """PUT and GET MiB/s per endpoint for one object size: medians of `repeats` interleaved rounds."""
    body = os.urandom(size)
    samples: dict[str, dict[str, list[float]]] = {name: {"put": [], "get": []} for name in clients}

    def timed(name: str, client: Any, key: str) -> None:
        start = time.perf_counter()
        client.put_object(Bucket=bucket, Key=key, Body=body)
        middle = time.perf_counter()
        data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        end = time.perf_counter()
        if len(data) != size:
            raise RuntimeError(f"{name}: short read: {len(data)} of {size} bytes")
        samples[name]["put"].append(middle - start)
        samples[name]["get"].append(end - middle)

    for round_ in range(repeats + 1):  # round 0 warms every connection and is not counted
        for name, client in clients.items():
            timed(name, client, f"bench/{name}-{size}")
        if round_ == 0:
            for runs in samples.values():
                runs["put"].clear()
                runs["get"].clear()
    for name, client in clients.items():
        client.delete_object(Bucket=bucket, Key=f"bench/{name}-{size}")
    mib = size / MIB
    results = {}
    for name, runs in samples.items():
        put_s, get_s = statistics.median(runs["put"]), statistics.median(runs["get"])
        results[name] = {"put_mib_s": round(mib / put_s, 1), "get_mib_s": round(mib / get_s, 1),
                         "put_median_s": round(put_s, 4), "get_median_s": round(get_s, 4)}
    return results


# Bench-only Caddy processes on loopback, one reverse_proxy setting changed each; the `tls_`
# one adds TLS (Caddy's internal CA) to the first, so TLS's cost is measured apart from the
# platform site's other settings.
VARIANTS = {
    "caddy_http_flush": "flush_interval -1",  # what Hearth renders for streaming routes
    "caddy_http_default": "",  # Caddy's defaults
    "caddy_http_flush_buffers": "flush_interval -1\n\t\ttransport http {\n\t\t\tread_buffer 64KiB\n"
                                "\t\t\twrite_buffer 64KiB\n\t\t}",
    "caddy_tls_flush": "flush_interval -1",
}


def variant_config(port: int, upstream: str, directives: str, tls: bool = False) -> str:
    """A Caddyfile with one site on 127.0.0.1:`port` proxying to `upstream` (plain HTTP or TLS)."""
    site = f"https://127.0.0.1:{port} {{\n\ttls internal\n" if tls else f"http://127.0.0.1:{port} {{\n"
    # No redirect listener on :80 (the platform's Caddy holds it); certificates from the internal CA.
    return ("{\n\tadmin off\n\tpersist_config off\n\tskip_install_trust\n\tauto_https disable_redirects\n}\n"
            f"{site}\treverse_proxy {upstream} {{\n\t\t{directives}\n\t}}\n}}\n")


def start_variants(caddy: str, upstream: str, workdir: str) -> tuple[dict[str, tuple[str, str | None]], list[Any]]:
    """Start one Caddy per variant; their (endpoint, CA file) and processes."""
    import subprocess

    endpoints: dict[str, tuple[str, str | None]] = {}
    processes = []
    root = os.path.join(workdir, "caddy", "pki", "authorities", "local", "root.crt")
    for index, (name, directives) in enumerate(VARIANTS.items()):
        port, tls = 18090 + index, name.startswith("caddy_tls")
        path = os.path.join(workdir, f"{name}.Caddyfile")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(variant_config(port, upstream, directives, tls))
        env = {**os.environ, "XDG_DATA_HOME": workdir, "XDG_CONFIG_HOME": workdir}
        processes.append(subprocess.Popen([caddy, "run", "--adapter", "caddyfile", "--config", path], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        endpoints[name] = (f"{'https' if tls else 'http'}://127.0.0.1:{port}", root if tls else None)
    deadline = time.monotonic() + 20
    for name, (endpoint, ca) in endpoints.items():
        while True:
            try:
                request_latency(endpoint, ca, 1)
                break
            except (OSError, RuntimeError):
                if time.monotonic() > deadline:
                    for process in processes:
                        process.terminate()
                    raise RuntimeError(f"bench Caddy {name} did not answer on {endpoint} "
                                       f"(its configuration: {workdir}/{name}.Caddyfile)") from None
                time.sleep(0.2)
    return endpoints, processes


def request_latency(endpoint: str, ca: str | None, requests: int) -> float:
    """Median milliseconds of a small GET over one kept-alive connection."""
    url = urllib.parse.urlsplit(endpoint)
    if url.scheme == "https":
        context = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(url.hostname or "", url.port or 443,
                                                                       context=context, timeout=10)
    else:
        conn = http.client.HTTPConnection(url.hostname or "", url.port or 80, timeout=10)

    def one() -> None:
        conn.request("GET", "/minio/health/live")
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{endpoint}: HTTP {response.status}")

    try:
        return median_seconds(one, requests) * 1000
    finally:
        conn.close()


def ratio(proxied: float, direct: float) -> float:
    """proxied/direct, rounded; 1.0 means the proxy costs nothing."""
    return round(proxied / direct, 3) if direct else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--direct", required=True, help="MinIO S3 endpoint, e.g. http://127.0.0.1:9000")
    parser.add_argument("--proxied", required=True, help="the same through Caddy, e.g. https://s3.lab.hearth.test")
    parser.add_argument("--ca", help="CA file for the proxied endpoint (the lab CA)")
    parser.add_argument("--access-key", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--bucket", default="bench")
    parser.add_argument("--variants", metavar="CADDY", help="also measure bench-only plain-HTTP Caddy variants")
    parser.add_argument("--requests", type=int, default=300, help="small requests per endpoint for latency")
    parser.add_argument("--out", required=True, help="JSON file to write")
    args = parser.parse_args(argv)

    endpoints = {"direct": (args.direct, None), "via_caddy": (args.proxied, args.ca)}
    processes: list[Any] = []
    if args.variants:
        import tempfile

        workdir = tempfile.mkdtemp(prefix="hearth-bench-caddy-")
        upstream = urllib.parse.urlsplit(args.direct).netloc
        started, processes = start_variants(args.variants, upstream, workdir)
        endpoints.update(started)
    try:
        clients = {name: s3_client(url, ca, args.access_key, args.secret_key) for name, (url, ca) in endpoints.items()}
        try:
            clients["direct"].head_bucket(Bucket=args.bucket)
        except Exception:  # noqa: BLE001 - any failure means "create it"
            clients["direct"].create_bucket(Bucket=args.bucket)

        results: dict[str, Any] = {"throughput": {}, "latency_ms": {"requests": args.requests}}
        for label, (size, repeats) in SIZES.items():
            measured = throughput(clients, args.bucket, size, repeats)
            direct = measured["direct"]
            results["throughput"][label] = {
                "repeats": repeats, **measured,
                "ratios": {name: {"put": ratio(m["put_mib_s"], direct["put_mib_s"]),
                                  "get": ratio(m["get_mib_s"], direct["get_mib_s"])}
                           for name, m in measured.items() if name != "direct"},
            }
        for name, (url, ca) in endpoints.items():
            results["latency_ms"][f"{name}_median"] = round(request_latency(url, ca, args.requests), 3)
        results["latency_ms"]["added_per_hop"] = round(
            results["latency_ms"]["via_caddy_median"] - results["latency_ms"]["direct_median"], 3)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
    import boto3

    results["environment"] = {
        "python": platform.python_version(), "boto3": boto3.__version__, "cpus": os.cpu_count(),
        "endpoints": {name: url for name, (url, _) in endpoints.items()},
        "variants": VARIANTS if args.variants else {},
        "note": "same host; via_caddy is the platform's TLS site (HTTP/1.1 keep-alive, one Caddy hop); "
                "caddy_http_* are bench-only plain-HTTP Caddy processes, the hop without TLS",
    }
    with open(args.out, "w", encoding="utf-8") as stream:
        json.dump(results, stream, indent=2)
        stream.write("\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
